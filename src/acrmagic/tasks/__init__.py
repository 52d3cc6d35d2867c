"""Triggered tasks for the local target: definitions in ACR's Task shape, commit / base-image / timer
triggers, the scheduler that fires them, and the audit trail (`trace`).

    import acrmagic.tasks as tasks
    tasks.create("inference", image=["inference:{{.Run.ID}}"], context="https://github.com/me/srv.git#main",
                 file="Dockerfile", schedule=["nightly:0 2 * * *"])
    tasks.run("inference")               # a manual run, now
    tasks.scheduler_start()              # in a kernel: fire triggers in the background
    tasks.trace("localhost:5000/inference:la3")

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

from ..errors import AcrMagicError, RunError, UsageError
from ..runs.model import RunList, now
from ..runs.store import RunStore
from .. import gitsource as git
from . import definition as d
from . import backend, launch, secrets, timer
from .base_image import after_run
from .kernel_scheduler import background
from .scheduler import DEFAULT_POLL_INTERVAL, Scheduler
from .store import KEEP, TaskStore
from .summary import TaskInfo, TaskList
from .trigger_state import CommitState, TriggerState
from .trace import trace

__all__ = ["create", "update", "show", "list", "delete", "run", "enable", "disable", "list_runs", "trace",
           "Scheduler", "TaskStore", "scheduler_start", "scheduler_stop", "scheduler_status", "DEFAULT_POLL_INTERVAL"]


def _store(store: TaskStore | None) -> TaskStore:
    return store or TaskStore()


def _with_branch(name: str, flags: dict) -> dict:
    """A git context without a branch gets the remote's default branch, named in the context."""
    context = flags.get("context")
    from ..context import is_git_url

    if not context or not is_git_url(context):
        return flags
    repo, branch, subdir = git.split_context(context)
    git.check_url(repo)
    if branch:
        return flags
    token = _given_token(name, flags.get("git_access_token"))
    branch = git.default_branch(repo, token)
    return {**flags, "context": f"{repo}#{branch}" + (f":{subdir}" if subdir else "")}


def _given_token(name: str, given: str | None) -> str | None:
    import os
    from pathlib import Path

    if given and given.startswith("@"):
        path = Path(given[1:]).expanduser()
        secrets.check_file(path, "--git-access-token")
        return secrets.check_token(path.read_text(), f"--git-access-token {given}")
    found = given or os.environ.get(secrets.env_name(name, secrets.GIT_TOKEN))
    return None if found is None else secrets.check_token(found, "--git-access-token")


def _remember(store: TaskStore, name: str, given: dict[str, str]) -> None:
    for key, value in given.items():
        secrets.remember(str(store.home), name, key, value)


def _initial_state(resource: dict, source_record: dict, when) -> TriggerState:
    return TriggerState(CommitState(source_record.get("commit")), timer.fresh_timers(d.timer_triggers(resource), when))


def create(name: str, *, store: TaskStore | None = None, **flags) -> TaskInfo:
    """Define a task, as `az acr task create` (flags by their Python names: image=[...], context=...,
    file=..., cmd=..., body=<Dockerfile or task YAML text>, set=[...], set_secret=[...], schedule=[...],
    commit_trigger_enabled=..., base_image_trigger_enabled=..., base_image_trigger_type=..., timeout=...,
    platform=..., git_access_token=..., assign_identity=[...], registry=...). Everything is checked first
    (the repository is read, the Dockerfile or task file loaded); on any error nothing is stored."""
    acr = backend.cloud(store, flags.get("registry"))
    if acr is not None:
        return backend.create(acr, name, flags, _with_branch)
    store = _store(store)
    d.check_name(name)
    d.check_flags(flags)
    if name.lower() in (n.lower() for n in store.names()):
        raise UsageError(f"task {name} already exists (update it, or delete it first)")
    flags = _with_branch(name, flags)
    resource, given = d.build(name, flags, now=now())
    home = str(store.home)
    _remember(store, name, given)
    try:
        record = launch.check(resource, home)
        store.create(resource, _initial_state(resource, record, timer.utcnow()))
    except BaseException:
        secrets.forget(home, name)
        raise
    return show(name, store=store)


