"""The emulator fires its tasks' triggers as the service does, from the Task resources it stores.

Every `--poll-interval` seconds (default 10) it looks at each enabled task:

- a commit trigger (`sourceTriggers` with the `commit` event, enabled): the head of the branch
  (`git ls-remote`, the task's token in git's environment only). The first head seen is the
  baseline; a later, different head starts an AutoBuild/AutoRun of exactly that commit.
- a base-image trigger (enabled): after a successful run the task watches the images its build stood
  on, with the digests the build used (`Runtime`: the final stage's base; `All`: every stage's). A
  digest that changes in the registry (loopback registries, Docker Hub names through the offline
  mirror) starts a run with the `imageUpdateTrigger` payload.
- timer triggers: 5-field cron in UTC (acrspec); an occurrence that has come starts a run with the
  `timerTrigger` payload. When the emulator was not polling across several occurrences, one run.

A task's triggered runs never overlap: a fire waits until the task's previous triggered run has ended.
`--clock-offset SECONDS` shifts the clock the timers see (a test hook).

This is the service's side, written from the API's definitions: it shares no code with acrmagic's own
local scheduler (acrmagic.tasks).
"""

from __future__ import annotations

import sys
import threading
import uuid
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from .. import config, refs
from ..errors import AcrMagicError
from ..registry import manifest_digest
from ..acrspec import BASE_IMAGE_ALL, BASE_IMAGE_RUNTIME, DISABLED, ENABLED
from ..states import TERMINAL
from .sources import ContextPolicy, head
from .state import Registry, Store
from .tasks_api import git_token

DEFAULT_POLL_INTERVAL = 10.0
#: who a triggered run names as its caller (systemData.lastModifiedBy)
TRIGGER_CALLER = {"oid": "acr-task-trigger", "appid": "acr-task-trigger"}
_LOOPBACK = ("localhost", "127.0.0.1", "::1")


@dataclass
class _Fire:
    kind: str          # sourceTrigger | imageUpdateTrigger | timerTrigger (the Run resource's key)
    payload: dict
    commit: str | None = None


@dataclass
class _TaskState:
    """What the triggers remember of one task between polls."""
    commit: str | None = None                            # the branch head last seen (the baseline)
    source: tuple | None = None                          # (url, branch) that head belongs to
    timers: dict[str, datetime] = field(default_factory=dict)  # timer name -> its next occurrence
    schedules: dict[str, str] = field(default_factory=dict)    # timer name -> the cron it was planned from
    watch: dict[str, str] = field(default_factory=dict)  # base image -> the digest the last build used
    running: str | None = None                           # the run id of the task's triggered run going now
    pending: deque = field(default_factory=deque)        # fires waiting for it
    failed: str | None = None                            # the last poll error said (said once)


def _now() -> datetime:
    return datetime.now(timezone.utc)


def next_after(expr: str, when: datetime) -> datetime:
    from croniter import croniter

    return croniter(expr, when).get_next(datetime).astimezone(timezone.utc)


def _props(task: dict) -> dict:
    return task.get("properties") or {}


def _enabled(item: dict | None) -> bool:
    return bool(item) and item.get("status", ENABLED) == ENABLED


def commit_trigger(task: dict) -> dict | None:
    for source in (_props(task).get("trigger") or {}).get("sourceTriggers") or []:
        if _enabled(source) and "commit" in (source.get("sourceTriggerEvents") or ["commit"]):
            return source
    return None


def timers_of(task: dict) -> list[dict]:
    return [t for t in (_props(task).get("trigger") or {}).get("timerTriggers") or [] if _enabled(t)]


def base_trigger(task: dict) -> dict | None:
    base = (_props(task).get("trigger") or {}).get("baseImageTrigger")
    return base if _enabled(base) else None


def watched(base_images: list[dict], kind: str) -> dict[str, str]:
    """{image: digest} a build stood on: the final stage's base (listed last) for Runtime, all for All."""
    known = [(b["image"], b["digest"]) for b in base_images or [] if b.get("image") and b.get("digest")]
    return dict(known if kind == BASE_IMAGE_ALL else known[-1:])


def current_digest(image: str) -> str | None:
    """The digest `image` has now; AcrMagicError when its registry cannot be asked (offline: no remote)."""
    ref = refs.parse(image)
    host = config.MIRROR_REGISTRY if ref.registry == refs.DOCKER_HUB else ref.registry
    if host.split(":")[0] not in _LOOPBACK:
        raise AcrMagicError(f"the emulator works offline and cannot read {image} from {host}")
    return manifest_digest(host, ref.repository, ref.reference)


