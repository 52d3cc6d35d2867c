"""Running a task plan: the graph scheduler and acr-builder's step rules, over a step executor.

The rules (builder/builder.go, pkg/procmanager): a step starts when all its parents succeeded (or
failed with ignoreErrors); steps that are ready together run in parallel with no cap; the first
failure not covered by ignoreErrors ends the run: running steps are killed, dependents stay skipped.
Per step: `startDelay` first (not counted in the timeout), then one deadline of `timeout` seconds over
every repetition, attempt and retry sleep; `repeat: R` runs R+1 repetitions even after a failure (any
failed repetition fails the step); inside each, `retries` more attempts after a non-zero exit, only
if `retryOnErrors` is empty or matches the attempt's output, `retryDelay` seconds apart. A push step
pushes its images one by one, three attempts each (0.25, 0.5, 1 s back-off), no retries or repeat.
`detach` succeeds once the container started; its output keeps going to the step's log, and if it
exits with an error before the run ends (`detached_exited`), the step is marked failed and the run with
it (acr-builder would only see the smoke test's refused connections). At the end every started step's
container is removed.

Each step logs acr-builder's `Executing step ID: ...` line first and its `Step ID: ... marked as ...`
line last (steplog); steps that never started are logged as skipped at the end. The run ends
states.SUCCEEDED, FAILED, or, when `request_stop` was called, CANCELED or TIMEOUT.

The executor does the container work (`LocalTaskExecutor` on a Docker engine); tests drive the same
scheduler with a scripted one.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Callable, Protocol

from .. import states
from ..errors import StepFailed, StepStopped
from ..retry import PushRetry
from ..states import STEP_CANCELED, STEP_FAILED, STEP_QUEUED, STEP_RUNNING, STEP_SKIPPED, STEP_SUCCEEDED
from . import Plan, steplog
from .model import Step

DEADLINE_EXCEEDED = "context deadline exceeded"

#: why the run was asked to stop -> the run's status
_STOP_STATUS = {states.STOP_TIMEOUT: states.TIMEOUT, states.STOP_CANCEL: states.CANCELED,
                states.STOP_INTERRUPT: states.CANCELED}
_STOP_ERRORS = {states.TIMEOUT: "the run timed out", states.CANCELED: "the run was canceled"}


@dataclass
class Attempt:
    exit_code: int
    output: str = ""


class StepExecutor(Protocol):
    def run_step(self, step: Step, deadline: float, stop: threading.Event, log: Callable[[str], None]) -> Attempt:
        """One attempt of a cmd or build step. Raise StepFailed(DEADLINE_EXCEEDED) when the deadline passes
        (the container killed), StepStopped when `stop` is set or `kill` was called."""

    def push(self, ref: str, log: Callable[[str], None]) -> str:
        """Push one image; return its digest. Raise StepFailed on failure."""

    def kill(self, step: Step) -> None:
        """Stop the step's container now (fail-fast, cancel)."""

    def cleanup(self, steps: list[Step]) -> None:
        """Remove the containers of every started step (detached and kept ones included)."""


@dataclass
class StepState:
    id: str
    status: str = STEP_QUEUED  # a states.STEP_* word
    start: float | None = None
    finish: float | None = None
    exit_code: int | None = None
    attempts: int = 0
    error: str | None = None
    images: list[dict] = field(default_factory=list)  # [{"image": ref, "digest": ...}]


@dataclass
class TaskResult:
    status: str  # the run's status: states.SUCCEEDED, FAILED, CANCELED or TIMEOUT
    error: str | None
    steps: dict[str, StepState]


