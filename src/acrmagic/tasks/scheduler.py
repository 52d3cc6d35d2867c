"""The local scheduler: checks every enabled task's triggers at the poll interval and starts the runs
they fire through the one runner.

    tick = check (commit.py, base_image.py, timer.py: each trigger's check -> fires in the outbox, store.py)
         + dispatch (outbox -> runs, each in a worker thread)

- One active scheduler per store (scheduler_lock.py). A second one (another kernel, another terminal)
  stands by: its ticks do nothing until the lock is free. In a kernel it runs in a thread of its own
  (kernel_scheduler.py).
- A restart neither loses nor doubles runs: fires are written with the state that produced them, and a
  fire is linked to a run already recorded for it instead of being run again (store.py).
- A broken trigger on one task (an unreachable repository, a registry that does not answer, a token
  that is not there) is recorded on that task (its trigger state's errors) and the others go on.
- Runs of one task never overlap: a task's next fire waits until its run ends; fires of different
  tasks run side by side, up to `max_parallel`.
- Network waits (git ls-remote, manifest HEADs) happen once per repository/image per tick, in parallel,
  before the per-task pass; the pass itself only compares what it read.
"""

from __future__ import annotations

import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Callable

from ..errors import AcrMagicError, RunError, UsageError
from ..runs.store import RunStore
from ..states import QUEUED, RUNNING
from .. import gitsource, targets
from . import base_image, commit, launch, timer
from . import definition as d
from .base_image import after_run
from .scheduler_lock import SchedulerLock
from .store import DONE, PENDING, STARTED, Fire, TaskStore
from .trigger_state import RUN_ERROR, TriggerState

__all__ = ["Scheduler", "SchedulerLock", "Tick", "DEFAULT_POLL_INTERVAL", "MAX_PARALLEL", "STOP_GRACE"]

DEFAULT_POLL_INTERVAL = 10.0  # seconds: a commit is picked up within this, on average half of it
STOP_GRACE = 30.0  # seconds a stopping scheduler lets its runs finish before it cancels them
MAX_PARALLEL = 64  # runs of different tasks at once: more would only queue on the engine


@dataclass
class Tick:
    """What one tick did."""

    standby: bool = False  # another scheduler holds the lock: nothing was checked
    fired: list[Fire] = field(default_factory=list)
    started: list[str] = field(default_factory=list)  # fire ids whose runs started
    errors: dict[str, dict] = field(default_factory=dict)  # task -> {trigger: message}


class _FireObserver:
    """Links the fire to its run the moment the run is recorded; shows nothing."""

    cancel_requested = False  # a fired run is cancelled through the run store

    def __init__(self, store: TaskStore, fire: Fire, log: Callable[[str], None]):
        self.store, self.fire, self.log = store, fire, log
        self.run_id: str | None = None

    def start(self, run) -> None:
        self.run_id = run.run_id
        self.store.mark(self.fire.id, STARTED, run_id=run.run_id)
        self.log(f"run {run.run_id} of task {self.fire.task} started ({self.fire.kind})")

    def event(self, ev, line) -> None: ...

    def finish(self, run) -> None: ...


