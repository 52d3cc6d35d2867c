"""Where acrmagic keeps things and which registry a run targets by default."""

from __future__ import annotations

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
