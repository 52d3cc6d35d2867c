"""The test session's engine hygiene as a pytest plugin: the tests load it from conftest, the notebooks'
nbval run with `-p session_plugin` (tests/hygiene on PYTHONPATH), so the tutorials' builds are marked and
removed the same way."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import session_builds

HYGIENE = Path(__file__).parent


def pytest_configure(config):
    """Name this session (its pytest process) and mark every build it, or a process it starts, makes;
    first remove what an earlier session that was killed left (its pytest process is gone)."""
    from acrmagic import owner

    session = owner.this_process()
    config._acrmagic_test_session = session
    os.environ[session_builds.SESSION_ENV] = session
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(HYGIENE), os.environ.get("PYTHONPATH")]))
    session_builds.install()
    engine = _engine_or_none()
    if engine is not None:
        for dead in session_builds.dead_sessions(engine):
            session_builds.clean(engine, dead)


def pytest_unconfigure(config):
    """Remove what this session built: images by its label, cache records by its builds' windows.
    (Not earlier: module fixtures and later tests build on images earlier tests made.)"""
    session = getattr(config, "_acrmagic_test_session", None)
    engine = _engine_or_none() if session else None
    if engine is None:
        return
    keep = bool(os.environ.get("ACRMAGIC_TEST_KEEP_WINDOWS"))
    images, records, freed = session_builds.clean(engine, session, keep_windows=keep)
    if images or records:
        print(f"\nengine hygiene: removed this session's {len(images)} images and {records} build-cache "
              f"records ({freed / 1e6:.1f} MB)", file=sys.stderr)


def _engine_or_none():
    """acrmagic's engine client, or None where no engine answers (unit tests on a machine without one)."""
    from acrmagic.errors import AcrMagicError
    from acrmagic.targets.local.engine import connect

    try:
        engine = connect()
        engine.call("GET", "/version", timeout=5)
        return engine
    except (AcrMagicError, OSError, ValueError):
        return None
