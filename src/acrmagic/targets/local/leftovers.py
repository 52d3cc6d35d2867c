"""What runs leave on the engine, found by label and removed: the containers and volumes of a task run
whose process was killed (SIGKILL, a dead kernel), or of a run canceled from another process.

Every container and volume a task run makes is labelled with its instance and its owner process
(`acrmagic.owner`); a label whose owner is gone marks a leftover. Engine API calls only (no docker SDK),
so looking costs a quick build a few milliseconds.
"""

from __future__ import annotations

import json

from ... import owner
from ...errors import EngineError
from .engine import Engine

LABEL_RUN, LABEL_INSTANCE, LABEL_OWNER = "org.acrmagic.run-id", "org.acrmagic.instance", "org.acrmagic.owner"


def labels(run_id: str, instance: str) -> dict[str, str]:
    return {LABEL_RUN: run_id, LABEL_INSTANCE: instance, LABEL_OWNER: owner.this_process()}


def _find(engine: Engine, label: str) -> tuple[list[dict], list[dict]]:
    filters = json.dumps({"label": [label]})
    found = engine.call("GET", "/containers/json", {"all": "1", "filters": filters}) or []
    volumes = (engine.call("GET", "/volumes", {"filters": filters}) or {}).get("Volumes") or []
    return found, volumes


def _remove(engine: Engine, found_containers: list[dict], volumes: list[dict]) -> list[str]:
    if not (found_containers or volumes):
        return []
    from . import containers  # every quick build looks; only one that finds leftovers pays this import

    removed = []
    for c in found_containers:  # containers first: a volume in use cannot go
        try:
            containers.remove(engine, c["Id"])
            removed.append((c.get("Names") or [c["Id"][:12]])[0].lstrip("/"))
        except EngineError:
            pass  # gone already
    for v in volumes:
        try:
            containers.remove_volume(engine, v["Name"])
            removed.append(v["Name"])
        except EngineError:
            pass
    return removed


def remove_instance(engine: Engine, instance: str) -> list[str]:
    """Remove every container and volume of one task run's instance; the names removed."""
    return _remove(engine, *_find(engine, f"{LABEL_INSTANCE}={instance}"))


def remove_orphans(engine: Engine) -> list[str]:
    """Remove the containers and volumes whose owner process is gone; the names removed.
    EngineUnavailable when the engine does not answer (a run's first request to it: see `connect`)."""
    try:
        found, volumes = _find(engine, LABEL_OWNER)
    except EngineError:
        return []
    dead = lambda obj: not owner.alive((obj.get("Labels") or {}).get(LABEL_OWNER, ""))  # noqa: E731
    return _remove(engine, [c for c in found if dead(c)], [v for v in volumes if dead(v)])
