"""Showing a run while it goes: plain lines in a terminal, the run view widget (`views/`) in a live
notebook, an updating HTML view where widgets are not installed.

Both get the same events. The notebook view updates one display (`display_id`) at most ten times a
second with a step table and a bounded log tail; its text/plain part is the plain lines, so executed
notebooks (nbconvert, nbval) keep a readable final state. The full log is always on disk.
"""

from __future__ import annotations

import sys
import time
from collections import deque

from . import config
from .events import Event, LogEvent, StepEvent
from .states import STEP_CACHED, STEP_FAILED, STEP_RUNNING, STEP_SUCCEEDED

FLUSH_INTERVAL = 0.1  # seconds: at most ~10 frontend updates a second
TAIL_LINES = 40


def in_notebook() -> bool:
    """A kernel with a frontend (Jupyter), as opposed to terminal IPython or a script."""
    shell = sys.modules.get("IPython") and __import__("IPython").get_ipython()
    return type(shell).__name__ == "ZMQInteractiveShell"


class Progress:
    """No output (``--no-logs`` still prints the outcome, through the returned Run)."""

    cancel_requested = False  # only a view has a Cancel button

    def start(self, run) -> None: ...

    def event(self, ev: Event, line: str) -> None: ...

    def finish(self, run) -> None: ...


class TextProgress(Progress):
    def __init__(self, logs: bool = True, stream=None):
        self.logs = logs
        self.stream = stream

    def _print(self, text: str) -> None:
        print(text, file=self.stream or sys.stdout, flush=True)

    def start(self, run) -> None:
        self._print(f"Run {run.run_id} started ({run.backend} backend, registry {run.registry})")

    def event(self, ev: Event, line: str) -> None:
        if line and (self.logs or isinstance(ev, StepEvent) and ev.state == STEP_FAILED):
            self._print(line)


class LiveProgress(Progress):
    """One updating display: step table + log tail. Used in a live Jupyter kernel."""

    def __init__(self, logs: bool = True):
        from IPython.display import display

        self.logs = logs
        self.steps: dict[int, StepEvent] = {}
        self.tail: deque[str] = deque(maxlen=TAIL_LINES)
        self.run = None
        self.last_flush = 0.0
        self.dirty = False
        self.handle = display(self, display_id=True)

    def start(self, run) -> None:
        self.run = run
        self._flush(force=True)

    def event(self, ev: Event, line: str) -> None:
        if isinstance(ev, StepEvent):
            self.steps[ev.number] = ev
        if line and (self.logs or not isinstance(ev, LogEvent)):
            self.tail.append(line)
        self.dirty = True
        self._flush()

    def finish(self, run) -> None:
        from .views.run_view import shown_live

        self.run = run
        self.dirty = True
        self._flush(force=True)
        shown_live.add(run.run_id)  # this display says how it ended: the cell's Run is not echoed under it

    def _flush(self, force: bool = False) -> None:
        now = time.monotonic()
        if not self.dirty or (not force and now - self.last_flush < FLUSH_INTERVAL):
            return
        self.last_flush, self.dirty = now, False
        self.handle.update(self)

    # the display bundle
    def _repr_mimebundle_(self, include=None, exclude=None):
        return {"text/plain": self._text(), "text/html": self._html()}

    def _text(self) -> str:
        head = self.run.summary() if self.run else "starting"
        return "\n".join([head, *self.tail])

    def _html(self) -> str:
        import html  # its entity table costs every `acrmagic build` process a few ms: only notebooks pay

        # JupyterLab's theme variables (fallbacks for other frontends): readable in light and dark themes
        colors = {STEP_RUNNING: "var(--jp-content-font-color0, #000)", STEP_SUCCEEDED: "var(--jp-success-color0, #1b5e20)",
                  STEP_CACHED: "var(--jp-content-font-color2, #616161)", STEP_FAILED: "var(--jp-error-color1, #d32f2f)"}
        rows = "".join(
            f"<tr><td>#{n}</td><td style='color:{colors.get(s.state, 'inherit')}'>{s.state}</td>"
            f"<td>{'' if s.duration is None else f'{s.duration:.1f}s'}</td><td><code>{html.escape(s.step)}</code></td></tr>"
            for n, s in sorted(self.steps.items()) if not s.step.startswith("[internal]"))
        head = self.run._repr_html_() if self.run else "<div>starting…</div>"
        log = html.escape("\n".join(self.tail))
        return (f"<div class='acrmagic-live'>{head}<table>{rows}</table>"
                f"<pre style='max-height:20em;overflow:auto;font-size:85%'>{log}</pre></div>")


def widgets_available() -> bool:
    """A live Jupyter frontend and the widget libraries: the interactive views can be used."""
    if not in_notebook():
        return False
    try:
        import anywidget  # noqa: F401
        import ipywidgets  # noqa: F401
    except ImportError:
        return False
    return True


def make_progress(logs: bool = True, mode: str | None = None) -> Progress:
    """ACRMAGIC_PROGRESS (plain | live | widget | none) or, by default: the run view widget in a notebook
    with widgets, an updating HTML view in a notebook without them, plain lines elsewhere."""
    mode = mode or config.progress_mode()
    if mode is None:
        mode = "widget" if widgets_available() else "live" if in_notebook() else "plain"
    if mode == "none":
        return Progress()
    if mode == "widget":
        from .views.run_view import LiveRunView

        return LiveRunView()
    if mode == "live":
        return LiveProgress(logs)
    return TextProgress(logs)
