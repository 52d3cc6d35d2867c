"""What one test session builds on the shared engine, marked so the session can remove it, and only it.

Every image a test builds through acrmagic (in the pytest process, in a CLI or emulator subprocess, in a
notebook kernel) carries the label `org.acrmagic.test-session=<host:pid:start of the pytest process>`,
so the session finds its images by label, also those a rebuild left untagged. BuildKit's cache records
carry no label: each build's start and end (the engine runs on this host, so on this clock) are written
to the session's file, and the records created inside those windows are the session's (the method of
`own_build_cache`; another client's build in the same seconds could make records that look the same).

`sitecustomize.py` beside this file installs the marking in the session's subprocesses (conftest sets
PYTHONPATH); the pytest process installs it from conftest. Only `acrmagic.targets.local.builds` is
touched, after it is imported, so a process that never builds imports nothing more.
"""

from __future__ import annotations

import os
import sys
import time

LABEL = "org.acrmagic.test-session"
SESSION_ENV = "ACRMAGIC_TEST_SESSION"
BUILDS_MODULE = "acrmagic.targets.local.builds"
#: the folder (under the temp dir) of one file per session, named by its owner, so a later session
#: finds a killed one's windows
SESSIONS_DIR_NAME = "acrmagic-test-sessions"
#: the engine stamps a record at most this long before the build call started or after it returned
SLACK = 0.5


def sessions_dir():
    import tempfile
    from pathlib import Path

    return Path(tempfile.gettempdir()) / SESSIONS_DIR_NAME


def windows_file(session: str):
    return sessions_dir() / (session.replace(":", "_").replace("/", "_") + ".jsonl")


def install() -> None:
    """Mark this process's builds for the session named in the environment (no session: nothing)."""
    if not os.environ.get(SESSION_ENV):
        return
    module = sys.modules.get(BUILDS_MODULE)
    if module is not None:
        _wrap(module)
    elif not any(isinstance(f, _Finder) for f in sys.meta_path):
        sys.meta_path.insert(0, _Finder())


class _Finder:
    """Finds nothing itself: when the builds module is imported, wraps its loader so the module is
    marked right after it runs."""

    def find_spec(self, name, path=None, target=None):
        if name != BUILDS_MODULE:
            return None
        from importlib.machinery import PathFinder

        spec = PathFinder.find_spec(name, path)
        if spec is None or spec.loader is None:
            return spec
        run = spec.loader.exec_module

        def exec_module(module):
            run(module)
            _wrap(module)

        spec.loader.exec_module = exec_module
        return spec


def _wrap(module) -> None:
    import dataclasses

    builder = module.EngineBuilder
    build = builder.build
    if getattr(build, "_session_marked", False):
        return

    def marked_build(self, request, emit, build_id):
        session = os.environ.get(SESSION_ENV)
        if not session:
            return build(self, request, emit, build_id)
        request = dataclasses.replace(request, labels={**request.labels, LABEL: session})
        start = time.time()
        try:
            return build(self, request, emit, build_id)
        finally:
            note_build(session, start, time.time())

    marked_build._session_marked = True
    marked_build.__wrapped__ = build
    builder.build = marked_build


def note_build(session: str, start: float, end: float) -> None:
    """Record one build's window: every acrmagic build (the wrapper above), and a build the session made
    another way (the docker CLI in a comparison test)."""
    import json

    sessions_dir().mkdir(parents=True, exist_ok=True)
    line = json.dumps({"start": start, "end": end, "pid": os.getpid()}) + "\n"
    fd = os.open(windows_file(session), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        os.write(fd, line.encode())  # one small O_APPEND write: lines from several processes stay whole
    finally:
        os.close(fd)


def windows(session: str) -> list[tuple[float, float]]:
    import json

    try:
        text = windows_file(session).read_text()
    except FileNotFoundError:
        return []
    out = []
    for line in text.splitlines():
        try:
            w = json.loads(line)
            out.append((w["start"] - SLACK, w["end"] + SLACK))
        except (ValueError, KeyError):
            continue  # a line a killed process cut short
    return out


# -- removing what a session made --------------------------------------------------------------------
#: never removed, whatever label they carry (an image built FROM a stand-in inherits the stand-in's)
PROTECTED = ("localhost:5001/", "python:", "busybox:", "docker.io/library/")


def images(engine, session: str) -> list[dict]:
    """The session's images: tagged, and those a later build of the same tag left untagged."""
    import json

    filters = json.dumps({"label": [f"{LABEL}={session}"]})
    return engine.call("GET", "/images/json", {"all": "1", "filters": filters}) or []


def remove_images(engine, session: str) -> list[str]:
    """Remove the session's images (by ID, with every tag they carry); what was removed."""
    from acrmagic.errors import EngineError

    removed = []
    for image in images(engine, session):
        tags = image.get("RepoTags") or []
        if any(t.startswith(PROTECTED) for t in tags):
            continue
        try:
            engine.call("DELETE", f"/images/{image['Id']}", {"force": "1"}, timeout=60)
        except EngineError:
            continue  # a running container of another's uses it, or it is gone
        removed.append(tags[0] if tags and tags[0] != "<none>:<none>" else image["Id"])
    return removed


def remove_cache_records(engine, session: str) -> tuple[int, int]:
    """Remove the build-cache records created while the session's builds ran: (records, bytes freed)."""
    from datetime import datetime, timezone

    from acrmagic.targets.local import buildcache

    spans = [(datetime.fromtimestamp(a, timezone.utc), datetime.fromtimestamp(b, timezone.utc))
             for a, b in windows(session)]
    if not spans:
        return 0, 0
    ids = buildcache.made_within(engine, spans)
    return len(ids), buildcache.remove(engine, ids)


def clean(engine, session: str, keep_windows: bool = False) -> tuple[list[str], int, int]:
    """Everything the session made: images first, then cache records, then (unless kept for a check)
    its windows file. (images removed, records removed, bytes the records freed)"""
    removed = remove_images(engine, session)
    records, freed = remove_cache_records(engine, session)
    if not keep_windows:
        try:
            windows_file(session).unlink()
        except FileNotFoundError:
            pass
    return removed, records, freed


def dead_sessions(engine) -> set[str]:
    """Sessions on this host whose pytest process is gone (killed before it cleaned): by their images'
    labels and their windows files."""
    import json

    from acrmagic import owner

    found = set()
    filters = json.dumps({"label": [LABEL]})
    for image in engine.call("GET", "/images/json", {"all": "1", "filters": filters}) or []:
        found.add((image.get("Labels") or {}).get(LABEL, ""))
    directory = sessions_dir()
    if directory.is_dir():
        for path in directory.glob("*.jsonl"):
            host, pid, start = path.stem.rsplit("_", 2) if path.stem.count("_") >= 2 else ("", "", "")
            found.add(f"{host}:{pid}:{start}")
    return {s for s in found if s.count(":") >= 2 and not owner.alive(s)}
