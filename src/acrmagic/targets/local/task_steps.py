"""Task steps on a local Docker engine: the container contract of acr-builder, mapped to this engine.

acr-builder runs each cmd step as `docker run --name <id> --volume <shared>:/workspace --volume
home:/acb/home --volume /var/run/docker.sock:... --env HOME=/acb/home [--env K=V]... [--workdir W]
<cmd>`, on a task network (`acb_default_network`, a bridge) where steps reach each other by step id.

Here the engine has no bridge and networks are never created (this project's rule), so:
- every container uses host networking; each step id (and the run's container names) resolves to
  127.0.0.1 through --add-host, so `http://<step id>:<port>` still reaches a detached step, and so
  does `http://localhost:<port>`; `ports` and `expose` therefore change nothing and are logged;
- declared `networks` are not created; a step's `network` is recorded only;
- `/workspace` is a Docker volume holding the context (less `.dockerignore`d files), shared by all
  steps; `home` is a per-run volume; secret volumes are per-run volumes holding the decoded files;
- the cmd string is split like a shell would (quotes), but `$VAR` is not expanded on the host
  (acr-builder's `sh -c` would expand the agent's environment; ours is not the agent's).
Build steps go through the BuildKit path of `EngineBuilder` with the step's context read back from the
shared volume (so files earlier steps wrote are in it); push steps use `EngineBuilder.push`. Containers,
volumes and pulls go through the builder's own engine (`containers.py`): one engine address, one
transport and one TLS rule for a task's steps and its builds.
"""

from __future__ import annotations

import base64
import http.client
import io
import os
import re
import shlex
import tarfile
import tempfile
import threading
import time
from pathlib import Path
from typing import Callable

from ...errors import BuildFailed, EngineError, EngineLost, EngineUnavailable, StepFailed, StepStopped
from ...events import LogEvent
from ...failure import failing_line
from ...platforms import Platform
from ...taskfile.execute import DEADLINE_EXCEEDED, Attempt
from ...taskfile.model import Step
from ...context import is_git_url, pack_folder, pack_git
from . import containers, leftovers
from .builds import BuildRequest, EngineBuilder, new_build_id

HELPER_IMAGE = "busybox"  # only to hold volumes for archive copies; never started
OUTPUT_TAIL = 256 * 1024  # bytes of an attempt's output kept for retryOnErrors matching
POLL = 0.5  # seconds between looks at a running step's container (its stop and deadline are checked as often)
#: what a call to an engine that went away (or is going) raises, whichever transport carries it
ENGINE_TROUBLE = (EngineError, EngineUnavailable, OSError, http.client.HTTPException, ValueError)

def _container_name(instance: str, step_id: str) -> str:
    return re.sub(r"[^a-zA-Z0-9_.-]", "_", f"acb_{instance}_{step_id}")


