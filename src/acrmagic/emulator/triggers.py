"""The emulator fires its tasks' triggers with the local scheduler's own code.

Every stored task is mirrored, secrets left out, into a TaskStore of the emulator's (state dir
`tasks/`), named `<registry>.<task>`: acrmagic.tasks.scheduler.Scheduler.check() then reads commit heads
(`git ls-remote`, the task's token handed over in this process's memory only), base-image digests
(manifest HEADs on the local registry / mirror) and croniter timers exactly as the local scheduler
does, and writes its fires to that store's outbox. This module only turns each fire into a run in
the emulator's own run state (tasks_api.TasksApi.start), with ACR's trigger payload on the run, and
closes the fire when the run ends (a task's runs never overlap, as locally).

The base-image watch list of a task comes from its last successful run: the Dockerfile's FROM images
(final stage for `Runtime`, every stage for `All`) and their digests read right after the build.

`--poll-interval` sets the check interval (default 10 s); `--clock-offset SECONDS` shifts the clock
the timers see (a test hook: e.g. a cron for a fixed minute fires at once).
"""

from __future__ import annotations

import copy
import sys
import threading
from datetime import timedelta
from pathlib import Path

from ..errors import UsageError
from ..runs.model import TRIGGER_KEYS  # where ACR's Run resource keeps each trigger's payload
from ..tasks import base_image, secrets, timer
from ..tasks import definition as d
from ..tasks.scheduler import DEFAULT_POLL_INTERVAL, Scheduler
from ..tasks.store import DONE, PENDING, STARTED, TaskStore
from ..states import TERMINAL
from .state import Registry, Store
from .tasks_api import git_token, public


def local_shape(task: dict, home: str, name: str | None = None) -> dict:
    """The task as acrmagic.tasks' scheduler reads it: ACR's JSON without secrets, the git token by
    reference to this process's memory."""
    resource = public(task)
    resource["name"] = name or task["name"]
    token = git_token(task)
    resource[d.EXTENSION] = {"registry": None, "dockerfile": None,
                             "secretRefs": {secrets.GIT_TOKEN: "memory"} if token else {}}
    if token:
        secrets.remember(home, resource["name"], secrets.GIT_TOKEN, token)
    return resource


def mirror_name(registry: Registry, task: str) -> str:
    return f"{registry.name}.{task}"


