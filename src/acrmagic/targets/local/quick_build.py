"""A quick build on the local engine: build through BuildKit, push each tag, read back the digests and
the base images the build stood on.

A folder context is served through a BuildKit session (`session/`): BuildKit reads the Dockerfile
apart from the context, applies the `.dockerignore` itself, and fetches only the files that changed
since the last build of the same folder. `--secret-build-arg` values are the session's secrets
(`RUN --mount=type=secret,id=NAME`), and build args only where the Dockerfile declares `ARG NAME`.
A git URL, or an engine without sessions, gets the packed context as the request body.
"""

from __future__ import annotations

import hashlib
import os
import re
import stat
import threading
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from ... import dockerfile, refs
from ...context import BuildContext, is_git_url, locate, pack, read_dockerignore
from ...errors import BuildFailed, ContextError, EngineLost, EngineUnavailable, UsageError
from ...events import Emit, LogEvent, StepEvent
from ...runrequest import QuickBuild, platform_record, render_image
from ...runs.model import OutputImage
from ...states import ERROR, FAILED, STEP_FAILED, SUCCEEDED
from ..base import Outcome, RunHandle, stop_outcome
from .builds import PUSH_RETRY, BuildRequest, EngineBuilder, new_build_id

@dataclass
class FolderContext:
    """A folder to serve through a session: walked once (for the run record, and reused as BuildKit's
    first listing), packed only if the engine turns out to have no sessions."""

    root: Path
    dockerfile_path: Path | None  # None: the Dockerfile is `dockerfile_text` (a cell body)
    dockerfile_text: str
    dockerfile_data: bytes
    excludes: list[str]
    listing: list
    digest: str

    @property
    def dockerfile_name(self) -> str:
        return self.dockerfile_path.name if self.dockerfile_path else "Dockerfile"

    def session(self, secrets: dict[str, str]):
        from .session import BuildSession, SyncedDir, shared_key

        docker_dir = (SyncedDir(root=str(self.dockerfile_path.parent)) if self.dockerfile_path
                      else SyncedDir(files={"Dockerfile": self.dockerfile_data}))
        dirs = {"context": SyncedDir(root=str(self.root), listing=(self.excludes, self.listing)),
                "dockerfile": docker_dir}
        agent = os.environ.get("SSH_AUTH_SOCK")
        if agent and not (os.path.exists(agent) and stat.S_ISSOCK(os.stat(agent).st_mode)):
            agent = None
        return BuildSession(dirs, name=self.root.name or "context", key=shared_key(str(self.root)),
                            secrets={k: v.encode() for k, v in secrets.items()}, ssh_agent=agent)


def prepare_folder(folder: str, dockerfile_text: str | None, dockerfile_file: str | None) -> FolderContext:
    """Check the folder and the Dockerfile and list what BuildKit will be offered (one line on bad input).

    The record's digest covers each offered entry's path, mode, size, modification time and link, and
    the Dockerfile's bytes (reading every byte of a large context for a digest would cost more than the
    rebuild): a touched file changes it."""
    from .session.filesync import dockerignore_patterns, walk

    root, path, text, data = locate(folder, dockerfile_text, dockerfile_file)
    excludes = dockerignore_patterns(read_dockerignore(root, path))
    try:
        listing = list(walk(str(root), excludes=excludes or None))
    except OSError as e:
        raise ContextError(f"cannot read {e.filename or root} for the build context: {e.strerror}") from None
    digest = hashlib.sha256(hashlib.sha256(data).digest())
    digest.update("".join(f"{st_.path}\0{st_.mode:o}\0{st_.size}\0{st_.mod_time}\0{st_.linkname}\0"
                          for st_, _ in listing).encode("utf-8", "surrogateescape"))  # one update: same digest
    return FolderContext(root, path, text, data, excludes, listing, "sha256:" + digest.hexdigest())


