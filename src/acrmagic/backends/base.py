"""The small interface every backend implements (local engine now, ACR Tasks later).

A backend builds one image from a packed context, pushes a reference, and cancels what it started.
It reports progress only through the `emit` callback (see `acrmagic.events`) and failures only by
raising `BackendError`; recording, redaction and display are the run recorder's business.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Callable

from ..events import Emit
from .context import BuildContext


#: every push gets this many attempts, with these back-offs between them (acr-builder's push policy)
PUSH_ATTEMPTS = 3
PUSH_BACKOFF = (0.25, 0.5, 1.0)


class BackendError(Exception):
    """A build or push that the engine refused or that failed; `message` is the engine's reason."""

    def __init__(self, message: str, exit_code: int | None = None):
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code


@dataclass
class BuildRequest:
    context: BuildContext
    tags: list[str] = field(default_factory=list)
    build_args: dict[str, str] = field(default_factory=dict)
    target: str | None = None
    platform: str | None = None
    no_cache: bool = False
    labels: dict[str, str] = field(default_factory=dict)


@dataclass
class BuildResult:
    image_id: str
    base_digest: Callable[[str], str | None] = lambda ref: None  # normalized base ref -> digest the build used


class Backend(ABC):
    name: str = "?"

    @abstractmethod
    def build(self, request: BuildRequest, emit: Emit, on_engine_ref: Callable[[str], None]) -> BuildResult:
        """Build; call `on_engine_ref` with the engine's handle before work starts (for `cancel`).
        On KeyboardInterrupt, cancel the engine's work and re-raise."""

    @abstractmethod
    def push(self, ref: str, emit: Emit) -> str:
        """Push `ref` (registry/repository:tag); return the manifest digest the registry accepted."""

    @abstractmethod
    def cancel(self, engine_ref: str) -> None:
        """Stop the work known to the engine as `engine_ref` (may be called from another process)."""

    def resolve_base_digest(self, image: str) -> str | None:
        """The digest `image` resolves to now, when the build's own trace did not say."""
        return None