class Triggers:
    def __init__(self, store: Store, tasks_api, home: Path, poll_interval: float = DEFAULT_POLL_INTERVAL,
                 clock_offset: float = 0.0, log=None):
        self.store, self.api = store, tasks_api
        self.tasks = TaskStore(home)
        self.home = str(self.tasks.home)
        self.poll_interval = poll_interval
        offset = timedelta(seconds=clock_offset)
        self.clock = lambda: timer.utcnow() + offset
        self.log = log or (lambda line: print(f"triggers: {line}", file=sys.stderr, flush=True))
        self.scheduler = Scheduler(self.tasks, clock=self.clock, poll_interval=poll_interval, log=self.log)
        self._names: dict[str, tuple[Registry, str]] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._mutex = threading.Lock()

    # -- the mirror ---------------------------------------------------------------------------------------
    def sync(self, registry: Registry, task: dict, old: dict | None) -> None:
        name = mirror_name(registry, task["name"])
        resource = local_shape(task, self.home, name)
        with self._mutex:
            self._names[name.lower()] = (registry, task["name"])
            now = self.clock()
            if old is None or not self._exists(name):
                self.tasks.create(resource, {"commit": {"last": None},
                                             "timers": timer.fresh_state(d.timer_triggers(resource), now)})
                return
            before = local_shape(old, self.home, name)
            reenabled = d.enabled(resource) and not d.enabled(before)
            old_timers = {t["name"]: t for t in d.timer_triggers(before)}

            def change(state: dict) -> None:
                if reenabled or d.git_source(resource) != d.git_source(before):
                    state["commit"] = {"last": None}  # the head seen next is the baseline
                kept = {} if reenabled else {n: s for n, s in state.get("timers", {}).items()
                                             for t in d.timer_triggers(resource)
                                             if t["name"] == n and old_timers.get(n) == t}
                state["timers"] = {**timer.fresh_state(d.timer_triggers(resource), now), **kept}
            self.tasks.replace(resource, change)

    def _exists(self, name: str) -> bool:
        return name.lower() in (n.lower() for n in self.tasks.names())

    def forget(self, registry: Registry, task: str) -> None:
        name = mirror_name(registry, task)
        with self._mutex:
            try:
                self.tasks.delete(name)
            except UsageError:
                pass
            secrets.forget(self.home, name)

    def learned(self, task: dict, job, details: dict) -> None:
        """After a successful run: the images the task now stands on (with the digests its build used), and
        the tags it pushed."""
        registry = next(r for r, t in self.store.all_tasks() if t is task or t["id"].lower() == task["id"].lower())
        name = mirror_name(registry, task["name"])
        kind = (task["properties"].get("trigger", {}).get("baseImageTrigger") or {}).get("baseImageTriggerType",
                                                                                       d.RUNTIME)
        watch = base_image.watched(details.get("baseImages") or [], details.get("dockerfile"),
                                   getattr(job, "build_args", {}) or {}, kind)
        outputs = [f"{i['registry']}/{i['repository']}:{i['tag']}" for i in details.get("outputImages") or []
                   if i.get("tag")]

        def change(state: dict) -> None:
            base = state.setdefault("base", {})
            base["watch"], base["outputs"] = watch, outputs
            base["fired"] = {k: v for k, v in base.get("fired", {}).items() if watch.get(k) not in (None, v)}
        self.tasks.change_state(name, change)

    # -- the loop -----------------------------------------------------------------------------------------
    def tick(self) -> None:
        with self._mutex:
            try:
                self.scheduler.check()
            except Exception as e:  # a broken check must not stop the emulator's triggers
                self.log(f"trigger check failed: {type(e).__name__}: {e}")
            for fire in self.tasks.open_fires():
                self._advance(fire)

    def _advance(self, fire) -> None:
        found = self._names.get(fire.task.lower())
        if found is None:
            self.tasks.mark(fire.id, DONE, error="the task was deleted")
            return
        registry, task_name = found
        if fire.status == STARTED:
            try:
                run = self.store.run(registry, fire.run_id)
            except Exception:
                self.tasks.mark(fire.id, DONE, error="the run is gone")
                return
            if run.status in TERMINAL:
                self.tasks.mark(fire.id, DONE, run_status=run.status)
            return
        if fire.status != PENDING:
            return
        if any(f.task.lower() == fire.task.lower() and f.status == STARTED for f in self.tasks.open_fires()):
            return  # the task's previous run is still going
        try:
            task = self.store.task(registry, task_name)
        except Exception:
            self.tasks.mark(fire.id, DONE, error="the task was deleted")
            return
        payload = copy.deepcopy(fire.payload)
        if fire.kind == "Timer":
            payload = {"timerTriggerName": payload["timerTriggerName"],
                       "scheduleOccurrence": payload["scheduledOccurrence"]}
        try:
            queued = self.api.start(registry, task, {"oid": "acr-task-trigger", "appid": "acr-task-trigger"},
                                    trigger={TRIGGER_KEYS[fire.kind]: payload},
                                    commit_id=payload.get("commitId") if fire.kind == "Commit" else None)
        except Exception as e:
            self.tasks.mark(fire.id, DONE, error=f"{type(e).__name__}: {e}")
            self.log(f"task {task_name}: the {fire.kind} run could not start: {e}")
            return
        self.tasks.mark(fire.id, STARTED, run_id=queued["name"])
        self.log(f"task {task_name}: {fire.kind} trigger started run {queued['name']}")

    def start(self) -> None:
        def loop() -> None:
            while not self._stop.is_set():
                self.tick()
                self._stop.wait(self.poll_interval)
        self._thread = threading.Thread(target=loop, name="emulator-triggers", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(30)
        if self.scheduler._pool is not None:
            self.scheduler._pool.shutdown(wait=False)


__all__ = ["Triggers", "local_shape", "mirror_name"]
