"""The live run view: an anywidget whose state is synced traits (no JavaScript build, no network imports).

It is also the run's progress sink in a notebook: events update in-memory state, and the state goes to
the frontend at most ten times a second as one message (`hold_sync`). Each step keeps a bounded tail;
the full log stays on disk and is read when the user expands a step. At the end the same output is
updated with a static summary (text and HTML), so notebooks saved by nbconvert and shown on a code host
still say how the run ended.
"""

from __future__ import annotations

import html
import re
import threading
import time
from collections import deque
from pathlib import Path

import anywidget
import traitlets as t

from ..dockerfile import logical_lines
from ..errors import AcrMagicError
from ..events import Event, LogEvent, StepEvent
from ..failure import failing_line
from ..logformat import LogReader
from ..states import STEP_FAILED, STEP_RUNNING, STEP_SUCCEEDED

FLUSH_INTERVAL = 0.1  # at most ~10 updates a second
STEP_TAIL = 30  # lines per step kept in widget state
RUN_TAIL = 60  # run-level lines kept in widget state
FULL_LOG_LINES = 5000  # an expanded step shows at most this many of its last lines
FOLLOW_SECONDS = 1.0  # how often a replayed run that is still going is read again
PUSH_NUMBER = 100_000  # pushes are numbered after every build step: they are shown last, in push order
HERE = Path(__file__).parent

# BuildKit names a Dockerfile instruction's vertex "[stage i/n] INSTRUCTION"; vertex numbers follow
# scheduling, not the file, so rows are ordered by stage (as first seen) and i.
_INSTRUCTION = re.compile(r"^\[(?:(?P<stage>[^\]]*?) )?(?P<index>\d+)/(?P<of>\d+)\]")
# BuildKit's steps after the instructions: the image export (and what a build exports with it)
_AFTER = re.compile(r"^(exporting |writing image|naming to|unpacking to|resolving provenance)")
# the local push's own lines (targets/local): "push REF: LAYER STATUS" while it goes, "pushed REF@DIGEST" at the end
_PUSHING = re.compile(r"^push (?P<ref>\S+): (?P<what>.*)$")
_PUSHED = re.compile(r"^pushed (?P<ref>\S+)@(?P<digest>sha256:[0-9a-f]+)$")
# acr-builder's own lines around a step's output: not what the step printed
_BOOKKEEPING = re.compile(r"^(Executing step ID: |Step ID: \S+ marked as |Launching container with name: )")

