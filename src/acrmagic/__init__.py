"""acrmagic: Jupyter-native container builds, locally (Docker Engine + BuildKit) or in ACR Tasks.

    import acrmagic
    run = acrmagic.build("FROM python:3.11-slim\n...", image="inference:{{.Run.ID}}", context="./server")
    acrmagic.runs()
    acrmagic.requirements("scikit-learn", "fastapi", path="server/requirements.txt")  # pinned to this kernel

In a notebook: ``%load_ext acrmagic``, then ``%%acrbuild`` cells and ``%acr runs``.
"""

import importlib
import sys

__version__ = "0.1.0"

# Every public name is imported when first used (PEP 562), so `import acrmagic` and `%load_ext acrmagic`
# cost next to nothing: the run machinery (api, runner, the run store) and the task package (yaml, croniter)
# load with the first call that needs them. Each name: (the module that defines it, its name there).
_ERRORS = ("AcrMagicError", "UsageError", "ContextError", "EngineUnavailable", "RunError", "RunFailed", "RunCanceled",
           "RunTimedOut", "RunErrored", "RunNotFound", "TaskFileError", "AuthenticationFailed", "CloudError",
           "CloudUnavailable", "RegistryError", "RegistryUnavailable", "StoreError")
_DEFINED_IN = {**{name: (".api", name) for name in ("build", "run", "runs", "show", "logs", "cancel", "use")},
               **{name: (".errors", name) for name in _ERRORS},
               "Run": (".runs.model", "Run"), "OutputImage": (".runs.model", "OutputImage"),
               "taskfile": (".taskfile", None), "tasks": (".tasks", None), "trace": (".tasks", "trace"),
               "requirements": (".pinned_requirements", "requirements")}  # packaging: only for who pins requirements

__all__ = [*_DEFINED_IN, "load_ipython_extension"]

# `acrmagic.runs` is the function, not the sub-package of the same name. Importing a sub-package for the first
# time sets it as an attribute of its parent, so the sub-package (light: its modules load on their own) is
# imported now, before anything can load it later over the function's name; then the name is left to __getattr__.
importlib.import_module(".runs", __name__)
globals().pop("runs", None)


def __getattr__(name: str):
    if name not in _DEFINED_IN:
        raise AttributeError(f"module 'acrmagic' has no attribute {name!r}")
    module, attr = _DEFINED_IN[name]
    value = importlib.import_module(module, __name__)
    value = value if attr is None else getattr(value, attr)
    globals()[name] = value  # found once: later lookups do not come back here
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})  # tab completion lists the public names before their first use


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
