"""The log follower's pacing: short first polls, then az's back-off, with no more polls a minute than az."""

from __future__ import annotations

from acrmagic.targets.acr.logblob import LogFollower, Pacing


class SilentBlob:
    """A blob that exists and never grows, until `complete_after` property reads (then Complete)."""

    def __init__(self, complete_after: int, data: bytes = b""):
        self.complete_after, self.data, self.reads = complete_after, data, 0

    def exists(self):
        return True

    def get_blob_properties(self):
        self.reads += 1
        meta = {"Complete": "Succeeded"} if self.reads > self.complete_after else {}
        return type("P", (), {"size": len(self.data), "metadata": meta})()

    def download_blob(self, offset, length, max_concurrency=1):
        part = self.data[offset:offset + length]
        return type("D", (), {"readall": lambda s: part})()


class RecordingWake:
    def __init__(self):
        self.delays = []

    def wait(self, delay):
        self.delays.append(delay)
        return False

    def clear(self):
        pass


def _delays(pacing: Pacing, polls: int) -> list[float]:
    wake = RecordingWake()
    LogFollower(SilentBlob(polls), status=lambda: "Running", wake=wake, pacing=pacing).follow(lambda t: None)
    return wake.delays


def _polls_in(delays: list[float], seconds: float) -> int:
    elapsed, count = 0.0, 1  # the first poll is at once
    for d in delays:
        elapsed += d
        if elapsed > seconds:
            break
        count += 1
    return count


def test_a_follow_starts_with_short_polls_then_backs_off_as_az_sooner():
    delays = _delays(Pacing(jitter=lambda: 0.5, status_every=1e9), 12)
    # the ladder (its third idle poll already doubles az's base), then az's intervals, doubled every third
    assert delays == [0.1, 0.2, 0.3, 0.4, 0.5, 4.5, 4.5, 4.5, 8.5, 8.5, 8.5, 15.5]


def test_a_small_build_is_seen_complete_within_the_first_second():
    delays = _delays(Pacing(jitter=lambda: 0.5, status_every=1e9), 3)  # Complete on the fourth read
    assert len(delays) == 3 and sum(delays) < 0.61


def test_no_more_polls_than_az_but_one_in_any_minute_and_the_same_on_a_long_run():
    for jitter in (0.0, 0.25, 0.5, 0.75, 1.0):
        ours = _delays(Pacing(jitter=lambda: jitter, status_every=1e9), 80)
        az = _delays(Pacing(jitter=lambda: jitter, status_every=1e9, quick=()), 80)
        for window in (60, 120, 300, 600, 1200):
            assert _polls_in(ours, window) <= _polls_in(az, window) + 1
        assert ours[-20:] == az[-20:] == [15 + jitter] * 20  # a long run: az's ceiling, poll for poll
