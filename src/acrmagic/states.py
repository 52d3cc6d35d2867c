"""The one vocabulary of states: a run's status (ACR's RunStatus words) and a step's state.

Every module compares against these names, never against string literals, so a new state or a
renamed one is one edit here.
"""

from __future__ import annotations

# -- a run's status, as ACR's Run resource spells it ----------------------------------------------------------
QUEUED, RUNNING, SUCCEEDED, FAILED, CANCELED, ERROR, TIMEOUT = (
    "Queued", "Running", "Succeeded", "Failed", "Canceled", "Error", "Timeout")
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

# -- run types and triggers, as ACR names them -------------------------------------------------------------------
QUICK_BUILD, QUICK_RUN, AUTO_BUILD, AUTO_RUN = "QuickBuild", "QuickRun", "AutoBuild", "AutoRun"
MANUAL = "Manual"
