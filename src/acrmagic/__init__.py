"""acrmagic: Jupyter-native container builds, locally (Docker Engine + BuildKit) or in ACR Tasks.

    import acrmagic
    run = acrmagic.build("FROM python:3.11-slim\n...", image="inference:{{.Run.ID}}", context="./server")
    acrmagic.runs()

In a notebook: ``%load_ext acrmagic``, then ``%%acrbuild`` cells and ``%acr runs``.
"""

from .api import build, cancel, logs, run, runs, show
from .errors import (AcrMagicError, ContextError, EngineUnavailable, RunCanceled, RunError, RunErrored,
                     RunFailed, RunNotFound, RunTimedOut, TaskFileError, UsageError)
from .runs.model import OutputImage, Run

__version__ = "0.1.0"

__all__ = ["build", "run", "runs", "show", "logs", "cancel", "Run", "OutputImage", "AcrMagicError", "UsageError",
           "ContextError", "EngineUnavailable", "RunError", "RunFailed", "RunCanceled", "RunTimedOut",
           "RunErrored", "RunNotFound", "TaskFileError", "load_ipython_extension"]


def load_ipython_extension(ipython) -> None:
    from .magics import AcrMagics, await_run_cells

    ipython.register_magics(AcrMagics)
    if type(ipython).__name__ == "ZMQInteractiveShell" and await_run_cells not in ipython.input_transformers_cleanup:
        ipython.input_transformers_cleanup.append(await_run_cells)  # see magics.py: Cancel during a run
