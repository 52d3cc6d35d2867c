"""Following a run's log blob as `az acr` does (acr-cloud-api.md §3), plus what the CLI lacks.

As the CLI: `exists()` (HEAD, 404 until an agent starts the run) -> `get_blob_properties()` (size,
metadata) -> ranged reads of up to 4096 bytes; only bytes up to the last CRLF are decoded (UTF-8,
errors ignored) and handed on, the rest waits; done once the metadata holds `Complete` (any case)
and every byte is read. When nothing new came: sleep base + jitter, base 1 s doubling after every 3
idle polls up to 15 s, jitter uniform(0, 1).

Faster than the CLI at the start: a small build is over in a second or two, and az's back-off (1-2 s,
then 2-3 s, ...) was most of its wait. While a follow is young (until it has waited `young` seconds between polls) an idle
poll waits a short ladder instead (0.1, 0.1, 0.2, 0.2, 0.3, 0.3, 0.4, 0.5 s), counted from the last
news, so the end of a short run, which comes right after its last lines, is seen within a few tenths
of a second. Past that, az's own schedule takes over, counted afresh, so a long run polls as az does:
the same intervals up to az's 15 s ceiling, the same requests a minute (the young phase adds a dozen
polls once, at the start: at most `young / 0.1` when news comes at every poll). A follow of a run just scheduled reads the ARM status
first after `status_every`, not at once (the run cannot have ended yet).

Beyond the CLI: the run's ARM status is polled every few seconds, so a run that ends without writing
`Complete` (or never starts) ends the follow instead of hanging; an idle cutoff (no new bytes for N
seconds) ends it too; and a `wake` event cuts a sleep short (a stop request). Every interval is a
field of `Pacing`, so tests run in milliseconds.
"""

from __future__ import annotations

import random
import threading
import time
from dataclasses import dataclass, field
from typing import Callable

from ...acrspec import DEFAULT_TIMEOUT
from ...states import TERMINAL

CHUNK = 4096
CRLF = b"\r\n"


@dataclass
class Pacing:
    base: float = 1.0  # first back-off, seconds
    quick: tuple[float, ...] = (0.1, 0.1, 0.2, 0.2, 0.3, 0.3, 0.4, 0.5)  # idle polls since news, while young (no jitter)
    young: float = 6.0  # seconds of waiting from the start of a follow during which `quick` applies
    cap: float = 15.0  # back-off ceiling
    double_after: int = 3  # idle polls before the back-off doubles
    jitter: Callable[[], float] = field(default=lambda: random.uniform(0, 1))
    status_every: float = 5.0  # seconds between ARM status polls
    idle_cutoff: float | None = None  # no new bytes for this long ends the follow (None: the run's timeout or ACR's default)
    end_grace: float = 10.0  # after ARM says the run ended: how long the blob gets to complete
    cancel_grace: float = 30.0  # after a cancel: how long the run gets to end


@dataclass
class Followed:
    """How a follow ended."""

    complete: str | None = None  # the blob's Complete metadata value, once seen
    status: str | None = None  # the last ARM status seen
    idle: float | None = None  # set when the idle cutoff ended it: the seconds without news
    stopped: bool = False  # `should_stop()` ended it
    bytes_read: int = 0


class LogFollower:
    """Follow one log blob. `blob` is an azure.storage.blob BlobClient (or anything with its
    exists / get_blob_properties / download_blob); `status()` returns the run's ARM status."""

    def __init__(self, blob, status: Callable[[], str | None], pacing: Pacing | None = None,
                 wake: threading.Event | None = None, idle_cutoff: float = DEFAULT_TIMEOUT, fresh: bool = False):
        self.blob, self.status = blob, status
        self.fresh = fresh  # a run just scheduled: its first ARM status read waits `status_every`
        self.pacing = pacing or Pacing()
        self.wake = wake or threading.Event()
        self.idle_cutoff = self.pacing.idle_cutoff if self.pacing.idle_cutoff is not None else idle_cutoff
        self.offset = 0
        self._pending = b""

    def follow(self, on_text: Callable[[str], None], should_stop: Callable[[], bool] = lambda: False,
               status_deadline: Callable[[], float | None] = lambda: None) -> Followed:
        """Read until the blob completes, the run ends without it, the idle cutoff, or `should_stop()`.

        `status_deadline()` (monotonic seconds or None) lets the caller bound the follow after a
        cancel: past it, the follow ends as `stopped`."""
        p = self.pacing
        result = Followed()
        exists = False
        base, idle_polls, quick_polls, waited = p.base, 0, 0, 0.0
        last_news = time.monotonic()
        young = bool(p.quick) and p.young > 0
        # one status read at once (a run that ended long ago), unless the run was just scheduled
        last_status = last_news - (0 if self.fresh else p.status_every)
        ended_at: float | None = None
        while True:
            got = False
            if not exists:
                exists = self.blob.exists()
            if exists:
                props = self.blob.get_blob_properties()
                got = self._read(props.size, on_text)
                meta = props.metadata or {}
                complete = next((v for k, v in meta.items() if k.lower() == "complete"), None)
                if complete is not None and self.offset >= props.size:
                    self._flush(on_text)
                    result.complete = complete
                    break
            now = time.monotonic()
            if got:
                base, idle_polls, quick_polls, last_news = p.base, 0, 0, now
            if young and waited >= p.young:  # az's schedule from here, counted afresh
                young, base, idle_polls = False, p.base, 0
            if now - last_status >= p.status_every or ended_at is not None:
                last_status = now
                result.status = self.status()
                if result.status in TERMINAL and ended_at is None:
                    ended_at = now
            if ended_at is not None and now - ended_at >= p.end_grace:
                self._flush(on_text)  # ARM says it ended; the blob never completed
                break
            deadline = status_deadline()
            if deadline is not None and now >= deadline:
                self._flush(on_text)
                result.stopped = True
                break
            if should_stop():
                self._flush(on_text)
                result.stopped = True
                break
            if now - last_news >= self.idle_cutoff:
                self._flush(on_text)
                result.idle = now - last_news
                break
            if not got:
                if young:  # the start of a follow: the ladder, from the last news
                    delay = p.quick[min(quick_polls, len(p.quick) - 1)]
                    quick_polls += 1
                else:
                    idle_polls += 1
                    if idle_polls % p.double_after == 0:
                        base = min(base * 2, p.cap)
                    delay = base + p.jitter()
                if ended_at is not None:
                    delay = min(delay, max(p.end_grace / 5, 0.01))
                if deadline is not None:
                    delay = min(delay, max(deadline - now, 0.0))
                delay = min(delay, max(self.idle_cutoff - (now - last_news), 0.0) + 0.001)
                waited += delay
                if self.wake.wait(delay):
                    self.wake.clear()
        result.bytes_read = self.offset
        return result

    def _read(self, size: int, on_text: Callable[[str], None]) -> bool:
        got = False
        while self.offset < size:
            length = min(CHUNK, size - self.offset)
            data = self.blob.download_blob(offset=self.offset, length=length, max_concurrency=1).readall()
            if not data:
                break
            got = True
            self.offset += len(data)
            self._pending += data
            cut = self._pending.rfind(CRLF)
            if cut >= 0:
                text, self._pending = self._pending[:cut + 2], self._pending[cut + 2:]
                on_text(text.decode("utf-8", "ignore"))
        return got

    def _flush(self, on_text: Callable[[str], None]) -> None:
        if self._pending:
            text, self._pending = self._pending, b""
            on_text(text.decode("utf-8", "ignore"))