class Scheduler:
    def __init__(self, store: TaskStore | None = None, clock: Callable[[], datetime] = timer.utcnow,
                 poll_interval: float = DEFAULT_POLL_INTERVAL, *, run_store: RunStore | None = None,
                 heads: Callable[[str, str, str | None], str] | None = None,
                 digests: base_image.DigestChecker | None = None, target=None, max_parallel: int = 2,
                 log: Callable[[str], None] | None = None):
        self.store = store or TaskStore()
        self.home = str(self.store.home)
        self.run_store = run_store or RunStore(self.store.home)
        self.clock, self.poll_interval = clock, poll_interval
        self.heads = heads or gitsource.head
        self.digests = digests or base_image.DigestChecker()
        if not isinstance(max_parallel, int) or not 1 <= max_parallel <= MAX_PARALLEL:
            raise UsageError(f"scheduler: --max-parallel must be 1 to {MAX_PARALLEL}, got {max_parallel!r}")
        self.target, self.max_parallel = target, max_parallel
        self.log = log or (lambda line: None)
        self.lock = SchedulerLock(self.store.home)
        self._active: dict[str, threading.Thread] = {}  # task -> the worker running its run
        self._active_runs: dict[str, str] = {}  # task -> run id
        self._mutex = threading.Lock()
        self._wake = threading.Event()
        self._pool: ThreadPoolExecutor | None = None  # for network waits; threads made once, not per tick
        self._parsed: dict[tuple, tuple[str, object]] = {}  # JSON text -> parsed, so a tick parses only changes
        self._recovered = False

    def _rows(self) -> list[tuple[dict, TriggerState]]:
        rows, parsed = [], {}
        for name, resource_text, state_text in self.store.all_text():
            for key, text, load in ((("r", name), resource_text, json.loads),
                                    (("s", name), state_text, lambda t: TriggerState.from_json(json.loads(t)))):
                cached = self._parsed.get(key)
                parsed[key] = cached if cached and cached[0] == text else (text, load(text))
            rows.append((parsed[("r", name)][1], parsed[("s", name)][1]))
        self._parsed = parsed
        return rows

    def pool(self) -> ThreadPoolExecutor:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(8, thread_name_prefix="acrmagic-trigger-check")
        return self._pool

    # -- one tick ------------------------------------------------------------------------------------------
    def tick(self) -> Tick:
        if not self.lock.acquire():
            return Tick(standby=True)
        if not self._recovered:  # first tick as the active scheduler: clear what a killed one left
            self._recovered = True
            self.recover()
        result = self.check()
        result.started = self.dispatch()
        return result

    def recover(self) -> list[str]:
        """What runs of processes that no longer exist (a scheduler killed with SIGKILL, a dead kernel)
        left behind: the run store has recorded those runs Error already (on opening); their source
        checkouts, step and helper containers and volumes go now, said in one line."""
        removed = launch.remove_dead_checkouts(self.home)
        try:
            removed += targets.from_config({"kind": "local"}).remove_leftovers()
        except AcrMagicError:  # no engine answers here: nothing of ours can be on it
            pass
        if removed:
            self.log(f"removed what runs of processes that no longer exist left behind: {', '.join(removed)}")
        return removed

    def check(self) -> Tick:
        """Check every enabled task's triggers; fires go to the outbox (no run starts here)."""
        result = Tick()
        now = self.clock()
        rows = [(r, s) for r, s in self._rows() if d.enabled(r)]
        busy = {f.task for f in self.store.open_fires()} | set(self._active)
        heads = commit.fetch_heads([r for r, _ in rows], self.heads, self.pool(), self.home)
        self.digests.clear()
        self.digests.prefetch(self.pool(), {image for r, s in rows if d.base_image_trigger(r) and s.base
                               for image in s.base.watch})
        order, upstream = base_image.dependency_order(
            {r["name"]: set(s.base.watch if s.base else ()) for r, s in rows},
            {r["name"]: set(s.base.outputs if s.base else ()) for r, s in rows})
        by_name = {r["name"]: (r, s) for r, s in rows}
        for name in order:
            resource, state = by_name[name]
            # a run that could not start stays on record until a run of the task starts
            errors = {k: v for k, v in state.errors.items() if k == RUN_ERROR}
            fired = commit.check(self.store, resource, state, heads, errors)
            fired += timer.check(self.store, name, d.timer_triggers(resource), state, now)
            # built on a task that is rebuilding: wait for its new image, then rebuild once
            if not any(u in busy for u in upstream.get(name, ())):
                fired += base_image.check(self.store, resource, state, now, self.digests, errors)
            if fired:
                busy.add(name)
                result.fired += fired
            if errors != state.errors:
                self.store.set_trigger_errors(name, errors)
                for trig, message in errors.items():
                    self.log(f"task {name}: {trig} trigger: {message}")
            if errors:
                result.errors[name] = errors
        for fire in result.fired:
            self.log(f"task {fire.task}: {fire.kind} trigger fired ({describe(fire)})")
        return result

    # -- starting runs -----------------------------------------------------------------------------------------
    def dispatch(self) -> list[str]:
        """Start the runs of pending fires: oldest first, one run per task at a time (only the active
        scheduler, the one holding the lock, starts runs)."""
        started = []
        if not self.lock.held:
            return started
        for fire in self.store.open_fires():
            with self._mutex:
                if fire.task in self._active or len(self._active) >= self.max_parallel:
                    continue
            if self._settle(fire):
                continue
            try:
                resource = self.store.get(fire.task)
            except UsageError:
                self.store.mark(fire.id, DONE, error="the task was deleted")
                continue
            worker = threading.Thread(target=self._run_fire, args=(fire, resource), daemon=True,
                                      name=f"acrmagic-task-{fire.task}")
            with self._mutex:
                self._active[fire.task] = worker
            worker.start()
            started.append(fire.id)
        return started

    def _settle(self, fire: Fire) -> bool:
        """True when the fire needs no new run: its run exists already (recorded before a restart), or
        another process is running this task right now (the fire waits)."""
        run = None
        if fire.run_id:
            try:
                run = self.run_store.get(fire.run_id)
            except AcrMagicError:
                run = None
        if run is None:
            needle = fire.payload.get("id") or fire.payload.get("scheduledOccurrence")
            run = next((r for r in self.run_store.list(task=fire.task, text=needle, top=20)
                        if r.trigger_details == fire.payload), None)
        if run is not None:
            if run.finished:
                self.store.mark(fire.id, DONE, run_id=run.run_id, run_status=run.status)
                after_run(self.store, fire.task, run)
            elif fire.status == PENDING:
                self.store.mark(fire.id, STARTED, run_id=run.run_id)
            return True
        for status in (RUNNING, QUEUED):
            for r in self.run_store.list(task=fire.task, status=status, top=5):
                if self.run_store.owner_alive(r.run_id):
                    return True  # a manual run of the task in another process: no overlap
        return False

    def _run_fire(self, fire: Fire, resource: dict) -> None:
        trigger = {"runType": d.run_type(resource), "type": fire.kind, "task": fire.task, "details": fire.payload}
        observer = _FireObserver(self.store, fire, self.log)
        run = None
        try:
            launched = launch.start(resource, home=self.home, observer=observer, run_store=self.run_store,
                                    trigger=trigger, commit_id=fire.payload.get("commitId"), target=self.target)
            with self._mutex:
                self._active_runs[fire.task] = observer.run_id
            self.store.clear_trigger_error(fire.task, RUN_ERROR)
            try:
                run = launched.execution.run()
            except RunError as e:
                run = e.run
            finally:
                launched.source.close()
            self.store.mark(fire.id, DONE, run_status=run.status if run else None)
            self.log(f"run {run.run_id} of task {fire.task}: {run.status}" if run else f"task {fire.task}: run ended")
            after_run(self.store, fire.task, run)
        except AcrMagicError as e:  # the run could not start (checkout, token, input): recorded on the task
            self.store.mark(fire.id, DONE, error=str(e))
            self.store.record_trigger_error(fire.task, RUN_ERROR, str(e))
            self.log(f"task {fire.task}: {fire.kind} run could not start: {e}")
        except Exception as e:  # never let one task's surprise stop the scheduler
            self.store.mark(fire.id, DONE, error=f"{type(e).__name__}: {e}")
            self.log(f"task {fire.task}: run failed unexpectedly: {type(e).__name__}: {e}")
        finally:
            with self._mutex:
                self._active.pop(fire.task, None)
                self._active_runs.pop(fire.task, None)
            self._wake.set()  # the task's next fire may go now

    # -- the service -------------------------------------------------------------------------------------------
    @property
    def active(self) -> dict[str, str | None]:
        with self._mutex:
            return {t: self._active_runs.get(t) for t in self._active}

    def wake(self) -> None:
        """Tick now (a webhook delivered a push, a run ended)."""
        self._wake.set()

    def wait_idle(self, timeout: float = 300) -> bool:
        """Wait until no run is active and no fire is pending (tests, notebooks)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._mutex:
                workers = list(self._active.values())
            for w in workers:
                w.join(max(0.0, deadline - time.monotonic()))
            if not self._active and not any(f.status == PENDING for f in self.store.open_fires()):
                return True
            self.dispatch()
            time.sleep(0.05)
        return False

    def serve(self, stop: threading.Event) -> None:
        """Tick every poll interval until `stop` is set, then stop cleanly (see `close`)."""
        announced = False
        try:
            while not stop.is_set():
                result = self.tick()
                if result.standby and not announced:
                    self.log(f"another scheduler (pid {self.lock.holder() or '?'}) is active on {self.home}; "
                             "standing by")
                    announced = True
                elif not result.standby and announced:
                    self.log("the other scheduler stopped; this one is active now")
                    announced = False
                self._wake.wait(self.poll_interval)
                self._wake.clear()
        finally:
            self.close()

    def close(self, grace: float = STOP_GRACE) -> None:
        """Let active runs finish for `grace` seconds, cancel the rest (recorded Canceled), free the lock."""
        deadline = time.monotonic() + grace
        with self._mutex:
            workers = dict(self._active)
        for task, worker in workers.items():
            worker.join(max(0.0, deadline - time.monotonic()))
        for task, run_id in self.active.items():
            if run_id:
                self.log(f"canceling run {run_id} of task {task}")
                self.run_store.request_cancel(run_id)
        for worker in workers.values():
            worker.join(30)
        if self._pool is not None:
            self._pool.shutdown(wait=False)
            self._pool = None
        self.lock.release()


_DESCRIBE = {commit.KIND: commit.describe, timer.KIND: timer.describe, base_image.KIND: base_image.describe}


def describe(fire: Fire) -> str:
    """One line of what made a fire, in its trigger's words."""
    return _DESCRIBE[fire.kind](fire.payload)