class BasesAhead:
    """The base images' digests and stand-in labels, read from the loopback registries in a thread while
    the build runs (they were read after it: a few requests on the path of every build). The trace's
    digest, when BuildKit reports one, still wins; a different one is looked up again.

    `start()` once the engine's first message arrives: until then the session's server may still be
    importing, and the engine waits on it, not on this."""

    def __init__(self, builder: EngineBuilder, base_images: Callable[[], list[str]]):
        self.builder, self._base_images = builder, base_images
        self._images: list[str] | None = None
        self._digests: dict[str, str | None] = {}
        self._thread = threading.Thread(target=self._read, name="acrmagic-base-images", daemon=True)

    def start(self) -> None:
        if self._thread.ident is None:
            self._thread.start()

    def _read(self) -> None:
        try:
            self._images = self._base_images()
            for ref in self._images:
                digest = self._digests[ref] = self.builder.resolve_base_digest(ref)
                self.builder.stand_in(ref, digest)  # kept by the builder, per digest, for `stand_in` below
        except Exception:  # noqa: BLE001 -- done again after the build, where a failure surfaces as before
            pass

    def _finished(self) -> None:
        """The lookups done (started now if the engine never spoke)."""
        self.start()
        self._thread.join()

    def images(self) -> list[str]:
        self._finished()
        return self._images if self._images is not None else self._base_images()

    def digest(self, ref: str) -> str | None:
        self._finished()
        return self._digests[ref] if ref in self._digests else self.builder.resolve_base_digest(ref)

    def stand_in(self, ref: str, digest: str | None) -> str | None:
        self._finished()
        return self.builder.stand_in(ref, digest)


def _import_session() -> None:
    from .session import import_server

    import_server()


def declared_args(text: str) -> set[str]:
    """Names the Dockerfile declares with ARG."""
    names = set()
    for line in dockerfile.logical_lines(text):
        m = re.match(r"(?i)ARG\s+(.*)", line.strip())
        if m:
            names.update(re.split(r"[=\s]", word, 1)[0] for word in m.group(1).split() if word)
    return names


def submit(builder: Callable[[], EngineBuilder], request: QuickBuild, registry: str,
           reserve_id: Callable[[], str]) -> "QuickBuildRun":
    if is_git_url(request.context):  # ContextError: nothing recorded
        ctx = pack(request.context, request.dockerfile_text, request.dockerfile)
    else:
        # the session's gRPC stack loads in a thread while the folder is walked and the run recorded
        threading.Thread(target=_import_session, name="acrmagic-session-import", daemon=True).start()
        ctx = prepare_folder(request.context, request.dockerfile_text, request.dockerfile)
    if not dockerfile.logical_lines(ctx.dockerfile_text):
        name = ctx.dockerfile if isinstance(ctx, BuildContext) else ctx.dockerfile_name
        raise UsageError(f"-f/--file: the Dockerfile {name} has no instructions")
    engine = builder()  # EngineUnavailable (with how to start one) before a run is recorded
    return QuickBuildRun(engine, request, ctx, reserve_id(), registry)


