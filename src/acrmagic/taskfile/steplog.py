"""The lines acr-builder logs about each step, written and read back in one place.

acr-builder (builder/builder.go) logs, through Go's `log` package (so each line may start with a
`2019/06/04 18:29:21 ` timestamp):

    Executing step ID: <id>. Timeout(sec): <n>, Working directory: '<wd>', Network: '<net>'
    Step ID: <id> marked as successful|failed|skipped (elapsed time in seconds: <f>)

The local scheduler writes the same lines, so a local log reads like an ACR one, and a log of either
can be replayed by `parse_step_line`. acr-builder has no word for a step stopped by a cancel (it
marks it failed); the local scheduler writes `canceled`.
"""

from __future__ import annotations

import re

from .. import states

#: a step's state -> acr-builder's word for it
ACB_WORDS = {states.STEP_SUCCEEDED: "successful", states.STEP_FAILED: "failed", states.STEP_SKIPPED: "skipped",
             states.STEP_CANCELED: "canceled"}
_STATES = {word: state for state, word in ACB_WORDS.items()}

STARTED, FINISHED = "started", "finished"

_STAMP = r"(?:\d{4}/\d{2}/\d{2} \d{2}:\d{2}:\d{2}(?:\.\d+)? )?"
# step ids hold no whitespace (validated), but may hold dots: the id is the shortest run before ". Timeout"
_STARTED = re.compile(_STAMP + r"Executing step ID: (\S+?)\. Timeout\(sec\): -?\d+, "
                      r"Working directory: '.*', Network: '.*'$")
_FINISHED = re.compile(_STAMP + r"Step ID: (\S+) marked as (" + "|".join(_STATES) + r") "
                       r"\(elapsed time in seconds: (-?\d+(?:\.\d+)?)\)$")


def step_started(step) -> str:
    """The line for a step about to start (`step` is a model.Step: id, timeout, working_directory, network)."""
    return (f"Executing step ID: {step.id}. Timeout(sec): {step.timeout}, "
            f"Working directory: '{step.working_directory}', Network: '{step.network}'")


def step_finished(step_id: str, status: str, elapsed: float) -> str:
    """The line for a finished step; `status` is one of states.STEP_SUCCEEDED/FAILED/SKIPPED/CANCELED."""
    return f"Step ID: {step_id} marked as {ACB_WORDS[status]} (elapsed time in seconds: {elapsed:.6f})"


def step_error_ignored(step_id: str, error: str) -> str:
    return f"Step ID: {step_id} encountered an error: {error}, but is set to ignore errors. Continuing..."


def parse_step_line(text: str) -> tuple[str, str, str | None, float | None] | None:
    """(STARTED, step id, None, None) or (FINISHED, step id, a states.STEP_* state, elapsed seconds) for one
    of the two lines above (with or without acr-builder's timestamp, any line end); None for any other line."""
    text = text.rstrip("\r\n")
    m = _STARTED.match(text)
    if m:
        return STARTED, m.group(1), None, None
    m = _FINISHED.match(text)
    if m:
        return FINISHED, m.group(1), _STATES[m.group(2)], float(m.group(3))
    return None
