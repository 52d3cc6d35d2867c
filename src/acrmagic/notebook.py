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
    """A RunList shows as the history widget where widgets work (by name: nothing is imported now)."""
    formatter = ipython.display_formatter.mimebundle_formatter
    formatter.for_type_by_name("acrmagic.runs.model", "RunList", _history_bundle)


def _history_bundle(runs):
    from .progress import widgets_available

    if not widgets_available():
        return {"text/plain": repr(runs), "text/html": runs._repr_html_()}
    from .views.history import History

    return History(**runs.query)._repr_mimebundle_()
