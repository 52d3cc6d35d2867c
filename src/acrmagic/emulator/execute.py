"""Where a run's work happens, behind one small interface so the executor can be swapped.

The driver (scheduler.py) owns the run record, the log blob, timeouts and statuses; an executor only
does the work: it starts in the background, writes log lines through ``ctx.log`` and reports the end
once through ``ctx.on_status(status, details)`` with status Succeeded, Failed, Canceled or Error and
details ``{"outputImages": [{registry, repository, tag, digest}], "error": "<one line>"}``.

``DockerExecutor`` is a stop-gap: a classic `docker build` of the uploaded archive through the docker
SDK, then pushes. The local target replaces it (quick builds through BuildKit, task files through the
task scheduler) once the run-level seam exists.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Callable, Protocol

from .blobs import log_time
from .run_requests import BuildJob, TaskJob

Log = Callable[[str], None]
OnStatus = Callable[[str, dict], None]


@dataclass
class RunContext:
    run_id: str
    login_server: str       # the registry's, for `{{.Run.Registry}}` and unqualified image names
    started: datetime
    source: Path | None     # the uploaded source archive (tar.gz), downloaded; None for encoded tasks
    log: Log                # one line at a time; secrets already masked by the caller
    on_status: OnStatus     # called once, at the end


class RunExecutor(Protocol):
    def start(self, job: BuildJob | TaskJob, ctx: RunContext) -> object:
        """Begin the work in the background; return a handle for cancel()."""

    def cancel(self, handle: object) -> None:
        """Stop the work; the executor then reports Canceled through on_status."""


class _Build:
    """A DockerExecutor run: its thread, the engine response being read (closed to cancel)."""

    def __init__(self):
        self.canceled = threading.Event()
        self.response = None
        self.thread: threading.Thread | None = None


class DockerExecutor:
    def __init__(self, client_factory: Callable[[], object] | None = None):
        import docker

        self._factory = client_factory or (lambda: docker.APIClient(**docker.utils.kwargs_from_env(), version="auto"))

    def start(self, job: BuildJob | TaskJob, ctx: RunContext) -> _Build:
        build = _Build()
        build.thread = threading.Thread(target=self._run, args=(job, ctx, build), name=f"run-{ctx.run_id}", daemon=True)
        build.thread.start()
        return build

    def cancel(self, handle: _Build) -> None:
        handle.canceled.set()
        response = handle.response
        if response is not None:
            # the engine stops a classic build when its client goes away; shutdown() wakes the reader
            try:
                response.raw.shutdown()
            except (ValueError, RuntimeError, OSError):
                pass
            response.close()

    # -- the work ---------------------------------------------------------------------------------
    def _run(self, job: BuildJob | TaskJob, ctx: RunContext, build: _Build) -> None:
        if isinstance(job, TaskJob):
            ctx.on_status("Error", {"error": "multi-step task runs are not executed by this emulator build yet"})
            return
        try:
            status, details = self._build_and_push(job, ctx, build)
        except Exception as e:  # the engine went away, an unexpected answer: the run errs, the server lives
            status, details = "Error", {"error": f"{type(e).__name__}: {e}"}
        if build.canceled.is_set() and status != "Succeeded":
            status, details = "Canceled", {}  # a canceled build ends in a broken stream: that is not a failure
        ctx.on_status(status, details)

    def _build_and_push(self, job: BuildJob, ctx: RunContext, build: _Build) -> tuple[str, dict]:
        api = self._factory()
        api.hooks["response"].append(lambda response, *a, **kw: setattr(build, "response", response))
        refs = job.images(ctx.run_id, ctx.login_server, ctx.started)
        network = "default" if api.networks(names=["bridge"]) else "host"  # this stack runs dockerd --bridge=none
        ctx.log(f"{log_time()} Launching container with name: build")
        image_id = None
        with open(ctx.source, "rb") as archive:
            stream = api.build(fileobj=archive, custom_context=True, encoding="gzip", dockerfile=job.dockerfile,
                               tag=refs[0] if refs else None, buildargs=job.build_args or None, target=job.target,
                               nocache=job.no_cache, network_mode=network, rm=True, forcerm=True, decode=True)
            for event in stream:
                if build.canceled.is_set():
                    return "Canceled", {}
                for line in event.get("stream", "").splitlines():
                    if line.strip():
                        ctx.log(line)
                image_id = (event.get("aux") or {}).get("ID") or image_id
                message = _error(event)
                if message:
                    ctx.log(message)
                    return "Failed", {"error": f"failed during run, err: {message}"}
        if build.canceled.is_set():
            return "Canceled", {}
        if image_id is None:
            return "Failed", {"error": "failed during run, err: the engine finished the build without an image"}
        ctx.log(f"{log_time()} Successfully executed container: build")
        outputs = []
        for ref in refs:
            repo, tag = _split(ref)
            api.tag(image_id, repo, tag)
            if not job.push:
                continue
            ctx.log(f"{log_time()} Pushing image: {ref}, attempt 1")
            digest = None
            for event in api.push(repo, tag=tag, stream=True, decode=True):
                if build.canceled.is_set():
                    return "Canceled", {}
                message = _error(event)
                if message:
                    return "Failed", {"error": f"failed to push image {ref}: {message}"}
                if event.get("status") in ("Pushed", "Layer already exists"):
                    ctx.log(f"{event.get('id', '')}: {event['status']}")
                digest = (event.get("aux") or {}).get("Digest") or digest
            if not digest:
                return "Failed", {"error": f"failed to push image {ref}: the registry returned no digest"}
            ctx.log(f"{log_time()} Successfully pushed image: {ref}")
            registry, _, repository = repo.partition("/")
            outputs.append({"registry": registry, "repository": repository, "tag": tag, "digest": digest})
        return "Succeeded", {"outputImages": outputs}


def _error(event: dict) -> str | None:
    if "error" in event or "errorDetail" in event:
        return (event.get("errorDetail") or {}).get("message") or event.get("error") or "unknown engine error"
    return None


def _split(ref: str) -> tuple[str, str]:
    name, _, tag = ref.rpartition(":")
    return name, tag
