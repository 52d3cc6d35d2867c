"""Quick builds (`az acr build`): Dockerfile + context -> image -> push, recorded as a QuickBuild run.

The path reads in one breath: check the inputs (nothing is recorded for a bad flag), pack the
context, record the run, build on the backend while events flow to the log, the store and the view,
push each tag, record the digests, raise if the run did not succeed.
"""

from __future__ import annotations

import getpass
import re
import time

from . import config, dockerfile
from .context import pack
from .errors import BuildFailed
from .targets.local.builds import PUSH_ATTEMPTS, PUSH_BACKOFF, BuildRequest, LocalBackend as Backend
from .errors import RUN_ERRORS, UsageError
from .events import FAILED
from .options import BuildOptions
from .progress import Progress, make_progress
from .redact import Redactor
from .runs import model
from .runs.recorder import RunRecorder
from .runs.store import RunStore
from .supervise import Execution, cancel_check

_RUN_TEMPLATE = re.compile(r"\{\{\s*\.Run\.(ID|Registry|RegistryName)\s*\}\}")
_ALIAS = re.compile(r"\$(ID|Registry|RegistryName)(?![A-Za-z0-9])")
_REFERENCE = re.compile(
    r"^(?P<name>[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?::[0-9]+)?(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*)"
    r"(?::(?P<tag>[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}))?$")


def resolve_image(name: str, run_id: str, registry: str) -> str:
    """`-t` as az acr build reads it: run variables replaced, the registry prefixed when the name has
    none, `:latest` when it has no tag. Raises UsageError for a name Docker would refuse."""
    values = {"ID": run_id, "Registry": registry, "RegistryName": registry.split(".")[0]}
    ref = _RUN_TEMPLATE.sub(lambda m: values[m.group(1)], name)
    ref = _ALIAS.sub(lambda m: values[m.group(1)], ref)
    first = ref.split("/", 1)[0]
    if "/" not in ref or not ("." in first or ":" in first or first == "localhost"):
        ref = f"{registry}/{ref}"
    m = _REFERENCE.match(ref)
    if not m:
        raise UsageError(f"-t/--image: {name!r} is not a valid image name (lower-case name, optional :tag)")
    return ref if m.group("tag") else ref + ":latest"


def split_ref(ref: str) -> tuple[str, str, str]:
    name, _, tag = ref.rpartition(":")
    registry, _, repository = name.partition("/")
    return registry, repository, tag


def check_registry(registry: str) -> None:
    first = registry.split(":")[0]
    if not ("." in first or ":" in registry or first == "localhost"):
        raise UsageError(f"-r/--registry: {registry!r} looks like an ACR name; cloud mode is not available yet, "
                         "give a registry address such as localhost:5000")


def quick_build(opts: BuildOptions, **kwargs) -> model.Run:
    return prepare_build(opts, **kwargs).run()


def prepare_build(opts: BuildOptions, *, store: RunStore | None = None, backend: Backend | None = None,
                  progress: Progress | None = None) -> Execution:
    """Check the inputs, record the run and show its view; the returned Execution does the rest."""
    # 1. inputs: a bad flag or file is an error before anything is recorded
    if opts.dockerfile_text is not None and opts.file:
        raise UsageError("acrbuild: give the Dockerfile once: in the cell body or with -f, not both")
    if opts.dockerfile_text is not None and not opts.dockerfile_text.strip():
        raise UsageError("acrbuild: the cell is empty: write a Dockerfile in the cell, or pass -f FILE")
    registry = opts.registry or config.default_registry()
    check_registry(registry)
    for name in opts.images:
        resolve_image(name, "aa1", registry)
    redact = Redactor(opts.secret_build_args.values())
    ctx = pack(opts.context, opts.dockerfile_text, opts.file)
    if not dockerfile.logical_lines(ctx.dockerfile_text):
        raise UsageError(f"-f/--file: the Dockerfile {ctx.dockerfile} has no instructions")
    if backend is None:
        from .targets.local.builds import LocalBackend

        backend = LocalBackend()  # raises EngineUnavailable, with how to start it

    # 2. the run begins: from here on every outcome is recorded
    store = store or RunStore()
    run = store.create(model.Run(
        run_id="", run_type=model.QUICK_BUILD, who=getpass.getuser(), backend=backend.name, registry=registry,
        source=ctx.source, dockerfile=redact(ctx.dockerfile_text), request=opts.recorded(),
        platform=_platform(opts.platform)))
    tags = [resolve_image(name, run.run_id, registry) for name in opts.images]
    recorder = RunRecorder(store, run, redact, progress or make_progress(opts.logs))
    return _execution(opts, ctx, tags, run, store, backend, recorder)


