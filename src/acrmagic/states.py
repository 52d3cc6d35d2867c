"""The one vocabulary of states: a run's status (ACR's RunStatus words, spelled in `acrspec`), a step's
state, and what started a run.

Every module compares against these names, never against string literals, so a new state or a
renamed one is one edit (here, or in acrspec for the service's words).
"""

from __future__ import annotations

# -- a run's status: the Run resource's words (acrspec), less ACR's transient Started ----------------------------
from .acrspec import CANCELED, ERROR, FAILED, QUEUED, RUNNING, SUCCEEDED, TIMEOUT  # noqa: E402

RUN_STATUSES = (QUEUED, RUNNING, SUCCEEDED, FAILED, CANCELED, ERROR, TIMEOUT)
TERMINAL = frozenset({SUCCEEDED, FAILED, CANCELED, ERROR, TIMEOUT})


def run_status(text: str) -> str | None:
    """A status as a user may type it (any case) -> its canonical name, or None."""
    return next((s for s in RUN_STATUSES if s.lower() == text.lower()), None)


# -- a step's state, in the words the views use ----------------------------------------------------------------
STEP_QUEUED, STEP_RUNNING, STEP_CACHED, STEP_SUCCEEDED, STEP_FAILED, STEP_SKIPPED, STEP_CANCELED = (
    "queued", "running", "cached", "succeeded", "failed", "skipped", "canceled")
STEP_FINISHED = frozenset({STEP_CACHED, STEP_SUCCEEDED, STEP_FAILED, STEP_SKIPPED, STEP_CANCELED})

# -- why a run is asked to stop --------------------------------------------------------------------------------
STOP_TIMEOUT, STOP_INTERRUPT, STOP_CANCEL = "timeout", "interrupt", "canceled"

# -- run types and triggers: ACR's (acrspec), and acrmagic's word for a run started by hand ---------------------
from .acrspec import (AUTO_BUILD, AUTO_RUN, COMMIT_TRIGGER, IMAGE_UPDATE_TRIGGER, QUICK_BUILD,  # noqa: E402
                      QUICK_RUN, TIMER_TRIGGER)

MANUAL = "Manual"  # the Run resource names no trigger for a manual run; the run store records this
TRIGGERS = (MANUAL, COMMIT_TRIGGER, IMAGE_UPDATE_TRIGGER, TIMER_TRIGGER)
