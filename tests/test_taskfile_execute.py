"""The scheduler's rules (graph, fail-fast, retries, repeat, timeout, detach, push attempts), driven by a
scripted executor as the reference's runtime cases describe. The same rules on the real engine are in
test_taskrun.py."""

from __future__ import annotations

import threading
import time

import pytest

from acrmagic import states
from acrmagic.errors import StepFailed, StepStopped
from acrmagic.taskfile import RunInfo, load
from acrmagic.retry import PushRetry
from acrmagic.taskfile.execute import DEADLINE_EXCEEDED, Attempt, TaskRunner
from acrmagic.taskfile.steplog import ACB_WORDS, FINISHED, STARTED, parse_step_line
from test_taskfile_cases import CASES

RUN = RunInfo(id="cb1", registry="myreg.azurecr.io")
ACB_PUSH_RETRY = PushRetry(3, (0.25, 0.5, 1.0))  # acr-builder's push policy


def runner(plan, executor, **options) -> TaskRunner:
    """A scheduler with acr-builder's push policy (the engine gives its own in real runs)."""
    return TaskRunner(plan, executor, push_retry=ACB_PUSH_RETRY, **options)


class ScriptedExecutor:
    """Per step, a list of attempt outcomes {exit, output?, seconds?}; missing attempts succeed at once.

    Like the engine's executor, an attempt leaves with StepStopped as soon as the run's `stop` is set or
    the step is killed, and with DEADLINE_EXCEEDED when its deadline passes."""

    def __init__(self, script: dict, push_failures: dict | None = None):
        self.script = {k: list(v) for k, v in script.items()}
        self.push_failures = dict(push_failures or {})
        self.calls: list[str] = []
        self.killed: set[str] = set()
        self.cleaned: list[str] = []
        self.lock = threading.Lock()
        self.kills: dict[str, threading.Event] = {}  # set by kill(): that step's attempt leaves at once

    def run_step(self, step, deadline, stop, log):
        with self.lock:
            self.calls.append(step.id)
            outcome = self.script.get(step.id, []).pop(0) if self.script.get(step.id) else {"exit": 0}
            killed = self.kills.setdefault(step.id, threading.Event())
        if step.get("detach"):
            return Attempt(0)  # started: a detached container's exit is never looked at
        end = time.monotonic() + outcome.get("seconds", 0)
        while True:
            if stop.is_set() or killed.is_set():
                raise StepStopped()
            now = time.monotonic()
            if now >= deadline:
                raise StepFailed(DEADLINE_EXCEEDED)
            if now >= end:
                break
            killed.wait(min(0.02, end - now, deadline - now))  # short waits: `stop` is looked at too
        log(outcome.get("output", ""))
        return Attempt(outcome["exit"], outcome.get("output", ""))

    def push(self, ref, log):
        if self.push_failures.get(ref, 0) > 0:
            self.push_failures[ref] -= 1
            raise StepFailed("connection refused")
        return "sha256:" + "0" * 64

    def kill(self, step):
        with self.lock:
            self.killed.add(step.id)
            self.kills.setdefault(step.id, threading.Event()).set()

    def cleanup(self, steps):
        self.cleaned = [f"docker rm -f {s.id}" for s in steps]


RUNTIME = [c for c in CASES if "runtime" in c["expect"]]


@pytest.mark.parametrize("case", RUNTIME, ids=[c["name"] for c in RUNTIME])
def test_runtime_case(case):
    rt = case["expect"]["runtime"]
    plan = load(case["yaml"], RUN)
    executor = ScriptedExecutor(rt["simulate"])
    sleeps: dict[str, list[float]] = {}
    scheduler = runner(plan, executor)
    real_sleep = scheduler.sleep

    def recording_sleep(seconds, deadline=None):
        name = threading.current_thread().name.removeprefix("step-")
        if seconds > 0:  # sleep(0) (no startDelay) waits for nothing
            sleeps.setdefault(name, []).append(seconds)
        real_sleep(min(seconds, 0.01) if "sleepsSeconds" in rt else seconds, deadline)

    scheduler.sleep = recording_sleep
    result = scheduler.run()
    assert result.status == states.run_status(rt["result"]), result.error
    if "errorContains" in rt:
        assert rt["errorContains"] in result.error
    for sid, status in rt.get("statuses", {}).items():
        assert ACB_WORDS[result.steps[sid].status] == status, (sid, result.steps[sid])
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
    result = runner(plan, executor).run()
    assert time.monotonic() - t0 < 5
    assert "b" in executor.killed and result.steps["b"].status == states.STEP_CANCELED


