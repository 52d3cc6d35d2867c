"""Quick runs (`az acr run`): a task file -> plan -> steps on the local engine, recorded as a QuickRun.

Like a quick build: the file is loaded and validated before anything is recorded (a bad file is one
line, nothing run), then the run gets its ID, the plan is loaded again with it (templates see
`.Run.ID`), the scheduler runs the steps while events go to the log, the store and the view, and the
run is raised as an error if it did not succeed. Interrupt, `acrmagic cancel` and `--timeout` stop it.
"""

from __future__ import annotations

import getpass
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from . import config
from .errors import RUN_ERRORS, TaskFileError, UsageError
from .events import RUNNING, StepEvent, StepRecord, LogEvent
from .options import TaskOptions
from .progress import Progress, make_progress
from .quickbuild import check_registry, split_ref
from .redact import Redactor
from .runs import model
from .runs.recorder import RunRecorder
from .runs.store import RunStore
from .supervise import Execution, cancel_check
from .taskfile import Plan, RunContext, load
from .taskfile.execute import TaskRunner
from .targets.local.builds import PUSH_RETRY

_STATUS = {"succeeded": model.SUCCEEDED, "failed": model.FAILED, "canceled": model.CANCELED,
           "timeout": model.TIMEOUT}


@dataclass
class _Inputs:
    text: str
    name: str  # the file, or <cell>
    values_text: str | None
    context: Path


def _read_inputs(opts: TaskOptions) -> _Inputs:
    if opts.task_text is not None and opts.file:
        raise UsageError("acrtask: give the task once: in the cell body or with -f, not both")
    if opts.file:
        path = Path(opts.file).expanduser()
        if not path.is_file():
            raise UsageError(f"-f/--file: no task file at {path}")
        text, name = path.read_text(), str(path)
    elif opts.task_text is not None:
        text, name = opts.task_text, "<cell>"
    else:
        raise UsageError("acrtask: no task: write the task YAML in the cell, or pass -f FILE")
    if not text.strip():
        raise UsageError("acrtask: the cell is empty: write a task (version: v1.1.0, steps: ...) or pass -f FILE")
    context = Path(opts.context).expanduser()
    if not context.is_dir():
        raise UsageError(f"--context: no such folder: {opts.context}")
    values_text = None
    if opts.values_file:
        values_path = context / opts.values_file
        if not values_path.is_file():
            raise UsageError(f"--values: no values file at {values_path} (it is read relative to the context)")
        values_text = values_path.read_text()
    return _Inputs(text, name, values_text, context.resolve())


def _load_plan(inputs: _Inputs, opts: TaskOptions, run_id: str) -> Plan:
    registry = opts.registry or config.default_registry()
    check_registry(registry)
    run = RunContext(id=run_id, registry=registry, date=datetime.now(timezone.utc), shared_volume=f"acb_vol_{run_id}")
    return load(inputs.text, run, values_file=inputs.values_text, set_raw=[*opts.set_values, *opts.set_secrets],
                file=inputs.name, base_dir=inputs.context)


def plan_task(opts: TaskOptions, run_id: str = "dryrun") -> Plan:
    """Load and validate the task of `opts` (TaskFileError / UsageError on bad input)."""
    return _load_plan(_read_inputs(opts), opts, run_id)


def quick_run(opts: TaskOptions, **kwargs) -> model.Run:
    return prepare_run(opts, **kwargs).run()