class TaskRunner:
    def __init__(self, plan: Plan, executor: StepExecutor, *, log: Callable[[str, str], None] = lambda s, line: None,
                 on_state: Callable[[StepState], None] = lambda s: None, sleep: Callable[[float], None] | None = None,
                 clock: Callable[[], float] = time.monotonic, push_retry: PushRetry):
        self.plan, self.executor, self.log, self.on_state = plan, executor, log, on_state
        self.clock, self.push_retry = clock, push_retry
        self.stop = threading.Event()
        self._sleep = sleep
        self.states = {s.id: StepState(s.id) for s in plan.task.steps}
        self.lock = threading.Lock()
        self.done = threading.Condition(self.lock)
        self.failure: tuple[str, str] | None = None  # (step id, message) of the step that ended the run
        self.stop_reason: str | None = None
        self.ending = False  # set once every step is done: detached containers are removed, not crashing
        self.early_exits: dict[str, tuple[int, str]] = {}  # detached containers that died before their step ended

    # -- waiting that a stop interrupts ------------------------------------------------------------
    def sleep(self, seconds: float, deadline: float | None = None) -> None:
        if seconds <= 0:
            return
        if self._sleep is not None:  # tests record sleeps instead of waiting
            self._sleep(seconds)
            return
        end = self.clock() + seconds
        if deadline is not None:
            end = min(end, deadline)
        while not self.stop.is_set():
            left = end - self.clock()
            if left <= 0:
                return
            self.stop.wait(min(left, 0.25))
        raise StepStopped()

    def request_stop(self, reason: str) -> None:
        """Cancel or run timeout from outside (`reason`: states.STOP_TIMEOUT, STOP_CANCEL or STOP_INTERRUPT):
        kill running steps, start nothing more. The run ends TIMEOUT or CANCELED."""
        if reason not in _STOP_STATUS:
            raise ValueError(f"unknown stop reason {reason!r}")
        with self.lock:
            if self.stop_reason is None:
                self.stop_reason = reason
            self.stop.set()
            running = [s for s in self.plan.task.steps if self.states[s.id].status == STEP_RUNNING]
            self.done.notify_all()
        for step in running:
            self.executor.kill(step)

    # -- the graph -----------------------------------------------------------------------------------
    def run(self) -> TaskResult:
        parents = self.plan.parents
        pending = {sid: set(ps) for sid, ps in parents.items()}
        threads: list[threading.Thread] = []
        started: set[str] = set()
        with self.lock:
            while True:
                if not self.stop.is_set():
                    for step in self.plan.task.steps:
                        if step.id not in started and not pending[step.id]:
                            started.add(step.id)
                            self.states[step.id].status = STEP_RUNNING
                            t = threading.Thread(target=self._step_thread, args=(step, pending), daemon=True,
                                                 name=f"step-{step.id}")
                            threads.append(t)
                            t.start()
                running = any(self.states[s].status == STEP_RUNNING for s in started)
                if not running and (self.stop.is_set() or len(started) == len(parents)
                                    or not any(not pending[s] for s in parents if s not in started)):
                    break
                self.done.wait(0.5)
        for t in threads:
            t.join(timeout=30)
        with self.lock:
            self.ending = True
        try:
            self.executor.cleanup([s for s in self.plan.task.steps if s.id in started])
        finally:
            for state in self.states.values():
                if state.status == STEP_QUEUED:  # never started: acr-builder lists it as skipped
                    state.status = STEP_SKIPPED
                    self.log(state.id, steplog.step_finished(state.id, STEP_SKIPPED, 0.0))
        return self._result()

    def _result(self) -> TaskResult:
        if self.failure:
            sid, msg = self.failure
            return TaskResult(states.FAILED, f"failed to run step ID: {sid}: {msg}", self.states)
        if self.stop_reason:
            status = _STOP_STATUS[self.stop_reason]
            return TaskResult(status, _STOP_ERRORS[status], self.states)
        return TaskResult(states.SUCCEEDED, None, self.states)

    def detached_exited(self, step_id: str, exit_code: int, error: str) -> None:
        """A detached step's container stopped on its own before the run ended. With a non-zero exit the
        step is failed (its children were started already; the run stops as after any failure)."""
        state = self.states[step_id]
        step = next(s for s in self.plan.task.steps if s.id == step_id)
        with self.lock:
            if state.status == STEP_RUNNING:  # died at once: told again when its step has ended
                self.early_exits[step_id] = (exit_code, error)
                return
            if self.ending or exit_code == 0 or state.status != STEP_SUCCEEDED or self.stop_reason is not None:
                return
            ignored = bool(step.get("ignoreErrors"))
            if not ignored:
                state.status, state.exit_code = STEP_FAILED, exit_code
                state.finish = time.time()
            state.error = error
            others = []
            if self.failure is None and not ignored:
                self.failure = (step_id, error)
                self.stop.set()
                others = [s for s in self.plan.task.steps if self.states[s.id].status == STEP_RUNNING]
            self.done.notify_all()
        if ignored:
            self.log(step_id, steplog.step_error_ignored(step_id, error))
            return
        self.on_state(state)
        self.log(step_id, steplog.step_finished(step_id, STEP_FAILED, state.finish - (state.start or state.finish)))
        for other in others:
            self.executor.kill(other)

    def _step_thread(self, step: Step, pending: dict[str, set[str]]) -> None:
        state = self.states[step.id]
        state.start = time.time()
        self.on_state(state)
        ok, message, others = True, None, []
        try:
            self._run_step(step, state)
        except StepStopped:
            ok, message = False, None
        except StepFailed as e:
            ok, message, state.exit_code = False, e.message, e.exit_code if e.exit_code is not None else state.exit_code
        except Exception as e:  # an executor bug still ends the step, recorded
            ok, message = False, f"{type(e).__name__}: {e}"
        state.finish = time.time()
        with self.lock:
            if not ok and self.stop_reason is not None:
                message = None  # whatever a step reports once a cancel or timeout was asked, the stop ended it
            if ok or (message is not None and step.get("ignoreErrors")):
                if not ok:
                    state.error = message
                    self.log(step.id, steplog.step_error_ignored(step.id, message))
                state.status = STEP_SUCCEEDED
                for ps in pending.values():  # its children wait for one parent fewer
                    ps.discard(step.id)
            elif message is None:  # stopped from outside or by a sibling's failure
                state.status = STEP_CANCELED
            else:
                state.status, state.error = STEP_FAILED, message
                if self.failure is None:
                    self.failure = (step.id, message)
                    self.stop.set()
                    others = [s for s in self.plan.task.steps
                              if s.id != step.id and self.states[s.id].status == STEP_RUNNING]
            self.done.notify_all()
        self.on_state(state)
        self.log(step.id, steplog.step_finished(step.id, state.status, state.finish - state.start))
        for other in others:  # fail fast: kill running siblings
            self.executor.kill(other)
        early = self.early_exits.pop(step.id, None)
        if early is not None:
            self.detached_exited(step.id, *early)

    # -- one step --------------------------------------------------------------------------------------
    def _run_step(self, step: Step, state: StepState) -> None:
        self.log(step.id, steplog.step_started(step))  # before the start delay, as acr-builder logs it
        self.sleep(step.get("startDelay", 0))
        deadline = self.clock() + step.timeout
        if step.type == "push":
            self._push(step, state, deadline)
            return
        errors = []
        retry_on = step.get("retryOnErrors", [])
        for _ in range(step.get("repeat", 0) + 1):
            for attempt_no in range(step.get("retries", 0) + 1):
                if self.stop.is_set():
                    raise StepStopped()
                if self.clock() >= deadline:
                    raise StepFailed(DEADLINE_EXCEEDED)
                state.attempts += 1
                attempt = self.executor.run_step(step, deadline, self.stop,
                                                 lambda line, sid=step.id: self.log(sid, line))
                state.exit_code = attempt.exit_code
                if attempt.exit_code == 0:
                    break
                retry = attempt_no < step.get("retries", 0) and (
                    not retry_on or any(s in attempt.output for s in retry_on))
                if not retry:
                    errors.append(f"exit status {attempt.exit_code}")
                    break
                self.log(step.id, f"attempt {attempt_no + 1} failed with exit code {attempt.exit_code}; retrying "
                                  f"in {step.retry_delay}s")
                self.sleep(step.retry_delay, deadline)
                if self.clock() >= deadline:
                    raise StepFailed(DEADLINE_EXCEEDED)
        if errors:
            raise StepFailed("; ".join(errors), exit_code=state.exit_code)

    def _push(self, step: Step, state: StepState, deadline: float) -> None:
        for ref in step.push:
            for attempt in range(self.push_retry.attempts):
                if self.clock() >= deadline:
                    raise StepFailed(DEADLINE_EXCEEDED)
                state.attempts += 1
                try:
                    digest = self.executor.push(ref, lambda line, sid=step.id: self.log(sid, line))
                    state.images.append({"image": ref, "digest": digest})
                    break
                except StepFailed as e:
                    self.log(step.id, f"push of {ref} failed (attempt {attempt + 1}/{self.push_retry.attempts}): {e.message}")
                    if attempt == self.push_retry.attempts - 1:
                        raise StepFailed("failed to push images successfully") from None
                    self.sleep(self.push_retry.backoff[attempt], deadline)
