"""The scheduler's rules (graph, fail-fast, retries, repeat, timeout, detach, push attempts), driven by a
scripted executor as the reference's runtime cases describe. The same rules on the real engine are in
test_taskrun.py."""

from __future__ import annotations

import threading
import time

import pytest

from acrmagic.taskfile import RunContext, load
from acrmagic.errors import StepFailed, StepStopped as Stopped
import functools

from acrmagic.taskfile.execute import DEADLINE_EXCEEDED, Attempt, PushRetry, TaskRunner as _TaskRunner
from test_taskfile_cases import CASES

RUN = RunContext(id="cb1", registry="myreg.azurecr.io")
TaskRunner = functools.partial(_TaskRunner, push_retry=PushRetry(3, (0.25, 0.5, 1.0)))  # acr-builder's push policy
ACB_STATUS = {"succeeded": "successful", "failed": "failed", "skipped": "skipped", "canceled": "failed"}


class ScriptedExecutor:
    """Per step, a list of attempt outcomes {exit, output?, seconds?}; missing attempts succeed at once."""

    def __init__(self, script: dict, push_failures: dict | None = None):
        self.script = {k: list(v) for k, v in script.items()}
        self.push_failures = dict(push_failures or {})
        self.calls: list[str] = []
        self.killed: set[str] = set()
        self.cleaned: list[str] = []
        self.lock = threading.Lock()

    def run_step(self, step, deadline, stop, log):
        with self.lock:
            self.calls.append(step.id)
            outcome = self.script.get(step.id, []).pop(0) if self.script.get(step.id) else {"exit": 0}
        if step.get("detach"):
            return Attempt(0)  # started: a detached container's exit is never looked at
        end = time.monotonic() + outcome.get("seconds", 0)
        while time.monotonic() < end:
            if step.id in self.killed or stop.is_set() and step.id in self.killed:
                raise Stopped()
            if time.monotonic() >= deadline:
                raise StepFailed(DEADLINE_EXCEEDED)
            time.sleep(0.01)
        log(outcome.get("output", ""))
        return Attempt(outcome["exit"], outcome.get("output", ""))

    def push(self, ref, log):
        if self.push_failures.get(ref, 0) > 0:
            self.push_failures[ref] -= 1
            raise StepFailed("connection refused")
        return "sha256:" + "0" * 64

    def kill(self, step):
        self.killed.add(step.id)

    def cleanup(self, steps):
        self.cleaned = [f"docker rm -f {s.id}" for s in steps]


RUNTIME = [c for c in CASES if "runtime" in c["expect"]]


@pytest.mark.parametrize("case", RUNTIME, ids=[c["name"] for c in RUNTIME])
def test_runtime_case(case):
    rt = case["expect"]["runtime"]
    plan = load(case["yaml"], RUN)
    executor = ScriptedExecutor(rt["simulate"])
    sleeps: dict[str, list[float]] = {}
    runner = TaskRunner(plan, executor)
    real_sleep = runner.sleep

    def recording_sleep(seconds, deadline=None):
        name = threading.current_thread().name.removeprefix("step-")
        if seconds > 0:  # sleep(0) (no startDelay) waits for nothing
            sleeps.setdefault(name, []).append(seconds)
        real_sleep(min(seconds, 0.01) if "sleepsSeconds" in rt else seconds, deadline)

    runner.sleep = recording_sleep
    result = runner.run()
    assert result.status == rt["result"], result.error
    if "errorContains" in rt:
        assert rt["errorContains"] in result.error
    for sid, status in rt.get("statuses", {}).items():
        assert ACB_STATUS[result.steps[sid].status] == status, (sid, result.steps[sid])
    for sid in rt.get("neverStarted", []):
        assert sid not in executor.calls
    for sid, n in rt.get("attempts", {}).items():
        assert result.steps[sid].attempts == n
    for sid, expected in rt.get("sleepsSeconds", {}).items():
        assert sleeps.get(sid) == expected
    if "cleanup" in rt:
        assert executor.cleaned == rt["cleanup"]


def test_fail_fast_kills_the_running_sibling():
    plan = load(next(c for c in CASES if c["name"] == "rt-fail-fast")["yaml"], RUN)
    executor = ScriptedExecutor({"a": [{"exit": 1, "seconds": 0.2}], "b": [{"exit": 0, "seconds": 30}]})
    t0 = time.monotonic()
    result = TaskRunner(plan, executor).run()
    assert time.monotonic() - t0 < 5
    assert "b" in executor.killed and result.steps["b"].status == "canceled"


def test_ignore_errors_lets_dependents_run():
    plan = load("version: v1.1.0\nsteps:\n  - id: a\n    cmd: x\n    ignoreErrors: true\n  - id: b\n    cmd: y\n", RUN)
    result = TaskRunner(plan, ScriptedExecutor({"a": [{"exit": 3}]})).run()
    assert result.status == "succeeded"
    assert result.steps["a"].status == "succeeded" and result.steps["a"].error == "exit status 3"
    assert result.steps["b"].status == "succeeded"


def test_retry_on_errors_only_when_output_matches():
    yaml = ("version: v1.1.0\nsteps:\n  - id: a\n    cmd: x\n    retries: 3\n    retryDelay: 1\n"
            "    retryOnErrors: [\"TLS handshake timeout\"]\n")
    runner = TaskRunner(load(yaml, RUN), executor=ScriptedExecutor(
        {"a": [{"exit": 1, "output": "net/http: TLS handshake timeout"}, {"exit": 1, "output": "no space left"}]}),
        sleep=lambda s: None)
    result = runner.run()
    assert result.status == "failed" and result.steps["a"].attempts == 2


def test_push_three_attempts_per_image():
    yaml = "version: v1.1.0\nsteps:\n  - push: [r/a:1, r/b]\n"
    ex = ScriptedExecutor({}, push_failures={"r/a:1": 2})
    result = TaskRunner(load(yaml, RUN), executor=ex, sleep=lambda s: None).run()
    state = result.steps["acb_step_0"]
    assert result.status == "succeeded" and state.attempts == 4
    assert [i["image"] for i in state.images] == ["r/a:1", "r/b:latest"]
    ex = ScriptedExecutor({}, push_failures={"r/a:1": 3})
    result = TaskRunner(load(yaml, RUN), executor=ex, sleep=lambda s: None).run()
    assert result.status == "failed" and "failed to push images successfully" in result.error


def test_parallel_steps_start_together():
    yaml = "version: v1.1.0\nsteps:\n" + "".join(f"  - id: s{i}\n    cmd: x\n    when: [\"-\"]\n" for i in range(4))
    ex = ScriptedExecutor({f"s{i}": [{"exit": 0, "seconds": 0.5}] for i in range(4)})
    t0 = time.monotonic()
    result = TaskRunner(load(yaml, RUN), executor=ex).run()
    assert result.status == "succeeded" and time.monotonic() - t0 < 1.5
    starts = [s.start for s in result.steps.values()]
    assert max(starts) - min(starts) < 0.3


def test_external_stop_cancels():
    yaml = "version: v1.1.0\nsteps:\n  - id: a\n    cmd: x\n  - id: b\n    cmd: y\n"
    runner = TaskRunner(load(yaml, RUN), executor=ScriptedExecutor({"a": [{"exit": 0, "seconds": 10}]}))
    threading.Timer(0.3, runner.request_stop, args=("canceled",)).start()
    result = runner.run()
    assert result.status == "canceled"
    assert result.steps["a"].status == "canceled" and result.steps["b"].status == "skipped"
