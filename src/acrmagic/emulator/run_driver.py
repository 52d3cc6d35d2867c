"""A run's life: Queued -> Running -> Succeeded | Failed | Canceled | Error | Timeout.

The driver owns what the service owns: the run record and its times, the log blob (created when the
run starts, so a HEAD answers 404 until then; lines with CRLF ends; `Complete` metadata set after the
last line, then the terminal status on the record), the timeout, and cancellation. The work itself
goes to a RunExecutor (execute.py).
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

from ..redact import Redactor
from ..states import CANCELED, ERROR, FAILED, RUNNING, SUCCEEDED, TIMEOUT
from .arm import utc_now
from .blobs import Storage, container_name, log_time
from .execute import EmulatedRun, RunExecutor
from .run_requests import BuildJob, TaskJob
from .state import Registry, RunRecord, Store

#: the `Complete` metadata value for each final status: the Azure CLI reads `failed`, `internalerror`,
#: `timedout` and `canceled` (lower-cased) as failures and anything else as success
COMPLETE = {SUCCEEDED: "Succeeded", FAILED: "Failed", CANCELED: "Canceled", ERROR: "InternalError",
            TIMEOUT: "TimedOut"}
CANCEL_GRACE = 30  # seconds an executor gets to report after cancel() before the run is closed anyway


class _Live:
    """The driver's side of one unfinished run."""

    def __init__(self, job: BuildJob | TaskJob):
        self.job = job
        self.cancel_requested = threading.Event()
        self.finished = threading.Event()    # the executor reported
        self.closed = threading.Event()      # the record is terminal
        self.result: tuple[str, dict] = (ERROR, {"error": "the run ended without a result"})
        self.handle: object | None = None
        self.lock = threading.Lock()