def _platform(platform: str | None) -> dict:
    if not platform:
        return {"os": "linux"}
    parts = platform.split("/")
    out = {"os": parts[0]}
    if len(parts) > 1:
        out["architecture"] = parts[1]
    if len(parts) > 2:
        out["variant"] = parts[2]
    return out


class _Stop:
    """Why a run is being stopped, and the engine's handle for the work to cancel."""

    MESSAGES = {"interrupt": "canceled by the user (interrupt)", "canceled": "canceled (acrmagic cancel or the view's "
                "Cancel button)"}

    def __init__(self, backend: Backend, store: RunStore, run_id: str):
        self.backend, self.store, self.run_id = backend, store, run_id
        self.reason: str | None = None
        self.engine_ref: str | None = None

    def stopped(self) -> bool:
        """Asked to stop: by the supervisor, or by `acrmagic cancel` it may not have seen yet."""
        if self.reason is None and self.store.cancel_requested(self.run_id):
            self.reason = "canceled"
        return self.reason is not None

    def __call__(self, reason: str) -> None:
        if self.reason is None:
            self.reason = reason
        if self.engine_ref:
            self.backend.cancel(self.engine_ref)

    def outcome(self, timeout: int, what: str = "") -> tuple[str, str, list]:
        if self.reason == "timeout":
            return model.TIMEOUT, f"the run did not finish within --timeout {timeout}s{what}", []
        return model.CANCELED, self.MESSAGES.get(self.reason, "canceled") + what, []


def _execution(opts, ctx, tags, run, store, backend, recorder) -> Execution:
    stop = _Stop(backend, store, run.run_id)

    def on_engine_ref(ref: str):
        stop.engine_ref = run.engine_ref = ref
        store.set_engine_ref(run.run_id, ref)
        if stop.reason:  # stopped before the engine had started the work
            backend.cancel(ref)

    def conclude(outcome) -> model.Run:
        status, error, details = outcome
        done = recorder.finish(status, error)
        if status != model.SUCCEEDED:
            raise RUN_ERRORS[status](f"run {done.run_id} {status.lower()}: {done.error}", done,
                                     details=[recorder.redact(d) for d in details])
        return done

    recorder.started()
    return Execution(
        work=lambda: _build_and_push(opts, ctx, tags, run, backend, recorder, on_engine_ref, stop), stop=stop,
        check=cancel_check(store, run.run_id, time.monotonic() + opts.timeout, recorder.progress),
        pump=recorder.pump, conclude=conclude, crash=lambda e: recorder.crash(e))


def _build_and_push(opts, ctx, tags, run, backend, recorder, on_engine_ref, stop):
    request = BuildRequest(context=ctx, tags=tags, build_args={**opts.build_args, **opts.secret_build_args},
                           target=opts.target, platform=opts.platform, no_cache=opts.no_cache)
    base_refs = dockerfile.base_images(ctx.dockerfile_text, request.build_args)
    try:
        result = backend.build(request, recorder.emit, on_engine_ref)
    except BuildFailed as e:
        if stop.stopped():
            return stop.outcome(opts.timeout)
        failed = next((s for s in run.steps if s.status == FAILED), None)
        if failed:
            code = f" with exit code {failed.exit_code}" if failed.exit_code is not None else ""
            return model.FAILED, f"step {failed.name} failed{code}: {e.message}", recorder.tail(failed.number)
        return model.FAILED, e.message, []
    recorder.note(f"image {result.image_id}")
    run.base_images = [{"image": ref, "digest": result.base_digest(ref) or backend.resolve_base_digest(ref)}
                       for ref in base_refs]
    for base in run.base_images:
        recorder.note(f"base image {base['image']}@{base['digest']}")
    if not (opts.push and tags):
        return model.SUCCEEDED, None, []
    for ref in tags:
        if stop.stopped():
            return stop.outcome(opts.timeout, f" (before pushing {ref})")
        for attempt in range(PUSH_ATTEMPTS):  # a registry can refuse a push for a moment (concurrent uploads)
            try:
                digest = backend.push(ref, recorder.emit)
                break
            except BuildFailed as e:
                if attempt == PUSH_ATTEMPTS - 1:
                    return model.FAILED, e.message, []
                recorder.note(f"{e.message}; trying again ({attempt + 2}/{PUSH_ATTEMPTS})")
                time.sleep(PUSH_BACKOFF[attempt])
        registry, repository, tag = split_ref(ref)
        run.output_images.append(model.OutputImage(registry, repository, tag, digest))
        recorder.note(f"pushed {ref}@{digest}")
    return model.SUCCEEDED, None, []
