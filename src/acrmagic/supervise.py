"""Running a run's work while the calling thread stays responsive.

The work (a build and push, a task's steps) runs in a worker thread. The calling thread loops until it
is done: it delivers queued progress to the view (so output lands in the cell that started the run),
checks for `acrmagic cancel` requests, a Cancel click in the view and the run's deadline, and turns
Ctrl-C or a kernel interrupt into a stop. It waits with an Event, not Thread.join: an interrupted join
can leave a thread looking finished while it still runs.

In a Jupyter kernel the cells of `%%acrbuild` and `%%acrtask` run as `await` (see `magics.py`), and the
loop waits with `asyncio.sleep`: while a cell awaits, ipykernel (7.x) dispatches widget messages, so the
view's Cancel button is handled while the cell is still executing. Elsewhere the loop blocks.
"""

from __future__ import annotations

import itertools
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable

from .states import STOP_CANCEL, STOP_INTERRUPT, STOP_TIMEOUT

INTERVAL = 0.1  # seconds between polls: progress reaches the view at most this late


def cancel_check(store, run_id: str, deadline: float, observer) -> Callable[[], str | None]:
    """For `supervise`: the run's deadline, a Cancel click in the view, `acrmagic cancel` (the store)."""
    polls = itertools.count()

    def check() -> str | None:
        if time.monotonic() > deadline:
            return STOP_TIMEOUT
        if observer.cancel_requested:
            return STOP_CANCEL
        if next(polls) % 5 == 0 and store.cancel_requested(run_id):  # the store: every half second
            return STOP_CANCEL
        return None
    return check


class _Supervision:
    def __init__(self, work, stop, check, pump):
        self.work, self._stop, self.check, self.pump = work, stop, check, pump
        self.outcome: dict = {}
        self.finished = threading.Event()
        self.stopped: set[str] = set()
        threading.Thread(target=self._target, name="acrmagic-run", daemon=True).start()

    def _target(self):
        try:
            self.outcome["result"] = self.work()
        except BaseException as e:  # handed back to the calling thread
            self.outcome["error"] = e
        finally:
            self.finished.set()

    def stop(self, reason: str) -> None:
        if reason not in self.stopped:  # once per reason
            self.stopped.add(reason)
            self._stop(reason)

    def tick(self) -> None:
        self.pump()
        reason = self.check()
        if reason:
            self.stop(reason)

    def result(self):
        self.pump()
        if "error" in self.outcome:
            raise self.outcome["error"]
        return self.outcome["result"]


def supervise(work, *, stop, check, pump):
    """Run `work()` in a worker; meanwhile poll. `check()` returns a stop reason ("timeout", "canceled")
    or None; `stop(reason)` is called once per reason, with "interrupt" on Ctrl-C."""
    s = _Supervision(work, stop, check, pump)
    while not s.finished.is_set():
        try:
            s.finished.wait(INTERVAL)
            s.tick()
        except KeyboardInterrupt:
            s.stop(STOP_INTERRUPT)
    return s.result()


async def supervise_async(work, *, stop, check, pump):
    """The same, awaiting between polls (a kernel interrupt cancels the awaiting cell: that is a stop too)."""
    import asyncio  # here, not at the top: a command-line build does not pay for importing it

    s = _Supervision(work, stop, check, pump)
    while not s.finished.is_set():
        try:
            await asyncio.sleep(INTERVAL)
            s.tick()
        except (asyncio.CancelledError, KeyboardInterrupt):
            s.stop(STOP_INTERRUPT)
    return s.result()


@dataclass
class Execution:
    """A run that has begun (recorded, its view shown): its work, how to stop it, how to record its end."""

    work: Callable[[], Any]
    stop: Callable[[str], None]
    check: Callable[[], str | None]
    pump: Callable[[], None]
    conclude: Callable[[Any], Any]  # records the outcome, raises a RunError unless it succeeded
    crash: Callable[[BaseException], None]  # records an unexpected failure

    def run(self):
        try:
            outcome = supervise(self.work, stop=self.stop, check=self.check, pump=self.pump)
        except Exception as e:
            self.crash(e)
            raise
        return self.conclude(outcome)

    async def run_async(self):
        try:
            outcome = await supervise_async(self.work, stop=self.stop, check=self.check, pump=self.pump)
        except Exception as e:
            self.crash(e)
            raise
        return self.conclude(outcome)
