"""Where runs go. `choose()` picks the target for a new run; `from_record()` finds a recorded run's
target again (to cancel it, or to read its log from ACR).

    base.py     the seam every target implements (Target, RunHandle, Outcome)
    local/      the local Docker engine with BuildKit
"""

from __future__ import annotations

from .base import Target


def choose(registry: str | None = None) -> Target:
    """The target of a new run: `-r REGISTRY` on the command, else the chosen default (the local engine)."""
    from .local import LocalTarget

    return LocalTarget(registry)


def from_record(target: dict, registry: str | None = None) -> Target:
    """The target a run was recorded with (`Run.target`)."""
    from .local import LocalTarget

    return LocalTarget(target.get("registry") or registry)