class LocalTaskExecutor:
    def __init__(self, run_id: str, context_tar: bytes, plan, builder: EngineBuilder | None = None):
        """`context_tar`: the source context, packed (as recorded), copied into /workspace by `prepare`."""
        self.run_id, self.context_tar, self.plan = run_id, context_tar, plan
        # run IDs are unique per run store, not per engine: names on the engine get a random part too
        self.instance = f"{run_id}_{os.urandom(3).hex()}"
        self.builder = builder or EngineBuilder()
        self.engine = self.builder.engine  # the quick builds' engine client: one address, transport, TLS
        self.containers: dict[str, str] = {}  # step id -> container ID
        self.build_refs: dict[str, str] = {}
        self.volumes: dict[str, str] = {}  # declared name -> docker volume
        self.workspace: str | None = None  # volume names
        self.home: str | None = None
        self.helper: str | None = None  # the container that holds the volumes for archive copies
        self.lock = threading.Lock()
        self.has_bridge = self.builder.network_mode != "host"
        self.hosts = {s.id: "127.0.0.1" for s in plan.task.steps if not self.has_bridge}
        #: why the engine went away under the run (set by the step that found out): the run is an Error
        self.engine_lost: str | None = None
        #: told when a detached container stops on its own: (step id, exit code, error); the task runner's
        #: `detached_exited`
        self.on_detached_exit: Callable[[str, int, str], None] = lambda step_id, code, error: None
        self.watchers: list[threading.Thread] = []
        self.closing = False  # cleanup removes the detached containers: their end is no crash

    # -- set-up -------------------------------------------------------------------------------------
    def prepare(self, log) -> None:
        self.workspace = containers.create_volume(self.engine, f"acb_vol_{self.instance}", self._labels())
        self.home = containers.create_volume(self.engine, f"acb_home_{self.instance}", self._labels())
        for name in self.plan.task.volumes:
            self.volumes[name] = containers.create_volume(self.engine, f"acb_{self.instance}_{name}", self._labels())
        self._ensure_image(HELPER_IMAGE, log)
        binds = {self.workspace: "/workspace", **{vol: f"/secrets/{name}" for name, vol in self.volumes.items()}}
        self.helper = containers.create(self.engine, containers.ContainerSpec(
            HELPER_IMAGE, ["true"], name=f"acb_{self.instance}_helper", binds=binds, labels=self._labels(),
            network_mode="none"))
        containers.put_archive(self.engine, self.helper, "/workspace", self.context_tar)
        for name, files in self.plan.task.volumes.items():
            containers.put_archive(self.engine, self.helper, f"/secrets/{name}", _secret_tar(files))

    def _labels(self) -> dict:
        return leftovers.labels(self.run_id, self.instance)

    def _ensure_image(self, image: str, log, force: bool = False) -> None:
        try:
            if not force and containers.has_image(self.engine, image):
                return
            log(f"pulling {image}")
            containers.pull(self.engine, image)
        except EngineError as e:  # not a reference the engine reads, or a pull the registry refused
            raise StepFailed(f"cannot pull {image}: {e.message}") from None

    # -- steps --------------------------------------------------------------------------------------
    def run_step(self, step: Step, deadline: float, stop: threading.Event, log) -> Attempt:
        if step.type == "build":
            return self._build(step, deadline, stop, log)
        return self._cmd(step, deadline, stop, log)

    def _cmd(self, step: Step, deadline: float, stop: threading.Event, log) -> Attempt:
        try:
            argv = shlex.split(step.cmd)
        except ValueError as e:
            raise StepFailed(f"cannot split cmd: {e}") from None
        image, args = argv[0], argv[1:]
        self._ensure_image(image, log, force=bool(step.get("pull")))
        if step.get("ports") or step.get("expose"):
            log("ports/expose: containers use host networking here, so their ports are already on the host")
        name = _container_name(self.instance, step.id)
        self._remove(name)  # a previous attempt's or repetition's container (keep: true)
        mounts = {self.workspace: "/workspace", self.home: "/acb/home"}
        if self._socket_path():
            mounts[self._socket_path()] = "/var/run/docker.sock"
        for m in step.get("volumeMounts", []):
            mounts[self.volumes[m["name"]]] = m["mountPath"]
        spec = containers.ContainerSpec(
            image, args or None, name=name, env=["HOME=/acb/home", *step.env], workdir=step.container_workdir,
            entrypoint=step.get("entryPoint") or None, user=step.get("user") or None,
            privileged=bool(step.get("privileged")), binds=mounts, labels=self._labels(),
            network_mode="host" if not self.has_bridge else None, extra_hosts=self.hosts)
        try:
            container = containers.create(self.engine, spec)
            with self.lock:
                self.containers[step.id] = container
            containers.start(self.engine, container)
        except EngineError as e:
            raise StepFailed(f"cannot start {image}: {e.message}") from None
        if step.get("detach"):
            log(f"started {name} (detached)")
            self._watch_detached(step, container, log)
            return Attempt(0)
        output = _Collector(log)
        reader = threading.Thread(target=output.follow, args=(self.engine, container), daemon=True)
        reader.start()
        code = self._wait(container, deadline, stop, f"step {step.id}", reader)
        reader.join(timeout=5)
        output.catch_up(self.engine, container)
        if not step.get("keep"):
            self._remove(name)
        return Attempt(code, output.text())

    def _watch_detached(self, step: Step, container, log) -> None:
        """The detached container's output into the step's log for as long as it runs; when it stops
        before the run ends, the task runner hears its exit code and the line that says why."""
        output = _Collector(log)

        def watch():
            output.follow(self.engine, container)  # ends when the container stops (or is removed at the end)
            while True:  # a followed stream can also end early (dockerd 20.10): wait for the exit itself
                try:
                    code = containers.exit_code(self.engine, container)
                except ENGINE_TROUBLE:
                    return  # removed by the cleanup, or the engine is gone (the run's own steps find out)
                if code is not None:
                    break
                if self.closing:
                    return
                time.sleep(POLL)
            output.catch_up(self.engine, container)
            if self.closing:
                return
            log(f"the detached container exited with code {code}")
            why = failing_line(output.text().splitlines())
            self.on_detached_exit(step.id, code, f"exited with code {code} before the run ended"
                                                 + (f": {why}" if why else ""))

        thread = threading.Thread(target=watch, daemon=True, name=f"detached-{step.id}")
        self.watchers.append(thread)
        thread.start()

    def _wait(self, container: str, deadline: float, stop: threading.Event, what: str = "a step",
              reader: threading.Thread | None = None) -> int:
        while True:
            if stop.is_set():
                self._kill(container)
                raise StepStopped()
            left = deadline - time.monotonic()
            if left <= 0:
                self._kill(container)
                raise StepFailed(DEADLINE_EXCEEDED)
            try:
                code = containers.exit_code(self.engine, container)
            except ENGINE_TROUBLE as e:
                if self.builder.engine_gone():  # the look was cut by the engine going away
                    raise self._lost(what) from None
                if isinstance(e, EngineError):  # the container is gone from under the step
                    raise StepFailed(f"{what}: {e.message}") from None
                code = None  # a connection that failed once: look again
            if code is None:
                # the followed output ends as the container exits: waiting on its reader sees the exit at once
                # (a followed stream can also end early, on dockerd 20.10: then plain waits)
                if reader is not None and reader.is_alive():
                    reader.join(min(left, POLL))
                else:
                    time.sleep(min(left, POLL))
                continue
            if stop.is_set():  # killed because the run is stopping, not a failure of its own
                raise StepStopped()
            return code

    def _build(self, step: Step, deadline: float, stop: threading.Event, log) -> Attempt:
        spec = step.build_spec()  # the build string read as the docker CLI reads it
        refusal = spec.refusal()
        if refusal:
            raise StepFailed(refusal)
        workdir = step.container_workdir or "/workspace"
        context = spec.context or "."
        if is_git_url(context):
            ctx = pack_git(context, dockerfile=spec.dockerfile)
        else:
            root = os.path.normpath(os.path.join(workdir, context))
            # docker reads -f from the working directory, and defaults to the context's Dockerfile
            wanted = os.path.normpath(os.path.join(workdir, spec.dockerfile) if spec.dockerfile
                                      else os.path.join(root, "Dockerfile"))
            if os.path.commonpath([root, wanted]) != root:
                raise StepFailed(f"-f {spec.dockerfile}: the local runner reads a Dockerfile from inside the build "
                                 f"context ({context})")
            ctx = self._context_from_volume(root, os.path.relpath(wanted, root))
        # docker builds with the -t flags; a step-level `tags:` (which acr-builder reads for digests) tags too
        tags = spec.tags + [t for t in step.tags if t not in spec.tags]
        if spec.cache_ref:
            log("cache: enabled: the engine's BuildKit cache is used here; the registry cache is ACR's")
        request = BuildRequest(context=ctx, tags=tags, build_args=spec.build_args, labels=spec.labels,
                               target=spec.target, platform=_engine_platform(spec.platform), no_cache=spec.no_cache)
        lines: list[str] = []

        def emit(ev):
            line = ev.line()
            lines.append(line)
            log(line)

        finished = threading.Event()

        def watchdog():  # the deadline and a stop cancel the BuildKit build
            while not finished.wait(0.2):
                if stop.is_set() or time.monotonic() >= deadline:
                    if self.build_refs.get(step.id):
                        self.builder.cancel(self.build_refs[step.id])
                    return

        threading.Thread(target=watchdog, daemon=True).start()
        try:
            build_id = self.build_refs[step.id] = new_build_id()
            self.builder.build(request, emit, build_id)
        except BuildFailed as e:
            finished.set()
            self.build_refs.pop(step.id, None)
            if stop.is_set():
                raise StepStopped() from None
            if isinstance(e, EngineLost):
                self.engine_lost = self.engine_lost or e.message
                raise StepFailed(e.message) from None
            if time.monotonic() >= deadline:
                raise StepFailed(DEADLINE_EXCEEDED) from None
            log(f"build failed: {e.message}")
            return Attempt(e.exit_code or 1, "\n".join(lines[-200:]) + "\n" + e.message)
        finished.set()
        self.build_refs.pop(step.id, None)
        for tag in tags:
            log(f"built {tag}")
        return Attempt(0, "\n".join(lines[-200:]))

    def _context_from_volume(self, path: str, dockerfile: str):
        with tempfile.TemporaryDirectory(prefix="acrmagic-ctx-") as tmp, tempfile.TemporaryFile() as archive:
            try:  # on disk, not in memory: a context can be larger than the machine's memory
                for chunk in containers.get_archive(self.engine, self.helper, path.rstrip("/") + "/."):
                    archive.write(chunk)
            except EngineError as e:
                if e.status != containers.NOT_FOUND:
                    raise
                raise StepFailed(f"build context {path} does not exist in /workspace") from None
            archive.seek(0)
            with tarfile.open(fileobj=archive) as tar:
                tar.extractall(tmp, filter="data")
            root = Path(tmp)
            inner = [p for p in root.iterdir()]
            if len(inner) == 1 and inner[0].is_dir() and not (root / dockerfile).exists():
                root = inner[0]  # the archive of a folder holds the folder itself
            return pack_folder(root, dockerfile=dockerfile)

    def push(self, ref: str, log) -> str:
        try:
            return self.builder.push(ref, lambda ev: log(ev.line() if isinstance(ev, LogEvent) else str(ev)))
        except BuildFailed as e:
            if isinstance(e, EngineLost):
                self.engine_lost = self.engine_lost or e.message
            raise StepFailed(e.message) from None

    def _lost(self, what: str) -> StepFailed:
        message = self.builder.lost(what, None).message
        self.engine_lost = self.engine_lost or message
        return StepFailed(message)

    # -- stopping and cleaning ------------------------------------------------------------------------
    def kill(self, step: Step) -> None:
        ref = self.build_refs.get(step.id)
        if ref:
            self.builder.cancel(ref)
        container = self.containers.get(step.id)
        if container is not None:
            self._kill(container)

    def _kill(self, container: str) -> None:
        try:
            containers.kill(self.engine, container)
        except ENGINE_TROUBLE:
            pass  # stopped already, or an engine gone

    def _remove(self, name: str) -> None:
        try:
            containers.remove(self.engine, name)
        except ENGINE_TROUBLE:
            pass  # not there, or an engine gone: the next run removes what is left (leftovers)

    def cleanup(self, steps: list[Step]) -> None:
        self.closing = True
        for step in steps:
            self._remove(_container_name(self.instance, step.id))
        for watcher in self.watchers:  # their last lines are in the log before the run is concluded
            watcher.join(timeout=10)
        if self.helper is not None:
            self._remove(self.helper)
        for vol in [self.workspace, self.home, *self.volumes.values()]:
            if vol is not None:
                try:
                    containers.remove_volume(self.engine, vol)
                except ENGINE_TROUBLE:
                    pass

    def _socket_path(self) -> str | None:
        """The engine's socket, mounted into cmd steps as acr-builder mounts it (the engine this run uses)."""
        host = self.engine.host
        return host[len("unix://"):] if host.startswith("unix://") else None


