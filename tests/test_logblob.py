"""The log follower: whole lines across cut reads, the end of a run, and its pacing (short polls while
a follow is young, then az's back-off, with no more polls a minute than az on a long run)."""

from __future__ import annotations

from acrmagic.targets.acr.logblob import LogFollower, Pacing


class FakeBlob:
    """A log blob that gains `chunks` one per property read, and says Complete (under `key`) after
    `complete_after` reads; with `missing_first`, it does not exist at the first look."""

    def __init__(self, chunks: list[bytes], complete_after: int, key: str = "Complete", missing_first: bool = True):
        self.chunks, self.complete_after, self.key = chunks, complete_after, key
        self.data, self.polls, self.missing_first = b"", 0, missing_first

    def exists(self):
        return not self.missing_first or self.polls >= 1 or self._tick()

    def _tick(self):
        self.polls += 1
        return False

    def get_blob_properties(self):
        self.polls += 1
        if self.chunks:
            self.data += self.chunks.pop(0)
        meta = {self.key: "Succeeded"} if self.polls > self.complete_after else {}
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
    LogFollower(FakeBlob([], polls, missing_first=False), status=lambda: "Running", wake=wake, pacing=pacing).follow(lambda t: None)
    return wake.delays


def _polls_in(delays: list[float], seconds: float) -> int:
    elapsed, count = 0.0, 1  # the first poll is at once
    for d in delays:
        elapsed += d
        if elapsed > seconds:
            break
        count += 1
    return count


def test_a_follow_starts_with_short_polls_then_backs_off_as_az():
    pacing = Pacing(jitter=lambda: 0.5, status_every=1e9)
    delays = _delays(pacing, 40)
    ladder = list(pacing.quick)
    assert delays[:len(ladder)] == ladder == [0.1, 0.1, 0.2, 0.2, 0.3, 0.3, 0.4, 0.5]
    young = len(ladder) + 8  # 2.1 s of the ladder, then its last step until 6 s were waited
    assert delays[len(ladder):young] == [0.5] * 8 and sum(delays[:young]) >= pacing.young > sum(delays[:young - 1])
    # then az's schedule from its start: 1 s base doubled on every third idle poll, plus the jitter, up to 15 s
    az = _delays(Pacing(jitter=lambda: 0.5, status_every=1e9, quick=()), 40 - young)
    assert delays[young:] == az[:len(delays) - young]
    assert az[:9] == [1.5, 1.5, 2.5, 2.5, 2.5, 4.5, 4.5, 4.5, 8.5]


def test_a_small_build_is_seen_complete_within_half_a_second():
    delays = _delays(Pacing(jitter=lambda: 0.5, status_every=1e9), 3)  # Complete on the fourth read
    assert len(delays) == 3 and sum(delays) < 0.41


def test_news_restarts_the_ladder_while_young_and_az_s_base_after():
    # news at the 4th and the 20th property read; the blob completes at the 30th
    chunks = [b""] * 3 + [b"a\r\n"] + [b""] * 15 + [b"b\r\n"] + [b""] * 20
    wake = RecordingWake()
    LogFollower(FakeBlob(chunks, 30, missing_first=False), status=lambda: "Running", wake=wake,
                pacing=Pacing(jitter=lambda: 0.5, status_every=1e9)).follow(lambda t: None)
    assert wake.delays[:3] == [0.1, 0.1, 0.2]  # news on the 4th read: no wait, then the ladder again
    assert wake.delays[3:6] == [0.1, 0.1, 0.2]
    # news at the 20th read, once the follow is past its young phase: az's base again (1 s + jitter)
    assert sum(wake.delays[:18]) >= 6 and wake.delays[18] == 1.5


def test_the_same_polls_a_minute_as_az_on_a_long_run():
    for jitter in (0.0, 0.25, 0.5, 0.75, 1.0):
        ours = _delays(Pacing(jitter=lambda: jitter, status_every=1e9), 80)
        az = _delays(Pacing(jitter=lambda: jitter, status_every=1e9, quick=()), 80)
        # the young phase adds its polls once (16 here: no news); az's schedule after it, shifted by 6 s at most
        for window in (60, 120, 300, 600, 1200):
            assert _polls_in(ours, window) <= _polls_in(az, window) + 16
        assert ours[-20:] == az[-20:] == [15 + jitter] * 20  # a long run: az's ceiling, poll for poll
        # any minute of a long run (past the first two): no more polls than az makes in it
        for start in range(120, 900, 30):
            assert _polls_in(ours, start + 60) - _polls_in(ours, start) <= \
                max(_polls_in(az, s + 60) - _polls_in(az, s) for s in range(start - 10, start + 11)) + 1


def test_the_follower_reads_whole_lines_and_backs_off_as_az():
    blob = FakeBlob([b"one\r\ntw", b"", b"", b"", b"o\r\nthr" + "é".encode()[:1], "é".encode()[1:] + b"e\r\n",
                     b"", b"", b"", b"", b"", b"", b"", b"tail"], complete_after=15, key="COMPLETE")
    wake = RecordingWake()
    follower = LogFollower(blob, status=lambda: "Running", wake=wake,
                           pacing=Pacing(base=1, cap=4, jitter=lambda: 0.5, status_every=1e9, quick=()))
    texts = []
    result = follower.follow(texts.append)
    assert "".join(texts) == "one\r\ntwo\r\nthrée\r\ntail"
    assert all(t.endswith("\r\n") for t in texts[:-1])
    assert result.complete == "Succeeded"
    # base 1 s, doubled on every third idle poll in a row (new data resets it), capped, plus the jitter:
    # the blob missing once; then data; then three idle polls
    assert wake.delays[:4] == [1.5, 1.5, 1.5, 2.5]
    assert max(wake.delays) <= 4.5


def test_the_follower_ends_when_arm_says_the_run_ended_without_complete():
    blob = FakeBlob([b"line\r\n"], complete_after=10 ** 9)
    result = LogFollower(blob, status=lambda: "Failed", wake=RecordingWake(),
                         pacing=Pacing(base=0.001, cap=0.001, jitter=lambda: 0, status_every=0, end_grace=0.05)
                         ).follow(lambda t: None)
    assert result.complete is None and result.status == "Failed"
