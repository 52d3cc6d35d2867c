"""How a push retries one image: a policy the engine that pushes gives to whoever pushes through it
(the quick build, the task scheduler's push steps), so neither imports the other."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PushRetry:
    """`attempts` in all, sleeping `backoff[i]` after failure i (acr-builder: 3 attempts, 0.25/0.5/1 s)."""

    attempts: int
    backoff: tuple[float, ...]
