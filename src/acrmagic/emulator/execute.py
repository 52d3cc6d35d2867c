"""Where a run's work happens, behind one small interface so the executor can be swapped.

The driver (run_driver.py) owns the run record, the log blob, timeouts and statuses; an executor only
does the work: it starts in the background, writes log lines through ``ctx.log`` and reports the end
once through ``ctx.on_status(status, details)`` with status Succeeded, Failed, Canceled or Error and
details ``{"outputImages": [{registry, repository, tag, digest}], "error": "<one line>"}``.

``LocalTargetExecutor`` hands each run to the local target, the same code local mode runs: a
DockerBuildRequest becomes a quick build through BuildKit, a File/EncodedTaskRunRequest a task run on
the task-file engine's scheduler. The emulator is therefore not a target itself: it is a server whose
runs go to the local engine, so a cloud-mode build really pushes an image to the local registry.
"""

from __future__ import annotations

import shutil
import tarfile
import tempfile
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Callable, Protocol

from ..errors import AcrMagicError
from ..events import LogEvent
from ..runrequest import QuickBuild, TaskRun
from ..textfiles import read_text
from ..states import ERROR, FAILED, STEP_FAILED, STEP_SUCCEEDED, STOP_CANCEL, SUCCEEDED
from ..taskfile import steplog
from .blobs import log_time
from .run_requests import BuildJob, TaskJob

Log = Callable[[str], None]
OnStatus = Callable[[str, dict], None]


@dataclass
class EmulatedRun:
    """One run as the driver hands it to an executor: who it is, where its source is, where its log goes."""

    run_id: str
    login_server: str       # the registry's, for `{{.Run.Registry}}` and unqualified image names
    started: datetime
    source: Path | None     # the uploaded source archive (tar.gz), downloaded; None for encoded tasks
    log: Log                # one line at a time; secrets already masked by the caller
    on_status: OnStatus     # called once, at the end
    folder: Path | None = None  # the source as a folder already (a task's checkout): used as it is, not unpacked


class RunExecutor(Protocol):
    def start(self, job: BuildJob | TaskJob, ctx: EmulatedRun) -> object:
        """Begin the work in the background; return a handle for cancel()."""

    def cancel(self, handle: object) -> None:
        """Stop the work; the executor then reports Canceled through on_status."""


class _Run:
    """One run handed to the local target: its handle once submitted, and whether a cancel came first."""

    def __init__(self):
        self.lock = threading.Lock()
        self.handle = None
        self.canceled = False


class LocalTargetExecutor:
    def __init__(self, target_factory: Callable[[str], object] | None = None):
        from ..targets.local import LocalTarget

        self._target = target_factory or (lambda login_server: LocalTarget(login_server))

    def start(self, job: BuildJob | TaskJob, ctx: EmulatedRun) -> _Run:
        run = _Run()
        threading.Thread(target=self._run, args=(job, ctx, run), name=f"run-{ctx.run_id}", daemon=True).start()
        return run

    def cancel(self, handle: _Run) -> None:
        with handle.lock:
            handle.canceled = True
            if handle.handle is not None:
                handle.handle.stop(STOP_CANCEL)

    def _run(self, job: BuildJob | TaskJob, ctx: EmulatedRun, run: _Run) -> None:
        own = ctx.folder is None  # an archive to unpack into a folder of this run's
        folder = Path(tempfile.mkdtemp(prefix=f"acrmagic-emulator-{ctx.run_id}-")) if own else ctx.folder
        try:
            if own and ctx.source is not None:
                with tarfile.open(ctx.source, mode="r:*") as archive:
                    archive.extractall(folder, filter="data")
            request = _build_request(job, ctx, folder) if isinstance(job, BuildJob) else _task_request(job, folder)
            handle = self._target(ctx.login_server).submit(request, reserve_id=lambda: ctx.run_id)
            with run.lock:
                run.handle = handle
                if run.canceled:
                    handle.stop(STOP_CANCEL)
            started = time.monotonic()
            if isinstance(job, BuildJob):  # as an ACR agent logs a quick build: one step named build
                ctx.log(f"{log_time()} {steplog.step_started(_BuildStep(job.timeout))}")
            outcome = handle.execute(lambda ev: ctx.log(ev.line()) if isinstance(ev, LogEvent) or ev.logged else None)
            images = [{"registry": o.registry, "repository": o.repository, "tag": o.tag, "digest": o.digest}
                      for o in outcome.output_images]
            if isinstance(job, BuildJob):
                for image in outcome.output_images:
                    ctx.log(f"{log_time()} Successfully pushed image: {image.registry}/{image.repository}:{image.tag}")
                state = STEP_SUCCEEDED if outcome.status == SUCCEEDED else STEP_FAILED
                ctx.log(f"{log_time()} {steplog.step_finished('build', state, time.monotonic() - started)}")
            # what the run stood on, as the build saw it: a base-image trigger learns from these
            ctx.on_status(outcome.status, {"outputImages": images, "error": outcome.error,
                                           "baseImages": outcome.base_images, "dockerfile": handle.dockerfile})
        except AcrMagicError as e:  # a task file that does not load, a context the engine refuses: the run fails
            ctx.log(e.message)
            ctx.on_status(FAILED, {"error": e.message})
        except Exception as e:  # the engine went away, an unexpected answer: the run errs, the server lives
            ctx.on_status(ERROR, {"error": f"{type(e).__name__}: {e}"})
        finally:
            if own:
                shutil.rmtree(folder, ignore_errors=True)


@dataclass
class _BuildStep:
    """The one step an ACR agent reports for a quick build."""
    timeout: int
    id: str = "build"
    working_directory: str = ""
    network: str = ""


def _build_request(job: BuildJob, ctx: EmulatedRun, folder: Path) -> QuickBuild:
    return QuickBuild(context=str(folder), images=job.images(ctx.run_id, ctx.login_server, ctx.started),
                      dockerfile=job.dockerfile, build_args=dict(job.build_args),
                      secret_build_args=dict(job.secret_build_args),
                      target=job.target, platform=job.platform, push=job.push, no_cache=job.no_cache, timeout=job.timeout)


def _task_request(job: TaskJob, folder: Path) -> TaskRun:
    def read(name: str) -> str:
        path = folder / name
        if not path.is_file():
            raise AcrMagicError(f"{name}: no such file in the uploaded source")
        return read_text(path, name)  # not UTF-8: the run fails with file and line, as it would locally

    values_text = job.values_content if job.values_content is not None else (
        read(job.values_file) if job.values_file else None)
    return TaskRun(task_text=job.task_content if job.task_content is not None else read(job.task_file),
                   task_name=job.task_file or "encoded task", context=".", context_path=folder,
                   values_text=values_text, values_file=job.values_file, set_values=dict(job.values),
                   set_secrets=dict(job.secret_values),
                   timeout=job.timeout)
