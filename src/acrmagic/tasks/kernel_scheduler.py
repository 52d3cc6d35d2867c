"""The scheduler inside a kernel (`%acr scheduler start|stop|status`, `tasks.scheduler_start()`): one
scheduler thread in this process, its log lines kept for `status`."""

from __future__ import annotations

import threading

from ..errors import UsageError
from ..runs.model import now as now_iso
from .scheduler import DEFAULT_POLL_INTERVAL, STOP_GRACE, Scheduler


class BackgroundScheduler:
    """One scheduler thread in this process."""

    def __init__(self):
        self.scheduler: Scheduler | None = None
        self.thread: threading.Thread | None = None
        self.stop_event = threading.Event()
        self.lines: list[str] = []

    def start(self, poll_interval: float = DEFAULT_POLL_INTERVAL, **kwargs) -> str:
        if self.running:
            return self.status()
        self.lines = []
        self.scheduler = Scheduler(poll_interval=poll_interval, log=self._log, **kwargs)
        if not self.scheduler.lock.acquire():
            holder = self.scheduler.lock.holder()
            self.scheduler = None
            raise UsageError(f"scheduler: another scheduler (pid {holder or '?'}) is active on this store; stop it "
                             "first")
        self.stop_event = threading.Event()
        self.thread = threading.Thread(target=self.scheduler.serve, args=(self.stop_event,), daemon=True,
                                       name="acrmagic-scheduler")
        self.thread.start()
        return f"scheduler started (polling every {poll_interval:g}s)"

    def _log(self, line: str) -> None:
        self.lines = (self.lines + [f"{now_iso()[:19]} {line}"])[-200:]

    @property
    def running(self) -> bool:
        return self.thread is not None and self.thread.is_alive()

    def stop(self, grace: float = STOP_GRACE) -> str:
        if not self.running:
            return "scheduler: not running"
        self.stop_event.set()
        self.scheduler.wake()
        self.thread.join(grace + 35)
        return "scheduler stopped"

    def status(self) -> str:
        if not self.running:
            return "scheduler: not running"
        active = self.scheduler.active
        runs = ", ".join(f"{t} ({r or 'starting'})" for t, r in sorted(active.items())) or "none"
        return f"scheduler: running, polling every {self.scheduler.poll_interval:g}s; active runs: {runs}"


background = BackgroundScheduler()
