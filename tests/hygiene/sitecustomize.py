"""Run at the start of every Python process the test session starts (conftest puts this folder on
PYTHONPATH): marks the process's image builds as the session's (see session_builds.py), then runs the
interpreter's own sitecustomize, which this file shadows."""

import os
import sys

if os.environ.get("ACRMAGIC_TEST_SESSION"):
    import session_builds

    session_builds.install()


def _run_shadowed() -> None:
    from importlib.machinery import PathFinder

    here = os.path.dirname(os.path.abspath(__file__))
    spec = PathFinder.find_spec("sitecustomize", [p for p in sys.path if os.path.abspath(p or ".") != here])
    if spec is not None and spec.loader is not None:
        try:
            spec.loader.exec_module(type(sys)("_shadowed_sitecustomize"))
        except Exception:  # the interpreter ignores a failing sitecustomize too
            pass


_run_shadowed()
