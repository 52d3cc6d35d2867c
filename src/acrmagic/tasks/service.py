"""Where tasks are kept and run: one interface, the task verbs' seam (as `targets.base.Target` is the
runs' seam).

    service = tasks.choose(store, registry) # once per verb: the local task store, or ACR's task resources
    service.create(name, flags) / update / show / list / delete / set_status / run / list_runs

`LocalTasks` (`local_service.py`) keeps tasks in the TaskStore and runs them on the chosen target;
its scheduler fires their triggers. `AcrTasks` (`acr_service.py`) keeps them in ACR (or its emulator)
through the ACR target, where the service fires the triggers. What both sides share is stated here once:
the checks of a definition before anything is kept, the branch a git context without one gets, and
(in `definition.manual_trigger`) what a manual `task run` records.
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from pathlib import Path

from .. import gitsource as git
from ..runs.model import Run, RunList
from ..runs.store import RunStore
from . import definition as d
from . import secrets
from .summary import TaskInfo, TaskList


class TaskService(ABC):
    """Task definitions and their runs, in one place (this machine, or an ACR registry)."""

    def create(self, name: str, flags: dict) -> TaskInfo:
        """`az acr task create`: checked first; on any error nothing is kept."""
        d.check_name(name)
        d.check_flags(flags)
        return self._create(name, flags)

    def update(self, name: str, changes: dict) -> TaskInfo:
        """`az acr task update`: only the flags given change."""
        d.check_flags(changes)
        return self._update(name, changes)

    @abstractmethod
    def _create(self, name: str, flags: dict) -> TaskInfo:
        """Build the definition from checked flags and keep it."""

    @abstractmethod
    def _update(self, name: str, changes: dict) -> TaskInfo:
        """Apply checked changes to the kept definition."""

    @abstractmethod
    def show(self, name: str) -> TaskInfo: ...

    @abstractmethod
    def list(self) -> TaskList: ...  # noqa: A003 - the verb is `task list`

    @abstractmethod
    def delete(self, name: str) -> None: ...

    @abstractmethod
    def set_status(self, name: str, status: str) -> TaskInfo:
        """Enable (d.ENABLED) or disable (d.DISABLED) the task's triggers."""

    @abstractmethod
    def run(self, name: str, observer=None, run_store: RunStore | None = None) -> Run:
        """`az acr task run`: a manual run now, recorded as `d.manual_trigger` says; RunError unless it succeeds."""

    @abstractmethod
    def list_runs(self, name: str | None, top: int | None, status: str | None) -> RunList: ...


def with_branch(name: str, flags: dict) -> dict:
    """A git context without a branch gets the remote's default branch, named in the context."""
    from ..context import is_git_url

    context = flags.get("context")
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
    if given and given.startswith("@"):
        path = Path(given[1:]).expanduser()
        secrets.check_file(path, "--git-access-token")
        return secrets.check_token(path.read_text(), f"--git-access-token {given}")
    found = given or os.environ.get(secrets.env_name(name, secrets.GIT_TOKEN))
    return None if found is None else secrets.check_token(found, "--git-access-token")


__all__ = ["TaskService", "with_branch"]
