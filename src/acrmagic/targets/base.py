"""The run-level seam: a Target is a place a run can go (the local engine, an ACR registry).

    handle = target.submit(request, reserve_id)   # a runrequest.RunRequest; validated, not rendered
    handle.run_id, handle.cancel_ref               # the ID is the target's to give; the ref cancels it later
    outcome = handle.execute(emit)                 # blocking, in a worker: events out, one Outcome back
    handle.stop(reason)                            # from the supervising thread: timeout, interrupt, cancel
    target.cancel(cancel_ref)                      # from any process, by the stored reference

`emit` takes `acrmagic.events` (log lines, step states); the runner feeds them to the one recorder.
A target that keeps its own history (ACR) also lists, shows and replays runs. Recording, redaction and
display are the runner's business, never a target's.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Callable

from ..errors import UsageError
from ..events import Emit, StepRecord
from ..runrequest import RunRequest
from ..runs.model import OutputImage, Run
from ..states import CANCELED, STOP_CANCEL, STOP_INTERRUPT, STOP_TIMEOUT, TIMEOUT


@dataclass
class Outcome:
    """How a run ended, as its target saw it."""

    status: str  # a run status (acrmagic.states)
    error: str | None = None
    output_images: list[OutputImage] = field(default_factory=list)
    base_images: list[dict] = field(default_factory=list)  # [{"image": ..., "digest": ...}]
    failed_step: int | None = None  # the number of the step that failed: its last lines go under the error


#: what a stopped run's record says, whatever its target (states.STOP_* -> message)
STOP_MESSAGES = {STOP_INTERRUPT: "canceled by the user (interrupt)",
                 STOP_TIMEOUT: "the run did not finish within --timeout {timeout}s",
                 STOP_CANCEL: "canceled (acrmagic cancel or the view's Cancel button)"}


def stop_message(reason: str, timeout: int) -> str:
    return STOP_MESSAGES.get(reason, STOP_MESSAGES[STOP_CANCEL]).format(timeout=timeout)


def stop_outcome(reason: str, timeout: int, what: str = "", output_images=()) -> Outcome:
    """The outcome of a run stopped for `reason`: Timeout for the deadline, Canceled otherwise."""
    return Outcome(TIMEOUT if reason == STOP_TIMEOUT else CANCELED, stop_message(reason, timeout) + what,
                   list(output_images))


class RunHandle(ABC):
    """A run the target accepted. What the record needs to know of it is set at submit."""

    run_id: str
    cancel_ref: str  # stored with the run; `Target.cancel` takes it, from any process
    source: dict  # where the inputs came from (folder + content digest, git URL + commit, upload)
    dockerfile: str | None = None
    platform: dict
    steps: list[StepRecord]  # known before the run starts (a task's plan); quick builds find theirs
    notes: list[str]  # the run's first log lines

    @abstractmethod
    def execute(self, emit: Emit) -> Outcome:
        """Do (or follow) the run until it ends; report through `emit`. Runs in a worker thread."""

    @abstractmethod
    def stop(self, reason: str) -> None:
        """Ask the run to end now (states.STOP_*); `execute` then returns a Canceled or Timeout outcome."""


class Target(ABC):
    kind: str  # "local" | "acr": recorded as the run's backend
    registry: str  # the run registry's login server: `$Registry`, where unqualified images go
    #: True when only the process running a run can end it (the local engine: `acrmagic cancel` asks that
    #: process first, and waits for it); False when the target cancels a run itself from any process (ACR)
    owner_cancels: bool = False

    @abstractmethod
    def describe(self) -> dict:
        """What the run record keeps to find this target again (`targets.from_record`); no secrets."""

    @abstractmethod
    def who(self) -> str:
        """The principal runs are recorded as: the OS user locally, the Azure principal in ACR."""

    @abstractmethod
    def submit(self, request: RunRequest, reserve_id: Callable[[], str]) -> RunHandle:
        """Accept a run (a QuickBuild, a TaskRun, or a StoredTaskRun where the target keeps tasks).
        `reserve_id()` gives a run ID from the local store, for targets that do not assign their own.
        Raises UsageError/ContextError for bad input, before any run exists."""

    @abstractmethod
    def cancel(self, cancel_ref: str) -> None:
        """Cancel the run known by `cancel_ref` (may be called from another process)."""

    def remove_leftovers(self) -> list[str]:
        """Remove what runs of processes that no longer exist left behind (containers, volumes); the
        names removed. Targets whose runs leave nothing on this machine (ACR) have nothing to do."""
        return []

    # -- targets that keep their own run history (ACR) -------------------------------------------------
    keeps_history = False

    def list_runs(self, status: str | None = None, task: str | None = None, top: int | None = None) -> list[Run]:
        raise UsageError(f"the {self.kind} target keeps no run history of its own")

    def get_run(self, run_id: str) -> Run:
        raise UsageError(f"the {self.kind} target keeps no run history of its own")

    def run_log(self, run_id: str) -> str:
        raise UsageError(f"the {self.kind} target keeps no run history of its own")