def update(name: str, *, store: TaskStore | None = None, **changes) -> TaskInfo:
    """Change a task, as `az acr task update`: only the flags given change."""
    acr = backend.cloud(store, changes.get("registry"))
    if acr is not None:
        return backend.update(acr, name, changes, _with_branch)
    store = _store(store)
    old = store.get(name)
    d.check_flags(changes)
    if changes.get("context"):
        changes = _with_branch(name, changes)
    new, given = d.update(old, changes, now=now())
    home = str(store.home)
    _remember(store, name, given)
    record = launch.check(new, home)
    when = timer.utcnow()
    old_timers = {t["name"]: t for t in d.timer_triggers(old)}
    unchanged = {t["name"] for t in d.timer_triggers(new) if old_timers.get(t["name"]) == t}
    store.replace(new, commit_baseline=record.get("commit") if d.git_source(new) != d.git_source(old) else KEEP,
                  timers=timer.fresh_timers(d.timer_triggers(new), when), keep_timers=unchanged)
    return show(name, store=store)


def show(name: str, *, store: TaskStore | None = None) -> TaskInfo:
    acr = backend.cloud(store)
    if acr is not None:
        return backend.show(acr, name)
    store = _store(store)
    return TaskInfo(d.public(store.get(name)), store.state(name))


def list(*, store: TaskStore | None = None) -> TaskList:  # noqa: A001 - the verb is `task list`
    acr = backend.cloud(store)
    if acr is not None:
        return backend.list_tasks(acr)
    return TaskList(TaskInfo(d.public(r), s) for r, s in _store(store).all())


def delete(name: str, *, store: TaskStore | None = None) -> None:
    acr = backend.cloud(store)
    if acr is not None:
        return acr.delete_task(name)
    store = _store(store)
    store.delete(name)
    secrets.forget(str(store.home), name)


def enable(name: str, *, store: TaskStore | None = None) -> TaskInfo:
    """Enable a task; its triggers start from now (no catch-up for the time it was disabled)."""
    acr = backend.cloud(store)
    if acr is not None:
        return backend.set_status(acr, name, d.ENABLED)
    store = _store(store)
    resource = store.get(name)
    resource["properties"]["status"] = d.ENABLED
    head = None
    if d.commit_trigger(resource):
        repo, branch, _ = d.git_source(resource)
        try:
            head = git.head(repo, branch, launch.git_token(resource, str(store.home)))
        except AcrMagicError:
            head = None  # the scheduler takes the head it first sees as the baseline
    store.replace(resource, commit_baseline=head, timers=timer.fresh_timers(d.timer_triggers(resource), timer.utcnow()))
    return show(name, store=store)


def disable(name: str, *, store: TaskStore | None = None) -> TaskInfo:
    acr = backend.cloud(store)
    if acr is not None:
        return backend.set_status(acr, name, d.DISABLED)
    store = _store(store)
    resource = store.get(name)
    resource["properties"]["status"] = d.DISABLED
    store.replace(resource)
    return show(name, store=store)


def run(name: str, *, store: TaskStore | None = None, progress=None, run_store: RunStore | None = None):
    """Run the task now (`az acr task run`): on its context (a git task: the branch head), recorded with the
    task's name. Returns the run; raises a RunError subclass when it does not succeed."""
    acr = backend.cloud(store)
    if acr is not None:
        return backend.run(acr, name, progress, run_store)
    store = _store(store)
    resource = store.get(name)
    if progress is None:
        from ..progress import make_progress

        progress = make_progress()
    launched = launch.start(resource, home=str(store.home), observer=progress,
                            run_store=run_store or RunStore(store.home))
    result = None
    try:
        result = launched.execution.run()
        return result
    except RunError as e:
        result = e.run
        raise
    finally:
        launched.source.close()
        after_run(store, name, result)


def list_runs(name: str | None = None, *, top: int | None = 15, status: str | None = None,
              store: TaskStore | None = None) -> RunList:
    """Runs of a task (or of every task), newest first, as `az acr task list-runs --name`."""
    acr = backend.cloud(store)
    if acr is not None:
        return backend.list_runs(acr, name, top, status)
    store = _store(store)
    if name is not None:
        store.get(name)  # an unknown task is an error, not an empty list
    runs = RunStore(store.home).list(task=name, status=status, top=None if name is None else top)
    if name is None:
        runs = [r for r in runs if r.task][:top] if top else [r for r in runs if r.task]
    return RunList(runs, query={"task": name, "status": status, "top": top})


# -- the scheduler in this process ---------------------------------------------------------------------------
def scheduler_start(poll_interval: float = DEFAULT_POLL_INTERVAL, **kwargs) -> str:
    """Start the scheduler in a background thread of this process (a kernel)."""
    return background.start(poll_interval, **kwargs)


def scheduler_stop() -> str:
    return background.stop()


def scheduler_status() -> str:
    return background.status()
