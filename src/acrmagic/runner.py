"""The one orchestration of a run, whatever it asks for and wherever it goes.

    request (runrequest) -> target.submit -> record the run (ID, cancel reference, source)
      -> handle.execute in a worker, its events -> the recorder (log, store) -> the view
      -> the outcome recorded -> returned, or raised as the one RunError family

Quick builds, task runs, the triggers' runs and the cloud target all come through here; nothing
else records a run. The supervisor (`supervise.py`) turns Ctrl-C, a kernel interrupt, the view's
Cancel, `acrmagic cancel` and the run's deadline into `handle.stop(reason)`.
"""

from __future__ import annotations

import json
import time

from .errors import RUN_ERRORS, UsageError
from .redact import Redactor
from .runrequest import RunRequest
from .runs.model import Run
from .runs.recorder import RunRecorder, RunObserver
from .runs.store import RunStore
from .states import MANUAL, SUCCEEDED
from .supervise import Execution, cancel_check
from .targets.base import Outcome, Target


def start(request: RunRequest, *, target: Target, observer: RunObserver, store: RunStore | None = None,
          trigger: dict | None = None, source: dict | None = None) -> Execution:
    """Submit `request` to `target` and record the run; the returned Execution runs it to the end
    (`.run()`, or `await .run_async()` in a notebook cell). Bad input raises before anything is recorded.

    `trigger`, for a task's runs: {"runType": an acrspec run type, "type": a states.TRIGGERS kind,
    "task": NAME, "details": {ACR's sourceTrigger / imageUpdateTrigger / timerTrigger payload}}.
    `source`, for a task's run: what the record keeps of where its files came from (repository, branch,
    commit), in place of the target's view (a temporary checkout's path)."""
    store = store or RunStore()
    handle, run, redact = _submit(request, target, store, trigger, source)
    recorder = RunRecorder(store, run, redact, observer)
    recorder.started()
    for line in handle.notes:
        recorder.note(line)

    def conclude(outcome: Outcome) -> Run:
        run.output_images, run.base_images = outcome.output_images, outcome.base_images
        details = _details(recorder.tail(outcome.failed_step), outcome.error) if outcome.failed_step else []
        done = recorder.finish(outcome.status, outcome.error)
        if done.status != SUCCEEDED:
            raise RUN_ERRORS[done.status](f"run {done.run_id} {done.status.lower()}: {done.error}", done,
                                          details=[redact(d) for d in details])
        return done

    return Execution(work=lambda: handle.execute(recorder.emit), stop=handle.stop,
                     check=cancel_check(store, run.run_id, time.monotonic() + request.timeout, observer),
                     pump=recorder.pump, conclude=conclude, crash=recorder.crash)


def _details(tail: list[str], error: str | None) -> list[str]:
    """The failed step's last lines, less bookkeeping and less the line the error message ends with already."""
    from . import failure  # its compiled patterns cost a fresh process a few ms: only a failed run pays

    return [line for line in tail if not failure.is_bookkeeping(line)
            and not (error or "").endswith(": " + failure.clean(line).strip())]


def queue(request: RunRequest, *, target: Target, store: RunStore | None = None,
          trigger: dict | None = None) -> Run:
    """`--no-wait`: submit and record the run (Queued) and return; its target runs it on its own and
    keeps its log (`acrmagic logs ID` follows it). Only targets with their own history can."""
    if not target.keeps_history:
        raise UsageError("--no-wait: a local run goes only while this process follows it; --no-wait is for "
                         "runs in ACR (acrmagic use REGISTRY)")
    return _submit(request, target, store or RunStore(), trigger)[1]


def _submit(request: RunRequest, target: Target, store: RunStore, trigger: dict | None, source: dict | None = None):
    redact = Redactor(request.secrets)
    who = target.who()  # a failed login fails here, before the target has started anything
    handle = target.submit(request, reserve_id=store.reserve_id)
    if source:
        handle.source = {**{k: v for k, v in handle.source.items() if k != "path"}, **source}
    trigger = trigger or {}
    run = store.create(Run(
        run_id=handle.run_id, run_type=trigger.get("runType", request.run_type),
        trigger=trigger.get("type", MANUAL), trigger_details=trigger.get("details", {}), task=trigger.get("task"),
        who=who, backend=target.kind, target=target.describe(), registry=target.registry,
        source=handle.source, dockerfile=redact(handle.dockerfile) if handle.dockerfile else None,
        request=json.loads(redact(json.dumps(request.recorded))), platform=handle.platform, steps=handle.steps,
        cancel_ref=handle.cancel_ref))
    return handle, run, redact
