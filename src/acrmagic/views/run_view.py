"""The live run view: an anywidget whose state is synced traits (no JavaScript build, no network imports).

It is also the run's progress sink in a notebook: events update in-memory state, and the state goes to
the frontend at most ten times a second as one message (`hold_sync`). Each step keeps a bounded tail;
the full log stays on disk and is read when the user expands a step. At the end the same output is
updated with a static summary (text and HTML), so notebooks saved by nbconvert and shown on a code host
still say how the run ended.
"""

from __future__ import annotations

import html
import time
from collections import deque
from pathlib import Path

import anywidget
import traitlets as t

from ..events import Event, LogEvent, StepEvent
from ..failure import failing_line
from ..logformat import LogReader
from ..states import STEP_FAILED

FLUSH_INTERVAL = 0.1  # at most ~10 updates a second
STEP_TAIL = 30  # lines per step kept in widget state
RUN_TAIL = 60  # run-level lines kept in widget state
FULL_LOG_LINES = 5000  # an expanded step shows at most this many of its last lines
HERE = Path(__file__).parent


class RunView(anywidget.AnyWidget):
    _esm = HERE / "run_view.js"
    _css = HERE / "views.css"

    run_id = t.Unicode("").tag(sync=True)
    run_type = t.Unicode("").tag(sync=True)
    backend = t.Unicode("").tag(sync=True)
    trigger = t.Unicode("").tag(sync=True)
    status = t.Unicode("Queued").tag(sync=True)
    started = t.Float(0.0).tag(sync=True)  # epoch seconds; the browser ticks the elapsed time itself
    finished = t.Float(0.0).tag(sync=True)
    steps = t.List(t.Dict()).tag(sync=True)
    log_tail = t.List(t.Unicode()).tag(sync=True)
    images = t.List(t.Unicode()).tag(sync=True)
    error = t.Unicode("").tag(sync=True)
    error_line = t.Unicode("").tag(sync=True)  # the failing line, highlighted
    cancel_requested = t.Bool(False).tag(sync=True)  # the Cancel button sets it
    expanded = t.Int(-1).tag(sync=True)  # the step whose full log the user asked for
    full_log = t.List(t.Unicode()).tag(sync=True)
    live = t.Bool(True).tag(sync=True)  # False for a replayed (finished) run: no Cancel button

    def __init__(self, clock=time.monotonic, **kwargs):
        super().__init__(**kwargs)
        self.clock = clock
        self._steps: dict[int, dict] = {}
        self._tails: dict[int, deque] = {}
        self._tail: deque[str] = deque(maxlen=RUN_TAIL)
        self._levels: dict[str, int] = {}
        self._labels: dict[int, str] = {}
        self._log_path: str | None = None
        self._dirty = False
        self._last_flush = float("-inf")
        self.observe(self._load_full_log, names="expanded")

    # -- as a progress sink ------------------------------------------------------------------------------
    def start(self, run) -> None:
        with self.hold_sync():
            self.run_id, self.run_type, self.backend, self.trigger = run.run_id, run.run_type, run.backend, run.cause
            self.status, self.started, self._log_path = run.status, time.time(), run.log_path
            for rec in run.steps:  # task runs know their steps (and levels) before they start
                self._step(rec.number, rec.name, rec.extra.get("level", 0))
            self._dirty = True
            self.flush(force=True)

    def event(self, ev: Event, line: str) -> None:
        if isinstance(ev, StepEvent):
            step = self._step(ev.number, ev.step)
            step["status"] = ev.state
            if ev.duration is not None:
                step["duration"] = round(ev.duration, 2)
            if ev.exit_code is not None:
                step["exit_code"] = ev.exit_code
            if ev.error:
                step["error"] = ev.error
        elif isinstance(ev, LogEvent) and ev.step is not None:
            step = self._step(ev.number, ev.step)
            self._labels.setdefault(ev.number, ev.line()[: -len(ev.text)] if ev.text else ev.line())
            self._tails[ev.number].append(ev.text)
            step["lines"] += 1
        else:
            self._tail.append(line)
        self._dirty = True
        self.flush()

    def finish(self, run) -> None:
        with self.hold_sync():
            self._finish(run)

    def _finish(self, run) -> None:
        self.status, self.finished = run.status, time.time()
        self.images = [o.ref for o in run.output_images]
        self.error = run.error or "" if run.status != "Succeeded" else ""
        for rec in run.steps:
            step = self._step(rec.number, rec.name)
            step["status"] = rec.status
            step["exit_code"] = rec.exit_code
            if rec.duration is not None:
                step["duration"] = round(rec.duration, 2)
        failed = next((s for s in self._steps.values() if s["status"] == STEP_FAILED), None)
        if failed is not None:  # the line that says why (acrmagic.failure), unless the error quotes it already
            line = failing_line(list(self._tails.get(failed["number"], ())), fallback=failed.get("error", ""))
            self.error_line = "" if line and line in self.error else line
        self._dirty = True
        self.flush(force=True)

    def _step(self, number: int, name: str, level: int | None = None) -> dict:
        step = self._steps.get(number)
        if step is None:
            step = self._steps[number] = {"number": number, "name": name, "level": level or 0, "status": "queued",
                                          "duration": None, "exit_code": None, "error": "", "lines": 0, "tail": []}
            self._tails[number] = deque(maxlen=STEP_TAIL)
        return step

    def flush(self, force: bool = False) -> None:
        """Send the state, if it changed, at most every FLUSH_INTERVAL (always when forced)."""
        now = self.clock()
        if not self._dirty or (not force and now - self._last_flush < FLUSH_INTERVAL):
            return
        self._last_flush, self._dirty = now, False
        steps = []
        for number in sorted(self._steps):
            step = dict(self._steps[number])
            step["tail"] = list(self._tails[number])
            steps.append(step)
        with self.hold_sync():
            self.steps = steps
            self.log_tail = list(self._tail)

    # -- the full log of one step, on request --------------------------------------------------------------
    def _load_full_log(self, change) -> None:
        number = change["new"]
        if number < 0 or not self._log_path or not Path(self._log_path).exists():
            self.full_log = []
            return
        label = self._labels.get(number, f"#{number} ")
        lines = deque(maxlen=FULL_LOG_LINES)
        with open(self._log_path, encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.startswith(label):
                    lines.append(line[len(label):].rstrip("\n"))
        self.full_log = list(lines)

    # -- replaying a recorded run ----------------------------------------------------------------------------
    @classmethod
    def replay(cls, run) -> "RunView":
        """A finished (or still running elsewhere) run, rebuilt from its record and log."""
        view = cls(live=False)
        view.start(run)
        view.started = _epoch(run.start_time) or time.time()
        if run.log_path and Path(run.log_path).exists():
            reader = LogReader(run.steps)
            with open(run.log_path, encoding="utf-8", errors="replace") as f:
                for raw in f:
                    for ev in reader.line(raw):
                        view.event(ev, ev.line())
        for rec in run.steps:  # the record has the last word on each step
            view.event(StepEvent(rec.name, rec.status, rec.number, duration=rec.duration, error=rec.error,
                                 exit_code=rec.exit_code), "")
        if run.finished:
            view.finish(run)
            view.finished = _epoch(run.finish_time) or view.finished
        else:
            view.status = run.status
            view.flush(force=True)
        return view

    # -- what frontends without widgets show --------------------------------------------------------------------
    def __repr__(self) -> str:
        return self.summary_text()

    def summary_text(self) -> str:
        head = f"Run {self.run_id or '?'}: {self.status}"
        if self.started:
            head += f" ({(self.finished or time.time()) - self.started:.1f}s)"
        lines = [head]
        for s in sorted(self._steps.values(), key=lambda s: s["number"]):
            took = f" {s['duration']}s" if s.get("duration") is not None else ""
            code = f" exit {s['exit_code']}" if s.get("exit_code") not in (None, 0) else ""
            lines.append(f"  {s['status']:<9} {s['name']}{took}{code}")
        lines += [f"  image {i}" for i in self.images]
        if self.error:
            lines.append(f"  error: {self.error}")
        return "\n".join(lines)

    def summary_html(self) -> str:
        color = {"Succeeded": "#1a7f37", "Running": "#0969da", "Queued": "#6e7781"}.get(self.status, "#cf222e")
        rows = "".join(
            f"<tr><td>{html.escape(s['status'])}</td><td><code>{html.escape(s['name'])}</code></td>"
            f"<td>{'' if s.get('duration') is None else str(s['duration']) + 's'}</td>"
            f"<td>{'' if s.get('exit_code') in (None, 0) else s['exit_code']}</td></tr>"
            for s in sorted(self._steps.values(), key=lambda s: s["number"]) if not s["name"].startswith("[internal]"))
        images = "".join(f"<li><code>{html.escape(i)}</code></li>" for i in self.images)
        error = (f"<div style='color:#cf222e'>{html.escape(self.error)}</div>"
                 f"<pre style='color:#cf222e'>{html.escape(self.error_line)}</pre>") if self.error else ""
        return (f"<div class='acrmagic-summary'><b>Run {html.escape(self.run_id)}</b> "
                f"<span style='color:{color};font-weight:bold'>{html.escape(self.status)}</span>"
                f"<table>{rows}</table><ul>{images}</ul>{error}</div>")


def _epoch(ts: str | None) -> float | None:
    from datetime import datetime

    return datetime.fromisoformat(ts).timestamp() if ts else None


class LiveRunView(RunView):
    """A RunView shown in the running cell: one output holding the widget and, for frontends without
    widgets, a text and HTML summary; the same output is updated with the final summary at the end."""

    def _bundle(self) -> dict:
        return {"text/plain": self.summary_text(), "text/html": self.summary_html(),
                "application/vnd.jupyter.widget-view+json": {"version_major": 2, "version_minor": 1,
                                                               "model_id": self.model_id}}

    def start(self, run) -> None:
        from IPython.display import display

        super().start(run)
        self._handle = display(self._bundle(), raw=True, display_id=True)

    def finish(self, run) -> None:
        super().finish(run)
        self._handle.update(self._bundle(), raw=True)
