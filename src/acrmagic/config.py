"""Where acrmagic keeps things, and where runs go by default (the local engine, or the target `acrmagic use` chose)."""

from __future__ import annotations

import json
import os
from pathlib import Path

#: the local registry, as `$Registry` reads in local mode (Distribution on 127.0.0.1:5000)
LOCAL_REGISTRY = "localhost:5000"
#: the offline mirror of Docker Hub images (busybox, python:3.11-slim stand-ins)
MIRROR_REGISTRY = "localhost:5001"


def home() -> Path:
    """ACRMAGIC_HOME, default ~/.acrmagic: the run store and the run logs."""
    path = Path(os.environ.get("ACRMAGIC_HOME") or Path.home() / ".acrmagic")
    path.mkdir(parents=True, exist_ok=True)
    return path


def default_registry() -> str:
    """ACRMAGIC_REGISTRY, default the local registry."""
    return os.environ.get("ACRMAGIC_REGISTRY") or LOCAL_REGISTRY


def progress_mode() -> str | None:
    """ACRMAGIC_PROGRESS: plain | live | none; unset means choose by the frontend."""
    return os.environ.get("ACRMAGIC_PROGRESS") or None


# -- where new runs go -----------------------------------------------------------------------------------------
TARGET_FILE = "target.json"  # under ACRMAGIC_HOME; what `acrmagic use` chose (no secrets: names and paths only)


def chosen_target() -> dict:
    """The target of new runs: ACRMAGIC_TARGET (`local`, an ACR registry name, or `emulator:CONFIG_FILE`),
    else what `acrmagic use` saved, else the local engine. With an ACR registry, ACRMAGIC_RESOURCE_GROUP,
    AZURE_SUBSCRIPTION_ID and ACRMAGIC_IDENTITY (`system` or a client id) fill what the choice leaves open."""
    env = os.environ.get("ACRMAGIC_TARGET")
    if env:
        chosen = {"kind": "local"} if env == "local" else (
            {"kind": "acr", "emulatorConfig": env.split(":", 1)[1]} if env.startswith("emulator:")
            else {"kind": "acr", "registry": env})
    else:
        path = home() / TARGET_FILE
        try:
            chosen = json.loads(path.read_text()) if path.exists() else {"kind": "local"}
        except (OSError, ValueError):
            chosen = {"kind": "local"}
    if chosen.get("kind") == "acr":
        for key, var in (("resourceGroup", "ACRMAGIC_RESOURCE_GROUP"), ("subscription", "AZURE_SUBSCRIPTION_ID"),
                         ("identity", "ACRMAGIC_IDENTITY")):
            if not chosen.get(key) and os.environ.get(var):
                chosen[key] = os.environ[var]
    return chosen


def save_target(chosen: dict) -> Path:
    path = home() / TARGET_FILE
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(chosen, indent=2) + "\n")
    tmp.replace(path)  # a reader never sees half a file
    return path