class RunDriver:
    """Drives the emulated runs of every registry: queues them for a free agent, hands the work to the
    executor, and keeps the record, the log blob, the timeout and cancellation (as the service does)."""

    def __init__(self, store: Store, storage: Storage, executor: RunExecutor, work_dir: Path, max_running: int = 2):
        self.store, self.storage, self.executor = store, storage, executor
        self.work_dir = work_dir
        # the agents: a run waits Queued (no log blob yet) until one is free
        self._agents = threading.BoundedSemaphore(max_running)
        self._live: dict[str, _Live] = {}
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()

    def submit(self, registry: Registry, job: BuildJob | TaskJob, claims: dict) -> dict:
        """Queue a run; scheduleRun's answer (runId, status Queued, and little else, as the service answers)."""
        run = self.store.new_run(registry, run_type=job.run_type, platform=job.platform.to_json(),
                                 agent_configuration={"cpu": job.agent_cpu}, agent_pool_name=job.agent_pool_name,
                                 source_registry_auth=job.source_registry_auth,
                                 is_archive_enabled=job.is_archive_enabled, created_by=claims,
                                 task=getattr(job, "task_name", None), trigger=dict(getattr(job, "trigger", {}) or {}))
        live = _Live(job)
        thread = threading.Thread(target=self._drive, args=(run, live), name=f"drive-{run.run_id}", daemon=True)
        with self._lock:
            self._live[run.id.lower()] = live
            self._threads = [t for t in self._threads if t.is_alive()] + [thread]
        queued = run.queued_json()
        thread.start()
        return queued

    def cancel(self, run: RunRecord, wait: float = 10) -> None:
        """Ask the run to stop; wait (a little) until it is Canceled. A finished run stays as it is."""
        with self._lock:
            live = self._live.get(run.id.lower())
        if live is None or run.terminal:
            return
        with live.lock:
            live.cancel_requested.set()
            handle = live.handle
        if handle is not None:
            self.executor.cancel(handle)
        live.closed.wait(wait)

    def stop(self, timeout: float = 20) -> None:
        """Cancel every unfinished run and wait for their drivers (emulator shut-down)."""
        for run in self.store.all_runs():
            if not run.terminal:
                self.cancel(run, wait=0)
        deadline = time.monotonic() + timeout
        for thread in list(self._threads):
            thread.join(max(0.0, deadline - time.monotonic()))

    # -- one run ----------------------------------------------------------------------------------
    def _drive(self, run: RunRecord, live: _Live) -> None:
        while not self._agents.acquire(timeout=0.1):
            if live.cancel_requested.is_set():
                break
        else:
            try:
                self._work(run, live)
            finally:
                self._agents.release()
            return
        self._work(run, live)  # canceled while queued: no agent needed to say so

    def _work(self, run: RunRecord, live: _Live) -> None:
        job, registry = live.job, run.registry
        redact = Redactor(job.secrets)
        log = self.storage.log(container_name(registry.id), run.run_id)
        started = time.monotonic()
        try:
            log.create()  # also for a run canceled while queued, so log readers see it end

            def line(text: str) -> None:
                log.write(redact(text))

            if live.cancel_requested.is_set():
                live.result = (CANCELED, {})
            else:
                run.start_time = utc_now()
                run.status = RUNNING
                run.touch()
                source = self._download(run, job, line)
                ctx = EmulatedRun(run.run_id, registry.login_server, run.start_time, source, line,
                                 lambda status, details: self._reported(live, status, details))
                with live.lock:
                    if not live.cancel_requested.is_set():
                        live.handle = self.executor.start(job, ctx)
                    else:
                        live.result = (CANCELED, {})
                        live.finished.set()
                if not live.finished.wait(job.timeout):
                    live.cancel_requested.set()
                    self.executor.cancel(live.handle)
                    live.finished.wait(CANCEL_GRACE)
                    live.result = (TIMEOUT, {"error": f"the run timed out after {job.timeout} seconds"})
                elif live.cancel_requested.is_set() and live.result[0] != SUCCEEDED:
                    live.result = (CANCELED, {})
        except Exception as e:  # Azurite or the source went away: the run errs, the emulator goes on
            live.result = (ERROR, {"error": f"{type(e).__name__}: {e}"})
        status, details = live.result
        error = redact(details["error"]) if details.get("error") else None
        elapsed = int(time.monotonic() - started)
        try:
            if error:
                log.write(f"{log_time()} {error}")
            log.write({SUCCEEDED: f"Run ID: {run.run_id} was successful after {elapsed}s",
                       CANCELED: f"Run ID: {run.run_id} was canceled after {elapsed}s",
                       TIMEOUT: f"Run ID: {run.run_id} timed out after {elapsed}s"}.get(
                status, f"Run ID: {run.run_id} failed after {elapsed}s. Error: {error}"))
            log.complete(COMPLETE[status])
        except Exception:
            pass  # the record below still tells the truth
        run.output_images = details.get("outputImages") or []
        run.error_message = error if status in (FAILED, ERROR, TIMEOUT) else None
        run.finish_time = utc_now()
        run.status = status
        run.touch()
        live.closed.set()
        with self._lock:
            self._live.pop(run.id.lower(), None)
        self._cleanup(run)

    def _reported(self, live: _Live, status: str, details: dict) -> None:
        live.result = (status, details)
        live.finished.set()

    def _download(self, run: RunRecord, job: BuildJob | TaskJob, line) -> Path | None:
        if job.source_location is None:
            return None
        line(f"{log_time()} Downloading source code...")
        path = self._source_path(run)
        self.work_dir.mkdir(parents=True, exist_ok=True)
        self.storage.download(container_name(run.registry.id), job.source_location, path)
        line(f"{log_time()} Finished downloading source code")
        return path

    def _source_path(self, run: RunRecord) -> Path:
        return self.work_dir / f"{container_name(run.registry.id)}-{run.run_id}.tar.gz"

    def _cleanup(self, run: RunRecord) -> None:
        self._source_path(run).unlink(missing_ok=True)
