"""The run history: a table of runs to filter, page through and click into, with Cancel on running rows.

Only one page of rows is ever in widget state, so a store of 10,000 runs renders as fast as one of ten.
Clicking a row replays that run (its steps and recorded log) in a run view below the table; a run still
going is followed there to its end. Queued and Running ACR runs on the page are read again from the
registry on every refresh. With auto-refresh on, a background thread re-reads the page every few seconds
(trait updates are safe from a thread; nothing is printed from it).
"""

from __future__ import annotations

import threading
from pathlib import Path

import anywidget
import ipywidgets as widgets
import traitlets as t

from .. import api
from ..errors import AcrMagicError
from ..runs.model import RunList

HERE = Path(__file__).parent
REFRESH_SECONDS = 2.0
KEYS = ("run_id", "task", "type", "trigger", "status", "created", "duration", "image")
SHORT_DIGEST = 12  # hex digits of a digest shown in a row; the copy button copies the whole reference


def row(run) -> dict:
    """A run as the table shows it: RunList's columns, plus where it ran and its images cut short."""
    cells = dict(zip(KEYS, RunList.row(run)))
    acr_name = (run.target or {}).get("registry") or run.registry.split(".")[0]  # the registry's name, not its login server
    cells["target"] = "local" if run.backend == "local" else f"ACR {acr_name}"
    cells["images"] = [{"name": f"{o.repository}:{o.tag}", "digest": o.digest.split(":")[-1][:SHORT_DIGEST],
                        "ref": o.ref} for o in run.output_images]
    return cells


class HistoryTable(anywidget.AnyWidget):
    _esm = HERE / "history.js"
    _css = HERE / "views.css"

    rows = t.List(t.Dict()).tag(sync=True)
    total = t.Int(0).tag(sync=True)
    page = t.Int(0).tag(sync=True)
    page_size = t.Int(50).tag(sync=True)
    status_filter = t.Unicode("").tag(sync=True)
    task_filter = t.Unicode("").tag(sync=True)
    text_filter = t.Unicode("").tag(sync=True)
    auto_refresh = t.Bool(False).tag(sync=True)
    selected = t.Unicode("").tag(sync=True)  # a row's run ID, set by a click
    cancel_run = t.Unicode("").tag(sync=True)  # a running row's run ID, set by its Cancel button
    message = t.Unicode("").tag(sync=True)


class History(widgets.VBox):
    """`%acr runs` in a notebook: the table, and below it the run view of the row last clicked."""

    def __init__(self, status: str | None = None, task: str | None = None, top: int | None = None):
        self.table = HistoryTable(status_filter=status or "", task_filter=task or "", page_size=top or 50)
        self.detail = widgets.Output()
        super().__init__([self.table, self.detail])
        self.refresh()
        self.table.observe(lambda _: self.refresh(), names=["page", "page_size", "status_filter", "task_filter",
                                                             "text_filter"])
        self.table.observe(self._open, names="selected")
        self.table.observe(self._cancel, names="cancel_run")
        self.table.observe(self._auto, names="auto_refresh")
        self._refresher: threading.Event | None = None
        self._view = None  # the replayed run below the table

    def refresh(self) -> None:
        tb = self.table
        query = dict(status=tb.status_filter or None, task=tb.task_filter or None, text=tb.text_filter or None)
        runs, total = api.run_page(**query, top=tb.page_size, offset=tb.page * tb.page_size)
        page = min(tb.page, max(0, (total - 1) // tb.page_size))
        if page != tb.page:  # the filter left fewer pages: show the last one
            runs, total = api.run_page(**query, top=tb.page_size, offset=page * tb.page_size)
        runs = [self._fresh(r) for r in runs]
        with tb.hold_sync():
            tb.total, tb.page = total, page
            tb.rows = [row(r) for r in runs]

    @staticmethod
    def _fresh(run):
        """A Queued/Running ACR run as the registry reports it now (`api.show` reads it and records it)."""
        if run.backend == "local" or run.finished:
            return run
        try:
            return api.show(run.run_id)
        except AcrMagicError:
            return run  # the registry did not answer: the row shows what was recorded

    def _open(self, change) -> None:
        from .run_view import RunView

        run_id = change["new"]
        if not run_id:
            return
        if self._view is not None:
            self._view.stop_following()
        self.detail.clear_output()
        try:
            view = self._view = RunView.replay(api.show(run_id), read=api.show, read_log=api.logs)
        except AcrMagicError as e:
            self.table.message = e.message
            return
        with self.detail:
            from IPython.display import display

            display(view)

    def _cancel(self, change) -> None:
        run_id = change["new"]
        if not run_id:
            return
        try:
            api.cancel(run_id)
            self.table.message = f"cancel requested for {run_id}"
        except AcrMagicError as e:
            self.table.message = e.message
        self.table.cancel_run = ""
        self.refresh()

    def _auto(self, change) -> None:
        if self._refresher is not None:
            self._refresher.set()
            self._refresher = None
        if change["new"]:
            stop = self._refresher = threading.Event()

            def loop():
                while not stop.wait(REFRESH_SECONDS):
                    self.refresh()

            threading.Thread(target=loop, name="acrmagic-history-refresh", daemon=True).start()

    def __repr__(self) -> str:
        return repr(api.runs(status=self.table.status_filter or None, task=self.table.task_filter or None,
                             top=self.table.page_size))
