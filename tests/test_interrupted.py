"""Runs whose engine or registry goes away under them, with real stops (SIGTERM) and real kills (SIGKILL).

- the registry stopped mid-push: the run is Failed with the push's error (acr-builder's verdict for a push
  the registry did not take), after the push's attempts, with no image recorded;
- the engine stopped mid-build or mid-step: the run could not be carried out, so it is an Error (RunErrored)
  naming the engine that went away, and it ends at once instead of waiting for its timeout.

The engine tests start a private dockerd of their own (own data, exec root and socket; no bridge, no
iptables, as every engine on this machine) and point DOCKER_HOST at it: the shared engine is never touched.
Everything started here is ended by its PID, and its files removed.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import uuid
from pathlib import Path

import pytest

import acrmagic
from acrmagic.errors import RunErrored, RunFailed
from acrmagic.runs.store import RunStore

pytestmark = pytest.mark.engine

SIGNALS = [pytest.param(signal.SIGTERM, id="stop"), pytest.param(signal.SIGKILL, id="kill")]
MARKER = "step-is-running-now"


# -- processes started here, and only those, ended by PID --------------------------------------------------------
def _start_time(pid: int) -> str | None:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def _descendants(root: int) -> dict[int, str]:
    """PID -> start time of every process below `root` now."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    found, todo = {}, [root]
    while todo:
        for pid in children.get(todo.pop(), []):
            start = _start_time(pid)
            if start:
                found[pid] = start
                todo.append(pid)
    return found


def _under(root: Path) -> dict[int, str]:
    """The processes whose command line names `root` (containerd's shims re-parent to init), and theirs."""
    found = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            if str(root).encode() in cmdline and (start := _start_time(int(entry.name))):
                found[int(entry.name)] = start
                found.update(_descendants(int(entry.name)))
    return found


def _kill_known(procs: dict[int, str]) -> None:
    for pid, start in procs.items():
        if _start_time(pid) == start:  # still the process seen (not a reused PID)
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


class PrivateEngine:
    """A dockerd of this test alone, with its managed containerd under its exec root."""

    def __init__(self):
        self.root = Path(tempfile.mkdtemp(prefix="acrm-pd-"))  # short: unix socket paths are at most 107 bytes
        self.socket = self.root / "docker.sock"
        self.host = f"unix://{self.socket}"
        self.children: dict[int, str] = {}
        self.log = open(self.root / "dockerd.log", "wb")
        self.proc = subprocess.Popen(
            ["/usr/sbin/dockerd", "--data-root", str(self.root / "data"), "--exec-root", str(self.root / "exec"),
             "--pidfile", str(self.root / "docker.pid"), "-H", self.host, "--bridge=none", "--iptables=false",
             "--ip-masq=false", "--ip6tables=false", "--registry-mirror=http://127.0.0.1:5001",
             "--storage-driver=overlay2"], stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 40
        while time.monotonic() < deadline and self.proc.poll() is None:
            if self._answers():
                return
            time.sleep(0.3)
        self.close()
        pytest.fail(f"the private dockerd did not start: {self.last_log_line()}")

    def _answers(self) -> bool:
        try:
            with socket.socket(socket.AF_UNIX) as s:
                s.settimeout(2)
                s.connect(str(self.socket))
                s.sendall(b"GET /_ping HTTP/1.0\r\n\r\n")
                return b"200 OK" in s.recv(200)
        except OSError:
            return False

    def last_log_line(self) -> str:
        lines = (self.root / "dockerd.log").read_text(errors="replace").strip().splitlines()
        return lines[-1] if lines else "(no output)"

    def stop(self, sig: int) -> None:
        """A real stop (SIGTERM) or kill (SIGKILL) of dockerd; its processes are remembered to end later."""
        self.children.update(_descendants(self.proc.pid))
        self.proc.send_signal(sig)
        if sig == signal.SIGKILL:
            _kill_known(self.children)  # its containerd and the build's processes die with it, as in a crash

    def close(self) -> None:
        try:
            if self.proc.poll() is None:
                self.children.update(_descendants(self.proc.pid))
                self.proc.terminate()
                try:
                    self.proc.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
            self.proc.wait(timeout=10)
            _kill_known(self.children)
            _kill_known(_under(self.root))
        finally:
            self.log.close()
            time.sleep(0.5)
            mounts = [line.split()[1] for line in Path("/proc/mounts").read_text().splitlines()]
            for mount in sorted((m for m in mounts if m.startswith(str(self.root))), reverse=True):
                subprocess.run(["umount", "-l", mount], check=False)
            shutil.rmtree(self.root, ignore_errors=True)


@pytest.fixture
def private_engine(monkeypatch):
    engine = PrivateEngine()
    monkeypatch.setenv("DOCKER_HOST", engine.host)
    try:
        yield engine
    finally:
        engine.close()


class Private:
    """A CNCF Distribution registry of this test alone, on a free loopback port."""

    def __init__(self, root: Path):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.host = f"127.0.0.1:{self.port}"
        config = root / "registry.yml"
        config.write_text(f"version: 0.1\nlog:\n  level: info\n  accesslog:\n    disabled: true\n"
                          f"storage:\n  filesystem:\n    rootdirectory: {root / 'registry-data'}\n"
                          f"http:\n  addr: {self.host}\n")
        self.upload_started = threading.Event()
        self.proc = subprocess.Popen(["/usr/bin/docker-registry", "serve", str(config)], stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True)
        self.stop_signal: int | None = None
        threading.Thread(target=self._read, daemon=True).start()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.2)
        self.close()
        pytest.fail("the private registry did not start")

    def _read(self) -> None:
        for line in self.proc.stdout:  # the first blob upload the engine starts: stop the registry under it
            if "http.request.method=POST" in line and "/blobs/uploads/" in line and not self.upload_started.is_set():
                self.upload_started.set()
                if self.stop_signal is not None:
                    self.proc.send_signal(self.stop_signal)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=10)


