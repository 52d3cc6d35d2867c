"""The local target: runs on a Docker engine with BuildKit, run IDs from the local run store.

    quick_build.py   a Dockerfile + context -> image -> push
    task_run.py      a task file's steps as containers, on the task-file engine's scheduler
    task_steps.py    acr-builder's container contract for one step
    containers.py    containers, volumes, archives and pulls, for the steps
    builds.py        builds, pushes and cancels on the engine;  buildkit.py  its progress trace
    engine.py        the Engine API transport: the one engine client every module here uses
"""

from __future__ import annotations

import getpass
import os

from ... import config, refs
from ...errors import UsageError
from ...runrequest import QuickBuild, RunRequest, StoredTaskRun
from ..base import RunHandle, Target
from . import leftovers
from .builds import EngineBuilder


class LocalTarget(Target):
    kind = "local"
    # `acrmagic cancel` flags the run in the store and lets the process that owns it stop it cleanly
    # (recorded Canceled, containers removed); `cancel()` is the fallback when that process is gone.
    owner_cancels = True

    def __init__(self, registry: str | None = None, builder: EngineBuilder | None = None):
        self.registry = registry or config.default_registry()
        if not refs.has_registry(self.registry + "/x"):
            raise UsageError(f"-r/--registry: {self.registry!r} is neither a registry address (such as "
                             "localhost:5000) nor an ACR registry chosen with `acrmagic use`")
        self._builder = builder

    def builder(self) -> EngineBuilder:
        if self._builder is None:
            self._builder = EngineBuilder()  # raises EngineUnavailable, with how to start an engine
        return self._builder

    def describe(self) -> dict:
        return {"kind": self.kind, "registry": self.registry, "engine": os.environ.get("DOCKER_HOST") or "default"}

    def who(self) -> str:
        return getpass.getuser()

    def submit(self, request: RunRequest, reserve_id) -> RunHandle:
        if isinstance(request, StoredTaskRun):
            raise UsageError(f"task {request.task}: the local engine keeps no tasks (the local task store "
                             "starts its tasks' runs itself)")
        if request.agent_pool:
            raise UsageError("--agent-pool: agent pools are ACR's; this run goes to the local engine "
                             "(choose a registry with `acrmagic use REGISTRY`)")
        if isinstance(request, QuickBuild):
            from .quick_build import submit
        else:
            from .task_run import submit
        removed: list[str] = []

        def swept_then_reserved() -> str:
            # the run's first request to the engine: it answers (or EngineUnavailable) before an ID is taken
            removed.extend(self.remove_leftovers())
            return reserve_id()

        handle = submit(self.builder, request, self.registry, swept_then_reserved)
        if removed:  # a killed run's containers and volumes: gone now, and the new run's log says so
            handle.notes.append(f"removed what runs of processes that no longer exist left on the engine: "
                                f"{', '.join(removed)}")
        return handle

    def remove_leftovers(self) -> list[str]:
        return leftovers.remove_orphans(self.builder().engine)

    def cancel(self, cancel_ref: str) -> None:
        kind, _, ref = cancel_ref.partition(":")
        if kind == "build":
            self.builder().cancel(ref)
        elif kind == "task":
            leftovers.remove_instance(self.builder().engine, ref)