class Triggers:
    def __init__(self, store: Store, tasks_api, contexts: ContextPolicy | None = None,
                 poll_interval: float = DEFAULT_POLL_INTERVAL, clock_offset: float = 0.0, log=None):
        self.store, self.api = store, tasks_api
        self.contexts = contexts or ContextPolicy()
        self.poll_interval = poll_interval
        offset = timedelta(seconds=clock_offset)
        self.clock = lambda: _now() + offset
        self.log = log or (lambda line: print(f"triggers: {line}", file=sys.stderr, flush=True))
        self._states: dict[tuple[str, str], _TaskState] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._mutex = threading.RLock()

    def _state(self, registry: Registry, name: str) -> _TaskState:
        return self._states.setdefault((registry.id.lower(), name.lower()), _TaskState())

    # -- what the task API tells ------------------------------------------------------------------------
    def sync(self, registry: Registry, task: dict, old: dict | None) -> None:
        """A task was created or changed: plan its timers; a new source or a re-enabled task starts a new
        commit baseline."""
        with self._mutex:
            state = self._state(registry, task["name"])
            reenabled = (old is not None and _props(old).get("status") == DISABLED
                         and _props(task).get("status") == ENABLED)
            source = commit_trigger(task)
            key = (source or {}).get("sourceRepository") or {}
            if reenabled or (key.get("repositoryUrl"), key.get("branch")) != state.source:
                state.commit, state.source = None, (key.get("repositoryUrl"), key.get("branch"))
            now = self.clock()
            timers = {t["name"]: t["schedule"] for t in timers_of(task)}
            for name in list(state.timers):
                if name not in timers or timers[name] != state.schedules.get(name) or reenabled:
                    state.timers.pop(name)
            for name, expr in timers.items():
                if name not in state.timers:
                    state.timers[name], state.schedules[name] = next_after(expr, now), expr

    def forget(self, registry: Registry, task: str) -> None:
        with self._mutex:
            self._states.pop((registry.id.lower(), task.lower()), None)

    def learned(self, task: dict, job, details: dict) -> None:
        """After a successful run: the base images the task now stands on, with the digests its build used."""
        registry = next((r for r, t in self.store.all_tasks() if t["id"].lower() == task["id"].lower()), None)
        if registry is None:
            return
        kind = (base_trigger(task) or {}).get("baseImageTriggerType", BASE_IMAGE_RUNTIME)
        with self._mutex:
            self._state(registry, task["name"]).watch = watched(details.get("baseImages") or [], kind)

    # -- the poll -----------------------------------------------------------------------------------------
    def tick(self) -> None:
        for registry, task in self.store.all_tasks():
            try:
                self._check(registry, task)
            except Exception as e:  # one task's trouble must not stop the others' triggers
                self.log(f"task {task.get('name')}: trigger check failed: {type(e).__name__}: {e}")

    def _check(self, registry: Registry, task: dict) -> None:
        with self._mutex:
            state = self._state(registry, task["name"])
            if state.running is not None:
                try:
                    if self.store.run(registry, state.running).status in TERMINAL:
                        state.running = None
                except AcrMagicError:
                    state.running = None
        if _props(task).get("status") != ENABLED:
            return
        fires = self._timer_fires(task, state) + self._commit_fires(task, state) + self._base_fires(task, state)
        with self._mutex:
            state.pending.extend(fires)
            if state.running is None and state.pending:
                self._start(registry, task, state, state.pending.popleft())

    def _timer_fires(self, task: dict, state: _TaskState) -> list[_Fire]:
        now, fires = self.clock(), []
        with self._mutex:
            for name, due in list(state.timers.items()):
                if due <= now:
                    expr = state.schedules[name]
                    latest = due
                    while (following := next_after(expr, latest)) <= now:  # several missed: the latest, once
                        latest = following
                    state.timers[name] = next_after(expr, now)
                    fires.append(_Fire("timerTrigger", {"timerTriggerName": name,
                                                        "scheduleOccurrence": latest.isoformat()}))
        return fires

    def _commit_fires(self, task: dict, state: _TaskState) -> list[_Fire]:
        source = commit_trigger(task)
        repo = (source or {}).get("sourceRepository") or {}
        url, branch = repo.get("repositoryUrl"), repo.get("branch")
        if not url:
            return []
        try:
            self.contexts.check(url, target="repositoryUrl")
            sha = head(url, branch, git_token(task))
        except AcrMagicError as e:  # ArmError (not under --context-root), SourceUnavailable (offline, no branch)
            message = e.message
            if state.failed != message:
                state.failed = message
                self.log(f"task {task['name']}: cannot read {url}: {message}")
            return []
        state.failed = None
        with self._mutex:
            if state.commit is None or state.source != (url, branch):
                state.commit, state.source = sha, (url, branch)  # the baseline
                return []
            if sha == state.commit:
                return []
            state.commit = sha
        return [_Fire("sourceTrigger", {"id": str(uuid.uuid4()), "eventType": "commit", "commitId": sha,
                                        "repositoryUrl": url, "branchName": branch,
                                        "providerType": "Github" if "github.com" in url.lower() else "Git"}, sha)]

    def _base_fires(self, task: dict, state: _TaskState) -> list[_Fire]:
        if base_trigger(task) is None or not state.watch:
            return []
        images = []
        for image, digest in list(state.watch.items()):
            try:
                now = current_digest(image)
            except AcrMagicError as e:
                if state.failed != e.message:
                    state.failed = e.message
                    self.log(f"task {task['name']}: {e.message}")
                continue
            if now and now != digest:
                ref = refs.parse(image)
                images.append({"registry": ref.registry, "repository": ref.repository, "tag": ref.tag or "latest",
                               "previousDigest": digest, "newDigest": now})
                state.watch[image] = now  # fired once per new digest
        if not images:
            return []
        return [_Fire("imageUpdateTrigger", {"id": str(uuid.uuid4()), "timestamp": self.clock().isoformat(),
                                             "images": images})]

    def _start(self, registry: Registry, task: dict, state: _TaskState, fire: _Fire) -> None:
        try:
            queued = self.api.start(registry, task, TRIGGER_CALLER, trigger={fire.kind: fire.payload},
                                    commit_id=fire.commit)
        except Exception as e:
            self.log(f"task {task['name']}: the {fire.kind} run could not start: {e}")
            return
        state.running = queued["name"]
        self.log(f"task {task['name']}: {fire.kind} started run {queued['name']}")

    # -- the loop -----------------------------------------------------------------------------------------
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


__all__ = ["Triggers", "DEFAULT_POLL_INTERVAL", "watched", "next_after"]