def _nothing_running():
    assert [r.run_id for r in RunStore().list() if r.status in ("Running", "Queued")] == []


def _one_line(exc) -> str:
    text = str(exc)
    assert "\n" not in text and text == exc.message
    return text


# -- the registry goes away under a push ---------------------------------------------------------------------------
@pytest.mark.parametrize("sig", SIGNALS)
def test_registry_stopped_mid_push_fails_the_run_with_the_push_error(sig, tmp_path, make_context, engine):
    registry = Private(tmp_path)
    registry.stop_signal = sig
    ref = f"{registry.host}/big-{uuid.uuid4().hex[:8]}"
    try:
        ctx = make_context({"Dockerfile": f"FROM busybox\nRUN echo {uuid.uuid4().hex} && "
                                          f"head -c 200000000 /dev/urandom > /blob\n"})
        with pytest.raises(RunFailed) as failed:
            acrmagic.build(image=f"{ref}:{{{{.Run.ID}}}}", context=str(ctx))
    finally:
        registry.close()
        for image in engine.images.list(name=ref):
            engine.images.remove(image.id, force=True)
    assert registry.upload_started.is_set() and registry.proc.returncode == -sig
    run = failed.value.run
    message = _one_line(failed.value)
    assert message.startswith(f"run {run.run_id} failed: push of {ref}:{run.run_id} failed: ")
    assert registry.host in message.split(" failed: ", 2)[2]  # the engine's reason names the registry
    stored = RunStore().get(run.run_id)
    assert (stored.status, stored.error) == ("Failed", run.error) and stored.error in message
    assert stored.output_images == [] and run.output_images == []
    log = stored.log()
    assert f"push of {ref}:{run.run_id} failed:" in log and "trying again (2/3)" in log and "(3/3)" in log
    _nothing_running()


# -- the engine goes away under a build ------------------------------------------------------------------------------
class KillOn:
    """A run's observer that stops the private engine when a line with MARKER (not the command) arrives."""

    cancel_requested = False

    def __init__(self, engine: PrivateEngine, sig: int):
        self.engine, self.sig, self.stopped_at = engine, sig, None

    def start(self, run):
        pass

    def event(self, ev, line):
        if MARKER in line and "echo" not in line and self.stopped_at is None:
            self.stopped_at = time.monotonic()
            self.engine.stop(self.sig)

    def finish(self, run):
        pass


@pytest.mark.parametrize("sig", SIGNALS)
def test_engine_stopped_mid_build_is_an_error_run(sig, private_engine, make_context):
    observer = KillOn(private_engine, sig)
    ctx = make_context({"Dockerfile": f"FROM busybox\nRUN echo {MARKER} && sleep 60\n"})
    with pytest.raises(RunErrored) as errored:
        acrmagic.build(context=str(ctx), observer=observer)
    assert observer.stopped_at is not None, "the RUN step never started"
    assert time.monotonic() - observer.stopped_at < 30
    run = errored.value.run
    message = _one_line(errored.value)
    assert message.startswith(f"run {run.run_id} error: lost the connection to the Docker engine at "
                              f"{private_engine.host} during the build (")
    stored = RunStore().get(run.run_id)
    assert (stored.status, stored.error) == ("Error", run.error) and stored.error in message
    assert private_engine.proc.wait(timeout=30) == (0 if sig == signal.SIGTERM else -sig)  # a stop exits cleanly
    _nothing_running()


@pytest.mark.parametrize("sig", SIGNALS)
def test_engine_stopped_mid_task_step_is_an_error_run(sig, private_engine, make_context):
    observer = KillOn(private_engine, sig)
    ctx = make_context({"data.txt": "x\n"})
    task = f"version: v1.1.0\nsteps:\n  - id: long\n    cmd: busybox sh -c \"echo {MARKER}; sleep 60\"\n"
    with pytest.raises(RunErrored) as errored:
        acrmagic.run(task, context=str(ctx), observer=observer)
    assert observer.stopped_at is not None, "the step never started"
    assert time.monotonic() - observer.stopped_at < 30
    run = errored.value.run
    message = _one_line(errored.value)
    assert message == (f"run {run.run_id} error: lost the connection to the Docker engine at {private_engine.host} "
                       f"during step long (the engine stopped answering)")
    stored = RunStore().get(run.run_id)
    assert (stored.status, stored.error) == ("Error", run.error)
    assert MARKER in stored.log()
    assert private_engine.proc.wait(timeout=30) == (0 if sig == signal.SIGTERM else -sig)  # a stop exits cleanly
    _nothing_running()