def test_ignore_errors_lets_dependents_run():
    plan = load("version: v1.1.0\nsteps:\n  - id: a\n    cmd: x\n    ignoreErrors: true\n  - id: b\n    cmd: y\n", RUN)
    lines = []
    result = runner(plan, ScriptedExecutor({"a": [{"exit": 3}]}), log=lambda sid, line: lines.append(line)).run()
    assert result.status == states.SUCCEEDED
    assert result.steps["a"].status == states.STEP_SUCCEEDED and result.steps["a"].error == "exit status 3"
    assert result.steps["b"].status == states.STEP_SUCCEEDED
    assert ("Step ID: a encountered an error: exit status 3, but is set to ignore errors. Continuing..."
            in lines)


def test_retry_on_errors_only_when_output_matches():
    yaml = ("version: v1.1.0\nsteps:\n  - id: a\n    cmd: x\n    retries: 3\n    retryDelay: 1\n"
            "    retryOnErrors: [\"TLS handshake timeout\"]\n")
    scheduler = runner(load(yaml, RUN), ScriptedExecutor(
        {"a": [{"exit": 1, "output": "net/http: TLS handshake timeout"}, {"exit": 1, "output": "no space left"}]}),
        sleep=lambda s: None)
    result = scheduler.run()
    assert result.status == states.FAILED and result.steps["a"].attempts == 2


def test_push_three_attempts_per_image():
    yaml = "version: v1.1.0\nsteps:\n  - push: [r/a:1, r/b]\n"
    ex = ScriptedExecutor({}, push_failures={"r/a:1": 2})
    result = runner(load(yaml, RUN), ex, sleep=lambda s: None).run()
    state = result.steps["acb_step_0"]
    assert result.status == states.SUCCEEDED and state.attempts == 4
    assert [i["image"] for i in state.images] == ["r/a:1", "r/b:latest"]
    ex = ScriptedExecutor({}, push_failures={"r/a:1": 3})
    result = runner(load(yaml, RUN), ex, sleep=lambda s: None).run()
    assert result.status == states.FAILED and "failed to push images successfully" in result.error


def test_parallel_steps_start_together():
    yaml = "version: v1.1.0\nsteps:\n" + "".join(f"  - id: s{i}\n    cmd: x\n    when: [\"-\"]\n" for i in range(4))
    ex = ScriptedExecutor({f"s{i}": [{"exit": 0, "seconds": 0.5}] for i in range(4)})
    t0 = time.monotonic()
    result = runner(load(yaml, RUN), ex).run()
    assert result.status == states.SUCCEEDED and time.monotonic() - t0 < 1.5
    starts = [s.start for s in result.steps.values()]
    assert max(starts) - min(starts) < 0.3


TWO_STEPS = "version: v1.1.0\nsteps:\n  - id: a\n    cmd: x\n  - id: b\n    cmd: y\n"


@pytest.mark.parametrize("reason,status", [
    (states.STOP_CANCEL, states.CANCELED), (states.STOP_INTERRUPT, states.CANCELED), (states.STOP_TIMEOUT, states.TIMEOUT),
])
def test_an_outside_stop_interrupts_a_long_step_within_a_second(reason, status):
    scheduler = runner(load(TWO_STEPS, RUN), ScriptedExecutor({"a": [{"exit": 0, "seconds": 30}]}))
    threading.Timer(0.3, scheduler.request_stop, args=(reason,)).start()
    t0 = time.monotonic()
    result = scheduler.run()
    assert time.monotonic() - t0 < 1.3
    assert result.status == status
    assert result.steps["a"].status == states.STEP_CANCELED and result.steps["b"].status == states.STEP_SKIPPED


def test_an_unknown_stop_reason_is_a_programming_error():
    with pytest.raises(ValueError):
        runner(load(TWO_STEPS, RUN), ScriptedExecutor({})).request_stop("bored")


def test_a_step_failing_after_a_cancel_was_asked_is_canceled_not_failed():
    class ExitsWhenKilled(ScriptedExecutor):  # an engine whose killed container reports exit 137
        def run_step(self, step, deadline, stop, log):
            while not stop.is_set():
                time.sleep(0.01)
            return Attempt(137)

    scheduler = runner(load(TWO_STEPS, RUN), ExitsWhenKilled({}))
    threading.Timer(0.2, scheduler.request_stop, args=(states.STOP_CANCEL,)).start()
    result = scheduler.run()
    assert result.status == states.CANCELED and scheduler.failure is None
    assert result.steps["a"].status == states.STEP_CANCELED


def test_scripted_executor_honours_stop_and_kill():
    step = load(TWO_STEPS, RUN).task.steps[0]
    for interrupt in ("stop", "kill"):
        executor, stop = ScriptedExecutor({"a": [{"exit": 0, "seconds": 30}]}), threading.Event()
        threading.Timer(0.2, stop.set if interrupt == "stop" else lambda: executor.kill(step)).start()
        t0 = time.monotonic()
        with pytest.raises(StepStopped):
            executor.run_step(step, time.monotonic() + 60, stop, lambda line: None)
        assert time.monotonic() - t0 < 1, interrupt
    with pytest.raises(StepFailed, match=DEADLINE_EXCEEDED):
        ScriptedExecutor({"a": [{"exit": 0, "seconds": 30}]}).run_step(
            step, time.monotonic() + 0.1, threading.Event(), lambda line: None)