#: run IDs whose run view or live summary was shown in this kernel and whose Run the cell returns: the
#: notebook display skips echoing that Run under its own view (`notebook.py`), once
shown_live: set[str] = set()


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

    def __init__(self, clock=time.monotonic, read_log=None, **kwargs):
        super().__init__(**kwargs)
        self.clock = clock
        self._steps: dict[int, dict] = {}
        self._tails: dict[int, deque] = {}
        self._tail: deque[str] = deque(maxlen=RUN_TAIL)
        self._levels: dict[str, int] = {}
        self._labels: dict[int, str] = {}
        self._log_path: str | None = None
        self._pushes: dict[str, int] = {}
        self._stage_names: list[str] = []
        self._following: threading.Event | None = None
        self._read_log = read_log  # run ID -> its log, for a run whose log is not on this machine (see replay)
        self._reader: LogReader | None = None  # a replayed run's log, read from self._offset on
        self._offset = 0
        self._dirty = False
        self._last_flush = float("-inf")
        self.observe(self._load_full_log, names="expanded")

    # -- as a progress sink ------------------------------------------------------------------------------
    def start(self, run) -> None:
        with self.hold_sync():
            self.run_id, self.run_type, self.backend, self.trigger = run.run_id, run.run_type, run.backend, run.cause
            self.status, self.started, self._log_path = run.status, time.time(), run.log_path
            self._stage_names = _stage_names(run.dockerfile)
            for rec in run.steps:  # task runs know their steps (and levels, types) before they start
                self._step(rec.number, rec.name, rec.extra.get("level", 0), rec.extra.get("type", ""))
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
        elif isinstance(ev, LogEvent) and self._push_line(ev.text):
            pass
        else:
            self._tail.append(line)
        self._dirty = True
        self.flush()

    def _push_line(self, text: str) -> bool:
        """A local push's line becomes the row of a push step, with the layers done so far."""
        m = _PUSHED.match(text) or _PUSHING.match(text)
        if m is None:
            return False
        ref = m["ref"]
        number = self._pushes.setdefault(ref, PUSH_NUMBER + len(self._pushes))
        step = self._step(number, f"push {ref}", type="push")
        if m.re is _PUSHED:
            step["status"], step["last"] = STEP_SUCCEEDED, m["digest"]
            step["progress"] = f"{step.get('layers', 0)} layers"
            self._tails[number].append(text)
        else:
            step["status"] = STEP_RUNNING
            step["layers"] = step.get("layers", 0) + 1
            step["progress"] = f"{step['layers']} layers pushed"
            self._tails[number].append(m["what"])
        step["lines"] += 1
        return True

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
        for number in self._pushes.values():  # a push the run ended during did not finish
            if self._steps[number]["status"] == STEP_RUNNING:
                self._steps[number]["status"] = STEP_FAILED if run.status != "Succeeded" else STEP_SUCCEEDED
        failed = next((s for s in self._steps.values() if s["status"] == STEP_FAILED), None)
        if failed is not None:  # the line that says why (acrmagic.failure), unless the error quotes it already
            line = failing_line(list(self._tails.get(failed["number"], ())), fallback=failed.get("error", ""))
            self.error_line = "" if line and line in self.error else line
        self._dirty = True
        self.flush(force=True)

    def _step(self, number: int, name: str, level: int | None = None, type: str = "") -> dict:
        step = self._steps.get(number)
        if step is None:
            step = self._steps[number] = {"number": number, "name": name, "level": level or 0, "status": "queued",
                                          "duration": None, "exit_code": None, "error": "", "lines": 0, "tail": [],
                                          "type": type, "last": "", "progress": ""}
            self._tails[number] = deque(maxlen=STEP_TAIL)
        return step

    def _order(self) -> list[int]:
        """Step numbers as rows: a Dockerfile's instructions in file order (BuildKit's own steps such as
        "[internal] load build definition" before them, "exporting to image" after), a task's steps in
        task order, pushes last."""
        # a multi-stage build's stages: in the Dockerfile's order where the run recorded it, else in the
        # order their first vertex appeared
        stages: dict[str, int] = {name: i for i, name in enumerate(self._stage_names)}
        for number in sorted(self._steps):
            m = _INSTRUCTION.match(self._steps[number]["name"])
            if m is not None:
                stages.setdefault(m["stage"] or "", len(stages))

        def key(number: int):
            name = self._steps[number]["name"]
            m = _INSTRUCTION.match(name)
            if number >= PUSH_NUMBER or m is None:
                return (3 if number >= PUSH_NUMBER else 2 if _AFTER.match(name) else 0, 0, 0, number)
            return (1, stages[m["stage"] or ""], int(m["index"]), number)

        return sorted(self._steps, key=key)

    def flush(self, force: bool = False) -> None:
        """Send the state, if it changed, at most every FLUSH_INTERVAL (always when forced)."""
        now = self.clock()
        if not self._dirty or (not force and now - self._last_flush < FLUSH_INTERVAL):
            return
        self._last_flush, self._dirty = now, False
        steps = []
        for number in self._order():
            step = dict(self._steps[number])
            step["tail"] = list(self._tails[number])
            if step["type"] == "cmd" and step["status"] != STEP_RUNNING:  # what it printed last (a prediction)
                step["last"] = next((x for x in reversed(step["tail"]) if x.strip() and not _BOOKKEEPING.match(x)), "")
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
    def replay(cls, run, read=None, read_log=None) -> "RunView":
        """A recorded run, rebuilt from its record and log. A run still going elsewhere (another kernel,
        the scheduler, ACR) is followed to its end when `read` (run ID -> the run as recorded now, e.g.
        `api.show`) is given; `read_log` (run ID -> its log) reads the log of a run that has none here."""
        # a cloud run this process did not follow has no log here: the registry's log is read instead
        recorded = bool(run.log_path) and Path(run.log_path).exists() and Path(run.log_path).stat().st_size > 0
        view = cls(live=False, read_log=read_log if run.backend != "local" and not recorded else None)
        view.show_recorded(run, read)
        return view

    def show_recorded(self, run, read=None) -> None:
        """Show a recorded run: its record and the log so far, then its end, or (still going, with
        `read`) follow it to its end."""
        self.start(run)
        self.started = _epoch(run.start_time) or time.time()
        self._reader, self._offset = LogReader(run.steps), 0
        self._read_new_log(run)
        if run.finished:
            self._end(run)
        else:
            self.status = run.status
            self.flush(force=True)
            if read is not None:
                self.follow(run.run_id, read)

    def _read_new_log(self, run) -> None:
        """Feed the log lines written since the last read (whole lines only) through the run's log reader."""
        if self._read_log is not None:  # the registry's log (see replay)
            try:
                data = self._read_log(run.run_id).encode()[self._offset:]
            except AcrMagicError:
                return
        elif self._log_path and Path(self._log_path).exists():
            with open(self._log_path, "rb") as f:
                f.seek(self._offset)
                data = f.read()
        else:
            return
        end = data.rfind(b"\n") + 1
        self._offset += end
        for raw in data[:end].decode("utf-8", errors="replace").splitlines(keepends=True):
            for ev in self._reader.line(raw):
                self.event(ev, ev.line())

    def _end(self, run) -> None:
        for rec in run.steps:  # the record has the last word on each step
            self.event(StepEvent(rec.name, rec.status, rec.number, duration=rec.duration, error=rec.error,
                                 exit_code=rec.exit_code), "")
        if run.finished:
            self.finish(run)
            self.finished = _epoch(run.finish_time) or self.finished

    def follow(self, run_id: str, read) -> None:
        """Follow a run going on elsewhere to its end: the log as it grows and the record's state (for
        an ACR run, as the registry reports it: `api.show` refreshes it), every FOLLOW_SECONDS, from a
        thread (trait updates are safe from one; nothing is printed)."""
        self.stop_following()
        stop = self._following = threading.Event()

        def loop():
            while not stop.wait(FOLLOW_SECONDS):
                try:
                    run = read(run_id)
                except AcrMagicError:
                    continue  # the store or the registry did not answer this time
                self._read_new_log(run)
                if run.finished:
                    self._end(run)
                    return
                if run.status != self.status:
                    self.status = run.status

        threading.Thread(target=loop, name="acrmagic-follow-run", daemon=True).start()

    def stop_following(self) -> None:
        if self._following is not None:
            self._following.set()
            self._following = None

    def close(self) -> None:
        self.stop_following()
        super().close()

    # -- what frontends without widgets show --------------------------------------------------------------------
    def __repr__(self) -> str:
        return self.summary_text()

    def summary_text(self) -> str:
        head = f"Run {self.run_id or '?'}: {self.status}"
        if self.started:
            head += f" ({(self.finished or time.time()) - self.started:.1f}s)"
        lines = [head]
        for s in (self._steps[n] for n in self._order()):
            took = f" {s['duration']}s" if s.get("duration") is not None else ""
            code = f" exit {s['exit_code']}" if s.get("exit_code") not in (None, 0) else ""
            lines.append(f"  {s['status']:<9} {s['name']}{took}{code}")
        lines += [f"  image {i}" for i in self.images]
        if self.error:
            lines.append(f"  error: {self.error}")
        return "\n".join(lines)

    def summary_html(self) -> str:
        # JupyterLab's theme variables (fallbacks for other frontends): readable in light and dark themes
        ok, bad = "var(--jp-success-color0, #1b5e20)", "var(--jp-error-color1, #d32f2f)"
        color = ok if self.status == "Succeeded" else bad if self.finished else "inherit"
        rows = "".join(
            f"<tr><td>{html.escape(s['status'])}</td><td><code>{html.escape(s['name'])}</code></td>"
            f"<td>{'' if s.get('duration') is None else str(s['duration']) + 's'}</td>"
            f"<td>{'' if s.get('exit_code') in (None, 0) else s['exit_code']}</td>"
            f"<td>{html.escape(s.get('last') or '')}</td></tr>"
            for s in self.steps if not s["name"].startswith("[internal]"))
        images = "".join(f"<li><code>{html.escape(i)}</code></li>" for i in self.images)
        error = (f"<div style='color:{bad}'>{html.escape(self.error)}</div>"
                 f"<pre style='border-left:3px solid {bad};padding-left:6px'>{html.escape(self.error_line)}</pre>"
                 ) if self.error else ""
        return (f"<div class='acrmagic-summary'><b>Run {html.escape(self.run_id)}</b> "
                f"<span style='color:{color};font-weight:bold'>{html.escape(self.status)}</span>"
                f"<table>{rows}</table><ul>{images}</ul>{error}</div>")


def _stage_names(dockerfile: str | None) -> list[str]:
    """The stages of a Dockerfile as BuildKit names them in its steps: `FROM x AS name` is "name", an
    unnamed stage "stage-N" (N counts from 0)."""
    names: list[str] = []
    for line in logical_lines(dockerfile or ""):
        keyword, _, rest = line.partition(" ")
        if keyword.upper() == "FROM":
            words = [w for w in rest.split() if not w.startswith("--")]
            names.append(words[2].lower() if len(words) >= 3 and words[1].lower() == "as" else f"stage-{len(names)}")
    return names


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
        shown_live.add(run.run_id)  # the view says it all: the cell's Run is not echoed under it
