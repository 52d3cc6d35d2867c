"""A task run on the local engine: the plan's steps as containers (`task_steps`), scheduled by the
task-file engine's runner with acr-builder's rules; every step's lines and states reported as events."""

from __future__ import annotations

import tempfile
from datetime import datetime, timezone
from typing import Callable

from ... import refs
from ...context import pack_tree
from ...errors import UsageError
from ...events import Emit, LogEvent, StepEvent, StepRecord
from ...runrequest import TaskRun, platform_record
from ...runs.model import OutputImage
from ...states import CANCELED, ERROR, FAILED, STEP_CANCELED, STEP_RUNNING, STOP_TIMEOUT, TIMEOUT, run_status
from ...taskfile import Plan
from ...taskfile.execute import StepState, TaskRunner
from ..base import Outcome, RunHandle, stop_message
from .builds import PUSH_RETRY, EngineBuilder



def submit(builder: Callable[[], EngineBuilder], request: TaskRun, registry: str,
           reserve_id: Callable[[], str]) -> "TaskRunHandle":
    request.plan("dryrun", registry)  # every input error surfaces here, before anything is recorded
    if request.context is not None and request.context_path is None:
        raise UsageError("--context: a task run on the local engine needs a folder context (git URLs go to ACR)")
    engine = builder()
    if request.context_path is None:  # no source (/dev/null): an empty /workspace, as in ACR
        with tempfile.TemporaryDirectory(prefix="acrmagic-nosource-") as empty:
            context_tar, digest = pack_tree(empty)  # the tar is a file of its own: the folder can go
    else:
        context_tar, digest = pack_tree(request.context_path)  # recorded, and copied into /workspace: packed once
    run_id = reserve_id()
    plan = request.plan(run_id, registry)  # again, now that templates can see .Run.ID
    return TaskRunHandle(engine, request, plan, run_id, context_tar, digest)


class TaskRunHandle(RunHandle):
    def __init__(self, builder: EngineBuilder, request: TaskRun, plan: Plan, run_id: str, context_tar, digest: str):
        from .task_steps import LocalTaskExecutor  # only when a task really runs

        self.request, self.plan, self.run_id = request, plan, run_id
        self.executor = LocalTaskExecutor(run_id, context_tar, plan, builder)
        self.cancel_ref = f"task:{self.executor.instance}"
        self.source = ({"type": "none", "digest": digest} if request.context_path is None else
                       {"type": "folder", "path": str(request.context_path), "digest": digest})
        self.platform = platform_record(None)  # steps run on the engine's own platform
        levels = {sid: n for n, level in enumerate(plan.levels) for sid in level}
        self.numbers = {s.id: i + 1 for i, s in enumerate(plan.task.steps)}
        self.steps = [StepRecord(s.id, self.numbers[s.id], extra={"type": s.type, "level": levels[s.id]})
                      for s in plan.task.steps]
        self.notes = [f"task {request.task_name}: {len(plan.task.steps)} steps in {len(plan.levels)} levels, "
                      f"context {request.context or 'none'}"]  # as the user gave it: saved notebooks carry no machine paths
        self.emit: Emit = lambda ev: None
        self.runner = TaskRunner(plan, self.executor, log=self._log, on_state=self._state, push_retry=PUSH_RETRY)
        self.executor.on_detached_exit = self.runner.detached_exited

    def _log(self, step_id: str, line: str) -> None:
        self.emit(LogEvent(line, step=step_id, number=self.numbers[step_id], label=f"[{step_id}]"))

    def _state(self, state: StepState, final: bool = False) -> None:
        duration = state.finish - state.start if state.finish and state.start else None
        extra = {"attempts": state.attempts, "images": state.images, "startTime": _iso(state.start),
                 "finishTime": _iso(state.finish)} if final else {}
        status = STEP_CANCELED if final and state.status == STEP_RUNNING else state.status
        # the log already has acr-builder's own lines for these (Executing step ID / marked as)
        self.emit(StepEvent(state.id, status, self.numbers[state.id], duration=duration, error=state.error,
                            exit_code=state.exit_code, extra=extra, logged=False))

    def stop(self, reason: str) -> None:
        self.runner.request_stop(reason)

    def execute(self, emit: Emit) -> Outcome:
        self.emit = emit
        try:
            self.executor.prepare(lambda line: emit(LogEvent(line)))
        except Exception as e:  # engine trouble while setting up volumes: recorded, never left behind
            self.executor.cleanup([])
            return Outcome(ERROR, f"could not prepare the run: {e}")
        result = self.runner.run()
        outcome = Outcome(run_status(result.status) or ERROR, result.error)
        for state in result.steps.values():
            self._state(state, final=True)
            for image in state.images:
                ref = refs.parse(image["image"])
                outcome.output_images.append(OutputImage(ref.registry, ref.repository, ref.tag, image["digest"]))
        if self.executor.engine_lost and outcome.status == FAILED:  # the engine went away: not the task's failure
            outcome.status, outcome.error = ERROR, self.executor.engine_lost
        elif outcome.status == TIMEOUT:
            outcome.error = stop_message(STOP_TIMEOUT, self.request.timeout)
        elif outcome.status == CANCELED:
            outcome.error = "canceled"
        elif outcome.status == FAILED and self.runner.failure:
            outcome.failed_step = self.numbers[self.runner.failure[0]]
        return outcome


def _iso(ts: float | None) -> str | None:
    return datetime.fromtimestamp(ts, timezone.utc).isoformat() if ts else None