def prepare_run(opts: TaskOptions, *, store: RunStore | None = None, progress: Progress | None = None) -> Execution:
    """Check the task, record the run, prepare the engine and show the view; the Execution does the rest."""
    inputs = _read_inputs(opts)
    _load_plan(inputs, opts, "dryrun")  # every input error surfaces here, before anything is recorded
    text, name, context = inputs.text, inputs.name, inputs.context
    registry = opts.registry or config.default_registry()
    redact = Redactor(s.split("=", 1)[1] for s in opts.set_secrets if "=" in s)
    from .targets.local.builds import LocalBackend
    from .targets.local.task_steps import LocalTaskExecutor

    backend = LocalBackend()
    store = store or RunStore()
    from .context import pack_tree

    context_tar, digest = pack_tree(context)  # recorded, and copied into /workspace: packed once
    run = store.create(model.Run(run_id="", run_type=model.QUICK_RUN, who=getpass.getuser(), backend=backend.name,
                                 registry=registry, source={"type": "folder", "path": str(context), "digest": digest},
                                 request=opts.recorded()))
    plan = _load_plan(inputs, opts, run.run_id)  # again, now that templates can see .Run.ID
    run.request["task"] = redact(text)
    levels = {sid: n for n, level in enumerate(plan.levels) for sid in level}
    run.steps = [StepRecord(s.id, i + 1, extra={"type": s.type, "level": levels[s.id]})
                 for i, s in enumerate(plan.task.steps)]
    recorder = RunRecorder(store, run, redact, progress or make_progress(opts.logs), step_logs=True)
    numbers = {s.id: i + 1 for i, s in enumerate(plan.task.steps)}

    def log(step_id: str, line: str):
        recorder.emit(LogEvent(line, step=step_id, number=numbers[step_id], label=f"[{step_id}]"))

    def on_state(state):
        duration = state.finish - state.start if state.finish and state.start else None
        recorder.emit(StepEvent(state.id, state.status, numbers[state.id], duration=duration, error=state.error,
                                exit_code=state.exit_code))

    recorder.started()
    recorder.note(f"task {name}: {len(plan.task.steps)} steps in {len(plan.levels)} levels, context {context}")
    executor = LocalTaskExecutor(run.run_id, context_tar, plan, backend)
    run.engine_ref = executor.instance
    runner = TaskRunner(plan, executor, log=log, on_state=on_state, push_retry=PUSH_RETRY)
    try:
        executor.prepare(lambda line: recorder.note(line))
    except Exception as e:
        executor.cleanup([])
        recorder.finish(model.ERROR, f"could not prepare the run: {e}")
        raise RUN_ERRORS[model.ERROR](f"run {run.run_id} error: could not prepare the run: {e}", run) from None
    reasons = {"timeout": "timeout", "interrupt": "canceled", "canceled": "canceled"}
    return Execution(work=runner.run, stop=lambda reason: runner.request_stop(reasons[reason]),
                     check=cancel_check(store, run.run_id, time.monotonic() + opts.timeout, recorder.progress),
                     pump=recorder.pump, conclude=lambda result: _conclude(opts, run, recorder, runner, result),
                     crash=recorder.crash)


def _conclude(opts, run, recorder, runner, result) -> model.Run:
    for rec in run.steps:
        state = result.steps[rec.name]
        rec.status = state.status if state.status != RUNNING else "canceled"
        rec.exit_code, rec.error = state.exit_code, state.error and recorder.redact(state.error)
        rec.duration = state.finish - state.start if state.finish and state.start else rec.duration
        rec.extra.update(attempts=state.attempts, images=state.images,
                         startTime=_iso(state.start), finishTime=_iso(state.finish))
        for image in state.images:
            registry, repository, tag = split_ref(image["image"])
            run.output_images.append(model.OutputImage(registry, repository, tag, image["digest"]))
    status = _STATUS[result.status]
    error = result.error
    if result.status == "timeout":
        error = f"the run did not finish within --timeout {opts.timeout}s"
    elif result.status == "canceled":
        error = "canceled"
    details = []
    if runner.failure:  # the error names the step and its exit status; the details are its last lines
        failed = next(r for r in run.steps if r.name == runner.failure[0])
        details = recorder.tail(failed.number)
    run = recorder.finish(status, error)
    if status != model.SUCCEEDED:
        raise RUN_ERRORS[status](f"run {run.run_id} {status.lower()}: {run.error}", run, details=details)
    return run


def _iso(ts: float | None) -> str | None:
    return datetime.fromtimestamp(ts, timezone.utc).isoformat() if ts else None


__all__ = ["quick_run", "plan_task", "TaskFileError"]
