"""Recording a run as it goes: every event redacted, written to the log file, handed to an observer
(the view), and folded into the run's step records; status transitions saved to the store."""

from __future__ import annotations

import re
import threading
from dataclasses import replace
from pathlib import Path

from typing import Protocol

from ..events import Event, LogEvent, StepEvent, StepRecord
from ..redact import Redactor
from ..states import (CANCELED, ERROR, FAILED, RUNNING, STEP_CACHED, STEP_CANCELED, STEP_FAILED, STEP_QUEUED,
                      STEP_RUNNING, STEP_SKIPPED, TIMEOUT)
from . import model
from .store import RunStore


class RunObserver(Protocol):
    """Who watches a run as it is recorded (a view, plain lines, nothing): called on the thread that
    started the run. `cancel_requested` is how a view's Cancel button asks (False where there is none)."""

    cancel_requested: bool

    def start(self, run: model.Run) -> None: ...

    def event(self, ev: Event, line: str) -> None: ...

    def finish(self, run: model.Run) -> None: ...


class RunRecorder:
    """Thread-safe: parallel task steps report through one recorder.

    A run with known steps (a task) also writes each step's lines to `<logs>/<run id>/<step>.log`."""

    def __init__(self, store: RunStore, run: model.Run, redact: Redactor, observer: RunObserver):
        self.store, self.run, self.redact, self.observer = store, run, redact, observer
        self.log = open(run.log_path, "a", encoding="utf-8", buffering=1)
        self.steps: dict[int, StepRecord] = {s.number: s for s in run.steps}
        self.step_lines: dict[int, list[str]] = {}
        self.lock = threading.RLock()
        self.step_dir = Path(run.log_path).with_suffix("") if run.steps else None
        self.step_files: dict[str, object] = {}
        self.pending: list[tuple[Event, str]] = []  # for the view, delivered by the calling thread (pump)

    def started(self) -> None:
        self.run.status, self.run.start_time = RUNNING, model.now()
        self.store.save(self.run)
        self.observer.start(self.run)

    def emit(self, ev: Event) -> None:
        with self.lock:
            self._emit(ev)

    def _emit(self, ev: Event) -> None:
        if isinstance(ev, LogEvent):
            ev = replace(ev, text=self.redact(ev.text))
            if ev.step is not None:
                lines = self.step_lines.setdefault(ev.number, [])
                lines.append(ev.text)
                del lines[:-50]  # only a tail is kept in memory; the full log is on disk
        else:
            ev = replace(ev, step=self.redact(ev.step), error=ev.error and self.redact(ev.error))
            self._fold(ev)
        logged = isinstance(ev, LogEvent) or ev.logged
        line = ev.line() if logged else ""  # a state the log says in its own words: the view gets the event only
        if logged:
            self.log.write(line + "\n")
            if self.step_dir is not None and ev.step is not None:
                self._step_file(ev.step).write((ev.text if isinstance(ev, LogEvent) else line) + "\n")
        self.pending.append((ev, line))
        if threading.current_thread() is threading.main_thread():
            self._pump()

    def pump(self) -> None:
        """Hand queued events to the view. Called by the thread that started the run (in a notebook,
        the kernel's main thread), so output lands in the cell that is running."""
        with self.lock:
            self._pump()

    def _pump(self) -> None:
        pending, self.pending = self.pending, []
        for ev, line in pending:
            self.observer.event(ev, line)

    def _step_file(self, step: str):
        f = self.step_files.get(step)
        if f is None:
            self.step_dir.mkdir(exist_ok=True)
            name = re.sub(r"[^A-Za-z0-9_.-]", "_", step)
            f = self.step_files[step] = open(self.step_dir / f"{name}.log", "a", encoding="utf-8", buffering=1)
        return f

    def note(self, text: str) -> None:
        """A run-level log line (not from a step)."""
        self.emit(LogEvent(text))

    def _fold(self, ev: StepEvent) -> None:
        rec = self.steps.get(ev.number)
        if rec is None:
            rec = self.steps[ev.number] = StepRecord(ev.step, ev.number)
            self.run.steps.append(rec)
        rec.status = ev.state
        rec.cached = rec.cached or ev.state == STEP_CACHED
        rec.extra.update(ev.extra)
        if ev.duration is not None:
            rec.duration = ev.duration
        rec.error, rec.exit_code = ev.error or rec.error, ev.exit_code if ev.exit_code is not None else rec.exit_code

    def tail(self, number: int, n: int = 10) -> list[str]:
        return self.step_lines.get(number, [])[-n:]

    def crash(self, e: BaseException) -> model.Run:
        """An unexpected failure: still recorded (Error), so nothing is lost; the caller re-raises."""
        return self.finish(ERROR, f"internal error: {type(e).__name__}: {e}")

    def finish(self, status: str, error: str | None = None) -> model.Run:
        with self.lock:
            return self._finish(status, error)

    def _finish(self, status: str, error: str | None) -> model.Run:
        self._pump()
        run = self.run
        run.status, run.finish_time = status, model.now()
        run.error = self.redact(error) if error else None
        for rec in run.steps:  # what never finished is canceled (it ran) or skipped (it never started)
            if rec.status == STEP_RUNNING or (rec.status == STEP_FAILED and status in (CANCELED, TIMEOUT)):
                # a step cut short by a cancel or timeout reports an error ("context canceled"): it was canceled
                rec.status = STEP_FAILED if status == FAILED else STEP_CANCELED
            elif rec.status == STEP_QUEUED:
                rec.status = STEP_SKIPPED
        self.log.write(run.summary() + "\n")
        self.log.close()
        for f in self.step_files.values():
            f.close()
        self.store.save(run)
        self.observer.finish(run)
        return run
