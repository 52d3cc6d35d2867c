"""Triggered tasks: definitions in ACR's Task shape, kept on this machine (commit / base-image / timer
triggers, the scheduler that fires them, the audit trail `trace`) or in an ACR registry. Each verb
chooses its task service once (`choose`) and calls it.

    import acrmagic.tasks as tasks
    tasks.create("inference", image=["inference:{{.Run.ID}}"], context="https://github.com/me/srv.git#main",
                 file="Dockerfile", schedule=["nightly:0 2 * * *"])
    tasks.run("inference")               # a manual run, now
    tasks.scheduler_start()              # in a kernel: fire triggers in the background
    tasks.trace("localhost:5000/inference:la3")

    service.py     the verbs' seam: TaskService, chosen once per verb    local_service.py  the store's side
    acr_service.py ACR's task resources (the one way tasks/ reaches ACR)
    definition.py  the Task resource (flags -> JSON, update, secrets hidden)   secrets.py  where secrets live
    store.py       tasks.sqlite: definitions, trigger state, the outbox of fires
    trigger_state.py  the typed trigger state (commit, timers, base images, errors) and its changes
    commit.py      heads via gitsource, commit fires                     base_image.py  digests, cascades
    timer.py       cron in UTC, one catch-up                             scheduler.py   ticks, dispatch
    scheduler_lock.py  one active scheduler per store                    kernel_scheduler.py  in a kernel
    launch.py      a task's run request and source -> runner.start      webhook.py     GitHub push deliveries
    trace.py       which run made an image, and why                      commands.py    `task`, `scheduler`, `trace`
"""

from __future__ import annotations

from ..runs.model import RunList
from ..runs.store import RunStore
from . import definition as d
from .kernel_scheduler import background
from .scheduler import DEFAULT_POLL_INTERVAL, Scheduler
from .local_service import LocalTasks
from .service import TaskService
from .store import TaskStore
from .summary import TaskInfo, TaskList
from .trace import trace

__all__ = ["create", "update", "show", "list", "delete", "run", "enable", "disable", "list_runs", "trace",
           "Scheduler", "TaskStore", "TaskService", "scheduler_start", "scheduler_stop", "scheduler_status",
           "DEFAULT_POLL_INTERVAL"]


def choose(store: TaskStore | None = None, registry: str | None = None) -> TaskService:
    """The task service a verb goes to: a TaskStore given, or a chosen target that is not ACR, is local;
    otherwise (`acrmagic use REGISTRY`, `ACRMAGIC_TARGET=emulator:CONFIG`, `-r ACRNAME` on create/update)
    ACR's task resources."""
    if store is not None:
        return LocalTasks(store)
    from .. import targets

    chosen = targets.resolve(registry) if registry else targets.resolve()
    if chosen.get("kind") != "acr":
        return LocalTasks(TaskStore())
    from .acr_service import AcrTasks

    return AcrTasks(targets.from_config(chosen))


def create(name: str, *, store: TaskStore | None = None, **flags) -> TaskInfo:
    """Define a task, as `az acr task create` (flags by their Python names: image=[...], context=...,
    file=..., cmd=..., body=<Dockerfile or task YAML text>, set=["KEY=VALUE", ...] or {KEY: VALUE},
    set_secret=(the same), schedule=[...],
    commit_trigger_enabled=..., base_image_trigger_enabled=..., base_image_trigger_type=..., timeout=...,
    platform=..., git_access_token=..., assign_identity=[...], registry=...). Everything is checked first
    (the repository is read, the Dockerfile or task file loaded); on any error nothing is stored."""
    return choose(store, flags.get("registry")).create(name, flags)


def update(name: str, *, store: TaskStore | None = None, **changes) -> TaskInfo:
    """Change a task, as `az acr task update`: only the flags given change."""
    return choose(store, changes.get("registry")).update(name, changes)


def show(name: str, *, store: TaskStore | None = None) -> TaskInfo:
    return choose(store).show(name)


def list(*, store: TaskStore | None = None) -> TaskList:  # noqa: A001 - the verb is `task list`
    return choose(store).list()


def delete(name: str, *, store: TaskStore | None = None) -> None:
    choose(store).delete(name)


def enable(name: str, *, store: TaskStore | None = None) -> TaskInfo:
    """Enable a task; its triggers start from now (no catch-up for the time it was disabled)."""
    return choose(store).set_status(name, d.ENABLED)


def disable(name: str, *, store: TaskStore | None = None) -> TaskInfo:
    return choose(store).set_status(name, d.DISABLED)


def run(name: str, *, store: TaskStore | None = None, observer=None, run_store: RunStore | None = None):
    """Run the task now (`az acr task run`): on its context (a git task: the branch head), recorded with the
    task's name as a QuickRun (as ACR records it). Returns the run; raises a RunError subclass when it does
    not succeed."""
    return choose(store).run(name, observer, run_store)


def list_runs(name: str | None = None, *, top: int | None = 15, status: str | None = None,
              store: TaskStore | None = None) -> RunList:
    """Runs of a task (or of every task), newest first, as `az acr task list-runs --name`."""
    return choose(store).list_runs(name, top, status)


# -- the scheduler in this process ---------------------------------------------------------------------------
def scheduler_start(poll_interval: float = DEFAULT_POLL_INTERVAL, **kwargs) -> str:
    """Start the scheduler in a background thread of this process (a kernel)."""
    return background.start(poll_interval, **kwargs)


def scheduler_stop() -> str:
    return background.stop()


def scheduler_status() -> str:
    return background.status()