class QuickBuildRun(RunHandle):
    def __init__(self, builder: EngineBuilder, request: QuickBuild, ctx: BuildContext | FolderContext,
                 run_id: str, registry: str):
        self.builder, self.request, self.ctx = builder, request, ctx
        self.run_id, self.build_id = run_id, new_build_id()
        self.cancel_ref = f"build:{self.build_id}"
        self.tags = [render_image(name, run_id, registry) for name in request.images]
        self.dockerfile = ctx.dockerfile_text
        self.source = (ctx.source if isinstance(ctx, BuildContext)
                       else {"type": "folder", "path": str(ctx.root), "digest": ctx.digest})
        self.served = None  # with a session: what it sent (files, bytes)
        self.platform, self.steps, self.notes = platform_record(request.platform), [], []
        self.reason: str | None = None

    def stop(self, reason: str) -> None:
        self.reason = self.reason or reason
        self.builder.cancel(self.build_id)  # a build not started yet is stopped by execute() instead

    def execute(self, emit: Emit) -> Outcome:
        req = self.request
        failed: list[StepEvent] = []
        output: dict[int, deque] = {}  # each vertex's last lines: the failing one's say why it failed

        def watch(ev):  # the failing BuildKit step names the error
            if isinstance(ev, StepEvent) and ev.state == STEP_FAILED:
                failed.append(ev)
            elif isinstance(ev, LogEvent) and ev.step is not None:
                output.setdefault(ev.number, deque(maxlen=200)).append(ev.text)
            emit(ev)

        if self.reason:
            return stop_outcome(self.reason, req.timeout)
        build = BuildRequest(context=None, tags=self.tags, build_args={**req.build_args, **req.secret_build_args},
                             target=req.target, platform=req.platform.engine if req.platform else None, no_cache=req.no_cache)
        session = None
        if isinstance(self.ctx, FolderContext):
            session = self.ctx.session(req.secret_build_args)
            try:
                opened = session.open(self.builder.engine)
            except EngineUnavailable as e:
                return Outcome(ERROR, e.message)
            if opened:
                declared = declared_args(self.ctx.dockerfile_text)  # a secret is a build arg only where asked for
                build.build_args = {**req.build_args,
                                    **{k: v for k, v in req.secret_build_args.items() if k in declared}}
                build.session, build.dockerfile, self.served = session, self.ctx.dockerfile_name, session.served
            else:  # an engine without sessions: the packed context, as the request body
                session = None
                self.ctx = pack(req.context, req.dockerfile_text, req.dockerfile)
        if build.session is None:
            build.context = self.ctx
        ahead = BasesAhead(self.builder, lambda: dockerfile.base_images(self.dockerfile, build.build_args))

        def watch_then_read_bases(ev):  # the engine's first message: the session serves, the bases can go
            ahead.start()
            watch(ev)

        try:
            try:
                result = self.builder.build(build, watch_then_read_bases, self.build_id)
            finally:
                if session is not None:
                    session.close()
                    emit(LogEvent(f"context: sent {session.served.files} changed files "
                                  f"({session.served.bytes} bytes) through the build session"))
        except BuildFailed as e:
            if session is not None and session.failure is not None:  # the session's server never started
                return Outcome(ERROR, f"the build session could not start: {session.failure}")
            if self.reason:
                return stop_outcome(self.reason, req.timeout)
            if isinstance(e, EngineLost):  # the engine went away: the run could not be carried out
                return Outcome(ERROR, e.message)
            if failed:
                step = failed[0]
                return Outcome(FAILED, self._failure(step, list(output.get(step.number, ())), e.message),
                               failed_step=step.number)
            return Outcome(FAILED, e.message)
        emit(LogEvent(f"image {result.image_id}"))
        bases = [{"image": ref, "digest": result.base_digest(ref) or ahead.digest(ref)} for ref in ahead.images()]
        for base in bases:
            stand_in = ahead.stand_in(base["image"], base["digest"])
            if stand_in:  # recorded and said: the build stood on a local stand-in, not the real image
                base["standIn"] = stand_in
            emit(LogEvent(f"base image {base['image']}@{base['digest']}"
                          + (f" (offline stand-in: {stand_in})" if stand_in else "")))
        outcome = Outcome(SUCCEEDED, base_images=bases)
        if req.push:
            for ref in self.tags:
                if self.reason:
                    return stop_outcome(self.reason, req.timeout, f" (before pushing {ref})")
                try:
                    digest, error = self._push(ref, emit)
                except EngineLost as e:
                    return Outcome(ERROR, e.message, outcome.output_images, bases)
                if error:
                    return Outcome(FAILED, error, outcome.output_images, bases)
                image = refs.parse(ref)
                outcome.output_images.append(OutputImage(image.registry, image.repository, image.tag, digest))
                emit(LogEvent(f"pushed {ref}@{digest}"))
        return outcome

    def _failure(self, step: StepEvent, lines: list[str], message: str) -> str:
        """One line: which instruction failed, where it stands in the Dockerfile (the cell, or the file),
        its exit code, and the line of its output that says why (BuildKit's message when it printed none)."""
        from ...failure import failing_line  # only a failed build pays for its patterns

        where = dockerfile.instruction_line(self.ctx.dockerfile_text, step.step)
        if where is None:
            what = f"step {step.step}"
        else:
            name = "the cell" if self.request.dockerfile_text is not None else (self.request.dockerfile or "Dockerfile")
            what = f"line {where[0]} of {name} ({where[1]})"
        code = f" with exit code {step.exit_code}" if step.exit_code is not None else ""
        return f"{what} failed{code}: {failing_line(lines, fallback=message)}"

    def _push(self, ref: str, emit: Emit) -> tuple[str | None, str | None]:
        for attempt in range(PUSH_RETRY.attempts):  # a registry can refuse a push for a moment (concurrent uploads)
            try:
                return self.builder.push(ref, emit), None
            except EngineLost:
                raise  # no engine to try again with
            except BuildFailed as e:
                if attempt == PUSH_RETRY.attempts - 1:
                    return None, e.message
                emit(LogEvent(f"{e.message}; trying again ({attempt + 2}/{PUSH_RETRY.attempts})"))
                time.sleep(PUSH_RETRY.backoff[attempt])
        return None, "push failed"
