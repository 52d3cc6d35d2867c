"""acrmagic: Jupyter-native container builds, locally (Docker Engine + BuildKit) or in ACR Tasks.

    import acrmagic
    run = acrmagic.build("FROM python:3.11-slim\n...", image="inference:{{.Run.ID}}", context="./server")
    acrmagic.runs()
    acrmagic.requirements("scikit-learn", "fastapi", path="server/requirements.txt")  # pinned to this kernel

In a notebook: ``%load_ext acrmagic``, then ``%%acrbuild`` cells and ``%acr runs``.
"""

import importlib
import sys

from .api import build, cancel, logs, run, runs, show, use
from .errors import (AcrMagicError, AuthenticationFailed, CloudError, CloudUnavailable, ContextError,
                     EngineUnavailable, RegistryError, RegistryUnavailable, RunCanceled, RunError, RunErrored,
                     RunFailed, RunNotFound, RunTimedOut, StoreError, TaskFileError, UsageError)
from .runs.model import OutputImage, Run

__version__ = "0.1.0"

__all__ = ["build", "run", "runs", "show", "logs", "cancel", "Run", "OutputImage", "AcrMagicError", "UsageError",
           "ContextError", "EngineUnavailable", "RunError", "RunFailed", "RunCanceled", "RunTimedOut",
           "RunErrored", "RunNotFound", "TaskFileError", "AuthenticationFailed", "CloudError", "CloudUnavailable",
           "RegistryError", "RegistryUnavailable", "StoreError", "load_ipython_extension", "taskfile", "tasks", "trace", "use",
           "requirements"]


def load_ipython_extension(ipython) -> None:
    from .notebook import load_ipython_extension as load

    load(ipython)


def _register_displays() -> None:
    """`import acrmagic` in a notebook: run lists show as the history widget, even without %load_ext."""
    ipython = sys.modules.get("IPython") and sys.modules["IPython"].get_ipython()
    if ipython is not None and hasattr(ipython, "display_formatter"):
        from .notebook import register_displays

        register_displays(ipython)


_register_displays()


def __getattr__(name: str):
    # `acrmagic.taskfile.plan_dict(...)`, `acrmagic.tasks.create(...)` and `acrmagic.trace(...)` work after a
    # bare `import acrmagic`, without every command paying for their imports
    if name in ("taskfile", "tasks"):
        return importlib.import_module(f".{name}", __name__)
    if name == "trace":
        return importlib.import_module(".tasks", __name__).trace
    if name == "requirements":  # packaging is imported only by who pins requirements
        return importlib.import_module(".pinned_requirements", __name__).requirements
    raise AttributeError(f"module 'acrmagic' has no attribute {name!r}")
