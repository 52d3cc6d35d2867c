"""What a run reports while it goes: step state changes and log lines.

Targets turn their engine's progress into these events; the run recorder writes them to the log and
the store, and views show them. One small vocabulary for every target (`logformat` reads a recorded
or streamed log back into the same events).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from .states import STEP_CACHED, STEP_FAILED, STEP_QUEUED, STEP_RUNNING


@dataclass
class StepEvent:
    """A step changed state. ``step`` is the step's display name, ``number`` its position in the run."""

    step: str
    state: str
    number: int = 0
    duration: float | None = None
    error: str | None = None
    exit_code: int | None = None
    extra: dict = field(default_factory=dict)  # kept in the step's record (type, level, attempts, images, times)
    logged: bool = True  # False when the log already says it in its own words (a task step's acr-builder lines)

    def line(self) -> str:
        """The plain-text form, as BuildKit's plain progress prints it."""
        if self.state == STEP_RUNNING:
            return f"#{self.number} {self.step}"
        if self.state == STEP_CACHED:
            return f"#{self.number} CACHED {self.step}"
        took = f" {self.duration:.1f}s" if self.duration is not None else ""
        if self.state == STEP_FAILED:
            return f"#{self.number} ERROR{took}: {self.error}"
        return f"#{self.number} DONE{took}"


@dataclass
class LogEvent:
    """One line of output, from a step (``step`` set) or from the run itself (``step`` None)."""

    text: str
    step: str | None = None
    number: int = 0
    stream: str = "stdout"
    label: str | None = None  # how the line names its step; default "#<number>"

    def line(self) -> str:
        if self.step is None:
            return self.text
        return f"{self.label or '#' + str(self.number)} {self.text}"


@dataclass
class StepRecord:
    """What the run store keeps of a step."""

    name: str
    number: int = 0
    status: str = STEP_QUEUED
    cached: bool = False
    duration: float | None = None
    error: str | None = None
    exit_code: int | None = None
    extra: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        d = {"name": self.name, "number": self.number, "status": self.status, "cached": self.cached,
             "duration": self.duration, "error": self.error, "exitCode": self.exit_code}
        d.update(self.extra)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "StepRecord":
        known = {"name", "number", "status", "cached", "duration", "error", "exitCode"}
        return cls(name=d["name"], number=d.get("number", 0), status=d.get("status", STEP_QUEUED),
                   cached=d.get("cached", False), duration=d.get("duration"), error=d.get("error"),
                   exit_code=d.get("exitCode"), extra={k: v for k, v in d.items() if k not in known})


Event = StepEvent | LogEvent
Emit = Callable[[Event], None]
