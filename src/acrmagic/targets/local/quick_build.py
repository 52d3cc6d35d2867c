"""A quick build on the local engine: pack the context, build through BuildKit, push each tag, read
back the digests and the base images the build stood on."""

from __future__ import annotations

import time
from collections import deque
from typing import Callable

from ... import dockerfile, refs
from ...context import BuildContext, pack
from ...errors import BuildFailed, EngineLost, UsageError
from ...events import Emit, LogEvent, StepEvent
from ...failure import failing_line
from ...runrequest import QuickBuild, platform_record, render_image
from ...runs.model import OutputImage
from ...states import ERROR, FAILED, STEP_FAILED, SUCCEEDED
from ..base import Outcome, RunHandle, stop_outcome
from .builds import PUSH_RETRY, BuildRequest, EngineBuilder, new_build_id

def engine_platform(platform: str | None) -> str | None:
    """`--platform` as the engine spells it: az's `x86` is Docker's `386`."""
    if not platform:
        return None
    parts = platform.split("/")
    return "/".join("386" if i == 1 and part == "x86" else part for i, part in enumerate(parts))


def submit(builder: Callable[[], EngineBuilder], request: QuickBuild, registry: str,
           reserve_id: Callable[[], str]) -> "QuickBuildRun":
    ctx = pack(request.context, request.dockerfile_text, request.dockerfile)  # ContextError: nothing recorded
    if not dockerfile.logical_lines(ctx.dockerfile_text):
        raise UsageError(f"-f/--file: the Dockerfile {ctx.dockerfile} has no instructions")
    engine = builder()  # EngineUnavailable (with how to start one) before a run is recorded
    return QuickBuildRun(engine, request, ctx, reserve_id(), registry)


class QuickBuildRun(RunHandle):
    def __init__(self, builder: EngineBuilder, request: QuickBuild, ctx: BuildContext, run_id: str, registry: str):
        self.builder, self.request, self.ctx = builder, request, ctx
        self.run_id, self.build_id = run_id, new_build_id()
        self.cancel_ref = f"build:{self.build_id}"
        self.tags = [render_image(name, run_id, registry) for name in request.images]
        self.source, self.dockerfile = ctx.source, ctx.dockerfile_text
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
        build = BuildRequest(context=self.ctx, tags=self.tags, build_args={**req.build_args, **req.secret_build_args},
                             target=req.target, platform=engine_platform(req.platform), no_cache=req.no_cache)
        try:
            result = self.builder.build(build, watch, self.build_id)
        except BuildFailed as e:
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
        bases = [{"image": ref, "digest": result.base_digest(ref) or self.builder.resolve_base_digest(ref)}
                 for ref in dockerfile.base_images(self.ctx.dockerfile_text, build.build_args)]
        for base in bases:
            stand_in = self.builder.stand_in(base["image"], base["digest"])
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
        where = dockerfile.instruction_line(self.ctx.dockerfile_text, step.step)
        if where is None:
            what = f"step {step.step}"
        else:
            name = "the cell" if self.request.dockerfile_text is not None else self.ctx.dockerfile
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
