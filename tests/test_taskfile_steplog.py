"""acr-builder's step lines: written by the scheduler, read back for replay."""

from __future__ import annotations

import pytest

from acrmagic import states
from acrmagic.taskfile import RunInfo, load
from acrmagic.taskfile.steplog import FINISHED, STARTED, parse_step_line, step_finished, step_started


def test_step_started_reads_like_acr_builder():
    step = load("version: v1.1.0\nsteps:\n  - id: web.1\n    cmd: x\n    workingDirectory: app\n    timeout: 30\n",
                RunInfo()).task.steps[0]
    line = step_started(step)
    assert line == "Executing step ID: web.1. Timeout(sec): 30, Working directory: 'app', Network: 'acb_default_network'"
    assert parse_step_line(line) == (STARTED, "web.1", None, None)


@pytest.mark.parametrize("status,word", [
    (states.STEP_SUCCEEDED, "successful"), (states.STEP_FAILED, "failed"), (states.STEP_SKIPPED, "skipped"),
    (states.STEP_CANCELED, "canceled"),
])
def test_step_finished_round_trips(status, word):
    line = step_finished("build", status, 1.25)
    assert line == f"Step ID: build marked as {word} (elapsed time in seconds: 1.250000)"
    assert parse_step_line(line) == (FINISHED, "build", status, 1.25)


@pytest.mark.parametrize("text,expected", [
    # as ACR's log blob has them: Go's log timestamp first, CRLF line ends
    ("2019/06/04 18:29:21 Executing step ID: acb_step_0. Timeout(sec): 600, Working directory: '', "
     "Network: 'acb_default_network'\r\n", (STARTED, "acb_step_0", None, None)),
    ("2019/06/04 18:29:25 Step ID: acb_step_0 marked as successful (elapsed time in seconds: 3.784455)\r\n",
     (FINISHED, "acb_step_0", states.STEP_SUCCEEDED, 3.784455)),
    ("Step ID: a marked as failed (elapsed time in seconds: 0.000000)", (FINISHED, "a", states.STEP_FAILED, 0.0)),
    ("Step ID: a marked as succeeded (elapsed time in seconds: 1.0)", None),  # not acr-builder's word
    ("Step ID: a encountered an error: exit status 1, but is set to ignore errors. Continuing...", None),
    ("[a] Executing step ID: a. Timeout(sec): 1, Working directory: '', Network: ''", None),
    ("Executing step ID: a. Timeout(sec): x, Working directory: '', Network: ''", None),
    ("", None),
])
def test_parse_step_line(text, expected):
    assert parse_step_line(text) == expected
