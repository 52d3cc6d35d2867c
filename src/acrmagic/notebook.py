"""The notebook surface, registered with a live IPython: the magics (`%load_ext acrmagic`) and the
interactive display of a run list (the history widget), which `acrmagic.runs()` gets too."""

from __future__ import annotations


def load_ipython_extension(ipython) -> None:
    from .magics import AcrMagics, await_run_cells

    ipython.register_magics(AcrMagics)
    if type(ipython).__name__ == "ZMQInteractiveShell" and await_run_cells not in ipython.input_transformers_cleanup:
        ipython.input_transformers_cleanup.append(await_run_cells)  # see magics.py: Cancel during a run
    register_displays(ipython)


def register_displays(ipython) -> None:
    """A RunList shows as the history widget where widgets work; a Run a cell returns right after its
    live view showed it is not echoed again under the view (by name: nothing is imported now)."""
    formatter = ipython.display_formatter.mimebundle_formatter
    formatter.for_type_by_name("acrmagic.runs.model", "RunList", _history_bundle)
    ipython.display_formatter.ipython_display_formatter.for_type_by_name("acrmagic.runs.model", "Run", _show_run)
    ipython.events.register("post_run_cell", _forget_shown)


def _show_run(run) -> None:
    # IPython calls this instead of computing the Run's bundle: `_` still becomes the Run
    from IPython.display import publish_display_data

    from .views.run_view import shown_live

    if run.run_id in shown_live:
        shown_live.discard(run.run_id)
        return
    publish_display_data(run._repr_mimebundle_())


def _forget_shown(result=None) -> None:
    """A view shown in one cell does not hide a later `display(run)` of the same run."""
    from .views.run_view import shown_live

    shown_live.clear()


def _history_bundle(runs):
    from .progress import widgets_available

    if not widgets_available():
        return {"text/plain": repr(runs), "text/html": runs._repr_html_()}
    from .views.history import History

    return History(**runs.query)._repr_mimebundle_()