def _secret_tar(files: dict[str, str]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as tar:
        for name, value in files.items():
            try:
                data = base64.b64decode(value, validate=True)
            except ValueError:
                raise StepFailed("failed to decode Base64 value. please make sure value provided is Base64 "
                                 "encoded") from None
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), 0o400
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


class _Collector:
    """Follows a container's output: every line to the log, a bounded tail kept for retryOnErrors.

    dockerd 20.10's followed stream can drop a last line that has no newline (`wget -O-` of a JSON
    answer), so once the container has exited `catch_up` reads the whole output again and logs what
    the stream did not bring."""

    def __init__(self, log):
        self.log = log
        self.tail = bytearray()
        self.partial = b""
        self.seen = 0
        self.lock = threading.Lock()

    def follow(self, engine, container: str) -> None:
        try:
            for chunk in containers.output(engine, container, follow=True):
                self._feed(chunk)
        except ENGINE_TROUBLE:
            pass

    def catch_up(self, engine, container: str) -> None:
        try:
            whole = b"".join(containers.output(engine, container))
        except ENGINE_TROUBLE:
            whole = b""
        with self.lock:
            missed = whole[self.seen:]
        if missed:
            self._feed(missed)
        with self.lock:
            if self.partial:
                self.log(self.partial.decode("utf-8", errors="replace"))
                self.partial = b""

    def _feed(self, chunk: bytes) -> None:
        with self.lock:
            self.seen += len(chunk)
            self.tail += chunk
            del self.tail[:-OUTPUT_TAIL]
            *lines, self.partial = (self.partial + chunk).split(b"\n")
            for line in lines:
                self.log(line.decode("utf-8", errors="replace").rstrip("\r"))

    def text(self) -> str:
        return self.tail.decode("utf-8", errors="replace")


def _engine_platform(text: str | None) -> str | None:
    """A build step's `--platform` as the engine spells it (az's x86 is Docker's 386); text Docker would
    refuse goes as written, so the engine's own message says why."""
    if not text:
        return None
    try:
        return Platform.parse(text).engine
    except ValueError:
        return text
