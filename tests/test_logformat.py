"""The one log vocabulary read back: what the recorder writes turns into the same events again, and an
ACR agent's log (unlabelled, timestamped, CRLF, arriving in pieces) gives the same step states."""

from __future__ import annotations

from acrmagic.events import LogEvent, StepEvent, StepRecord
from acrmagic.logformat import LogReader, read_log
from acrmagic.taskfile.steplog import step_finished

QUICK_BUILD_EVENTS = [
    StepEvent("[internal] load build definition from .acrmagic.Dockerfile", "running", 1),
    StepEvent("[internal] load build definition from .acrmagic.Dockerfile", "succeeded", 1, duration=0.1),
    StepEvent("[1/3] FROM docker.io/library/busybox:latest", "cached", 2, duration=0.0),
    StepEvent("[2/3] RUN echo hi && exit 3", "running", 3),
    LogEvent("[stdout] hi", step="[2/3] RUN echo hi && exit 3", number=3),
    LogEvent("DONE is a word a build may print", step="[2/3] RUN echo hi && exit 3", number=3),
    StepEvent("[2/3] RUN echo hi && exit 3", "failed", 3, duration=1.5, error="process exited with code 3"),
    LogEvent("image sha256:abc"),
]


def _states(events):
    return [(e.number, e.state, e.duration, e.error) for e in events if isinstance(e, StepEvent)]


def _lines(events):
    return [(e.number, e.text) for e in events if isinstance(e, LogEvent)]


def test_a_quick_build_log_reads_back_as_the_events_that_wrote_it():
    back = read_log([ev.line() + "\n" for ev in QUICK_BUILD_EVENTS])
    assert _states(back) == _states(QUICK_BUILD_EVENTS)
    assert _lines(back) == _lines(QUICK_BUILD_EVENTS)
    assert [e.step for e in back if isinstance(e, StepEvent)] == [e.step for e in QUICK_BUILD_EVENTS
                                                                  if isinstance(e, StepEvent)]


def test_a_local_task_log_gives_step_states_and_labelled_lines():
    steps = [StepRecord("build", 1), StepRecord("test", 2)]
    log = ["task <cell>: 2 steps in 2 levels, context .",
           "[build] Executing step ID: build. Timeout(sec): 600, Working directory: '', Network: ''",
           "[build] #1 [internal] load build definition",
           "[build] " + step_finished("build", "succeeded", 2.5),
           "[test] Executing step ID: test. Timeout(sec): 600, Working directory: '', Network: ''",
           "[test] FAIL: 1 != 2",
           "[test] " + step_finished("test", "failed", 0.25)]
    events = read_log(log, steps)
    assert [(e.step, e.number, e.state, e.duration) for e in events if isinstance(e, StepEvent)] == [
        ("build", 1, "running", None), ("build", 1, "succeeded", 2.5),
        ("test", 2, "running", None), ("test", 2, "failed", 0.25)]
    fail = next(e for e in events if isinstance(e, LogEvent) and e.text == "FAIL: 1 != 2")
    assert (fail.step, fail.number, fail.label) == ("test", 2, "[test]")
    assert isinstance(events[0], LogEvent) and events[0].step is None


ACR_LOG = ("2026/12/01 10:00:00 Downloading source code...\r\n"
           "2026/12/01 10:00:01 Executing step ID: build. Timeout(sec): 28800, Working directory: '', Network: ''\r\n"
           "Step 1/2 : FROM busybox\r\n"
           "2026/12/01 10:00:05 Executing step ID: push. Timeout(sec): 3600, Working directory: '', Network: ''\r\n"
           "2026/12/01 10:00:05 Pushing image: reg.azurecr.io/app:ca1, attempt 1\r\n"
           "2026/12/01 10:00:06 Step ID: build marked as successful (elapsed time in seconds: 4.900000)\r\n"
           "2026/12/01 10:00:07 Step ID: push marked as successful (elapsed time in seconds: 1.800000)\r\n"
           "Run ID: ca1 was successful after 7s\r\n")


def test_an_acr_log_streamed_in_pieces_gives_the_same_events_as_read_whole():
    whole = LogReader()
    expected = whole.feed(ACR_LOG) + whole.flush()
    streamed = LogReader()
    got = []
    for i in range(0, len(ACR_LOG), 7):  # cut mid-line and mid-CRLF
        got += streamed.feed(ACR_LOG[i:i + 7])
    got += streamed.flush()
    assert got == expected
    assert [(e.step, e.state) for e in got if isinstance(e, StepEvent)] == [
        ("build", "running"), ("push", "running"), ("build", "succeeded"), ("push", "succeeded")]
    # one step running: its unlabelled output is its own; two running: the line stays run-level
    step_line = next(e for e in got if isinstance(e, LogEvent) and e.text == "Step 1/2 : FROM busybox")
    assert step_line.step == "build"
    push_line = next(e for e in got if isinstance(e, LogEvent) and "Pushing image" in e.text)
    assert push_line.step is None
    assert not any("\r" in e.line() for e in got)
