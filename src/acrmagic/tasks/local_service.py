"""Tasks kept on this machine: definitions and trigger state in the TaskStore, secrets beside it
(`secrets.py`), runs started through `launch` on the chosen target and recorded in the run store;
the scheduler (`scheduler.py`) fires their triggers."""

from __future__ import annotations

from ..errors import AcrMagicError, RunError, UsageError
from ..runs.model import Run, RunList, now
from ..runs.store import RunStore
from .. import gitsource as git
from . import definition as d
from . import launch, secrets, timer
from .base_image import after_run
from .service import TaskService, with_branch
from .store import KEEP, TaskStore
from .summary import TaskInfo, TaskList
from .trigger_state import CommitState, TriggerState


class LocalTasks(TaskService):
    def __init__(self, store: TaskStore):
        self.store = store
        self.home = str(store.home)

    def _remember(self, name: str, given: dict[str, str]) -> None:
        for key, value in given.items():
            secrets.remember(self.home, name, key, value)

    def _create(self, name: str, flags: dict) -> TaskInfo:
        if name.lower() in (n.lower() for n in self.store.names()):
            raise UsageError(f"task {name} already exists (update it, or delete it first)")
        flags = with_branch(name, flags)
        resource, given = d.build(name, flags, now=now())
        self._remember(name, given)
        try:
            record = launch.check(resource, self.home)
            state = TriggerState(CommitState(record.get("commit")),
                                 timer.fresh_timers(d.timer_triggers(resource), timer.utcnow()))
            self.store.create(resource, state)
        except BaseException:
            secrets.forget(self.home, name)
            raise
        return self.show(name)

    def _update(self, name: str, changes: dict) -> TaskInfo:
        old = self.store.get(name)
        if changes.get("context"):
            changes = with_branch(name, changes)
        new, given = d.update(old, changes, now=now())
        self._remember(name, given)
        record = launch.check(new, self.home)
        old_timers = {t["name"]: t for t in d.timer_triggers(old)}
        unchanged = {t["name"] for t in d.timer_triggers(new) if old_timers.get(t["name"]) == t}
        self.store.replace(new, commit_baseline=record.get("commit") if d.git_source(new) != d.git_source(old) else KEEP,
                           timers=timer.fresh_timers(d.timer_triggers(new), timer.utcnow()), keep_timers=unchanged)
        return self.show(name)

    def show(self, name: str) -> TaskInfo:
        return TaskInfo(d.public(self.store.get(name)), self.store.state(name))

    def list(self) -> TaskList:  # noqa: A003
        return TaskList(TaskInfo(d.public(r), s) for r, s in self.store.all())

    def delete(self, name: str) -> None:
        self.store.delete(name)
        secrets.forget(self.home, name)

    def set_status(self, name: str, status: str) -> TaskInfo:
        """Enabling starts the triggers from now (no catch-up for the time the task was disabled)."""
        resource = self.store.get(name)
        resource["properties"]["status"] = status
        if status == d.DISABLED:
            self.store.replace(resource)
            return self.show(name)
        head = None
        if d.commit_trigger(resource):
            repo, branch, _ = d.git_source(resource)
            try:
                head = git.head(repo, branch, launch.git_token(resource, self.home))
            except AcrMagicError:
                head = None  # the scheduler takes the head it first sees as the baseline
        self.store.replace(resource, commit_baseline=head,
                           timers=timer.fresh_timers(d.timer_triggers(resource), timer.utcnow()))
        return self.show(name)

    def run(self, name: str, observer=None, run_store: RunStore | None = None) -> Run:
        """On the task's context (a git task: the branch head), recorded with the task's name."""
        resource = self.store.get(name)
        if observer is None:
            from ..progress import make_progress

            observer = make_progress()
        launched = launch.start(resource, home=self.home, observer=observer,
                                run_store=run_store or RunStore(self.store.home))
        result = None
        try:
            result = launched.execution.run()
            return result
        except RunError as e:
            result = e.run
            raise
        finally:
            launched.source.close()
            after_run(self.store, name, result)

    def list_runs(self, name: str | None, top: int | None, status: str | None) -> RunList:
        if name is not None:
            self.store.get(name)  # an unknown task is an error, not an empty list
        runs = RunStore(self.store.home).list(task=name, status=status, top=None if name is None else top)
        if name is None:
            runs = [r for r in runs if r.task][:top] if top else [r for r in runs if r.task]
        return RunList(runs, query={"task": name, "status": status, "top": top})


__all__ = ["LocalTasks"]