def test_every_step_logs_acr_builders_start_and_finish_lines():
    yaml = ("version: v1.1.0\nworkingDirectory: src\nsteps:\n  - id: a\n    cmd: x\n    timeout: 7\n"
            "  - id: b\n    cmd: y\n  - id: c\n    cmd: z\n")
    lines: list[tuple[str, str]] = []
    result = runner(load(yaml, RUN), ScriptedExecutor({"b": [{"exit": 2}]}),
                    log=lambda sid, line: lines.append((sid, line))).run()
    assert result.status == states.FAILED
    a = [line for sid, line in lines if sid == "a"]
    assert a[0] == "Executing step ID: a. Timeout(sec): 7, Working directory: 'src', Network: 'acb_default_network'"
    assert a[-1].startswith("Step ID: a marked as successful (elapsed time in seconds: ")
    parsed = {sid: [parse_step_line(line) for line in ls] for sid, ls in
              {s: [line for i, line in lines if i == s] for s in "abc"}.items()}
    assert parsed["a"][0] == (STARTED, "a", None, None)
    assert [p[:3] for p in parsed["b"] if p] == [(STARTED, "b", None), (FINISHED, "b", states.STEP_FAILED)]
    assert [p[:3] for p in parsed["c"] if p] == [(FINISHED, "c", states.STEP_SKIPPED)]  # never started


class DiesWhenDetached(ScriptedExecutor):
    """A detached step whose container dies `after` seconds after it started (at once with 0), with `code`."""

    def __init__(self, script, dies: dict, after: float = 0.0):
        super().__init__(script)
        self.dies, self.after, self.scheduler = dies, after, None

    def run_step(self, step, deadline, stop, log):
        attempt = super().run_step(step, deadline, stop, log)
        if step.get("detach") and step.id in self.dies:
            code = self.dies[step.id]
            tell = lambda: self.scheduler.detached_exited(step.id, code, f"exited with code {code}")  # noqa: E731
            if self.after:
                threading.Timer(self.after, tell).start()
            else:
                tell()  # before the step itself has ended: the scheduler holds it until it has
        return attempt


SERVE_SMOKE = """version: v1.1.0
steps:
  - id: serve
    cmd: server
    detach: true
  - id: smoke
    cmd: check
  - id: push
    push: ["myreg.azurecr.io/app:1"]
"""


@pytest.mark.parametrize("after", [0.0, 0.3])
def test_a_detached_step_that_dies_fails_and_ends_the_run(after):
    ex = DiesWhenDetached({"smoke": [{"exit": 0, "seconds": 30}]}, {"serve": 3}, after=after)
    scheduler = ex.scheduler = runner(load(SERVE_SMOKE, RUN), ex)
    t0 = time.monotonic()
    result = scheduler.run()
    assert time.monotonic() - t0 < 10  # the waiting smoke test was killed, not waited for
    assert result.status == states.FAILED and result.error == "failed to run step ID: serve: exited with code 3"
    serve = result.steps["serve"]
    assert (serve.status, serve.exit_code) == (states.STEP_FAILED, 3)
    assert result.steps["push"].status == states.STEP_SKIPPED
    # a smoke test already waiting for the server is killed; one not started yet never starts
    assert result.steps["smoke"].status in (states.STEP_CANCELED, states.STEP_SKIPPED)
    assert after == 0.0 or "smoke" in ex.killed


def test_a_detached_step_that_ends_well_or_after_the_run_or_ignoring_errors_fails_nothing():
    for dies, yaml in (({"serve": 0}, SERVE_SMOKE),
                       ({"serve": 3}, SERVE_SMOKE.replace("detach: true", "detach: true\n    ignoreErrors: true"))):
        ex = DiesWhenDetached({"smoke": [{"exit": 0, "seconds": 0.5}]}, dies, after=0.1)
        lines = []
        ex.scheduler = runner(load(yaml, RUN), ex, log=lambda sid, line: lines.append((sid, line)))
        result = ex.scheduler.run()
        assert result.status == states.SUCCEEDED, (dies, result.error)
    assert ("serve", "Step ID: serve encountered an error: exited with code 3, but is set to ignore errors. "
                     "Continuing...") in lines
    ex = DiesWhenDetached({}, {"serve": 3})
    ex.scheduler = runner(load(SERVE_SMOKE, RUN), ex)
    ex.scheduler.ending = True  # the run's cleanup removing its containers is no crash
    ex.scheduler.states["serve"].status = states.STEP_SUCCEEDED
    ex.scheduler.detached_exited("serve", 137, "exited with code 137")
    assert ex.scheduler.failure is None
