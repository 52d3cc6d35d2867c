"""The ACR target against the product's offline ACR emulator: real azure-identity, real SDK clients,
real HTTPS, real Azurite, runs built on the local engine and pushed to localhost:5000.

The emulator runs as a subprocess for the whole module (stopped with SIGTERM at the end); its runs go
to the local target, as in local mode.
"""

from __future__ import annotations

import json
import re
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from acrmagic import runner
from acrmagic.emulator.process import EmulatorProcess
from acrmagic.errors import (AuthenticationFailed, CloudError, CloudUnavailable, RunCanceled, RunErrored, RunFailed,
                             RunNotFound, RunTimedOut, TaskFileError, UsageError)
from acrmagic.events import StepEvent
from acrmagic.logformat import read_log
from acrmagic.runrequest import QuickBuild, TaskRun
from acrmagic.runs.store import RunStore
from acrmagic.states import CANCELED, STEP_SUCCEEDED, STOP_TIMEOUT, SUCCEEDED
from acrmagic.targets.acr import AcrTarget, Pacing

from conftest import registry_digest, wait_for

pytestmark = pytest.mark.engine

PYTHON = sys.executable
FAST = Pacing(base=0.05, cap=0.2, jitter=lambda: 0.0, status_every=0.5, end_grace=5, cancel_grace=20)
SECRET_ARG = "s3cret-build-arg-7f1e"
SECRET_VALUE = "s3cret-set-value-92ab"
REGISTRIES = [
    {"name": "acrmagic", "resourceGroup": "acrmagic-rg", "sku": "Standard"},
    {"name": "classicreg", "resourceGroup": "other-rg", "sku": "Classic"},
    {"name": "notasksreg", "resourceGroup": "other-rg", "sku": "Basic", "tasks": False},
]

class Emulator(EmulatorProcess):
    def __init__(self, tmp: Path, registries: list[dict] | None = None):
        self.tmp = tmp
        args = []
        if registries:
            tmp.mkdir(parents=True, exist_ok=True)
            (tmp / "registries.json").write_text(json.dumps(registries))
            args += ["--registries", str(tmp / "registries.json")]
        super().__init__(tmp, args, env={**os.environ, "ACRMAGIC_HOME": str(tmp / "emulator-home")})

    def target(self, **kwargs) -> AcrTarget:
        kwargs.setdefault("pacing", FAST)
        return AcrTarget(kwargs.pop("registry", "acrmagic"), emulator_config=str(self.config_file), **kwargs)

    def stop(self) -> None:
        super().stop()
        azurite = self.info.get("azurite_pid")
        assert azurite is None or not _alive(azurite), "the emulator left Azurite running"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}/stat").exists() and Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"


@pytest.fixture(scope="module")
def emulator(tmp_path_factory):
    emu = Emulator(tmp_path_factory.mktemp("acr-emulator"), REGISTRIES)
    yield emu
    emu.stop()
    assert emu.proc.returncode == 0, (emu.tmp / "emulator.stderr").read_text()[-2000:]


class Observer:
    def __init__(self, cancel_when: str | None = None):
        self.events, self.lines, self.runs = [], [], []
        self.cancel_when, self.cancel_requested = cancel_when, False

    def start(self, run):
        self.runs.append(run)

    def event(self, ev, line):
        self.events.append(ev)
        self.lines.append(line)
        if self.cancel_when and self.cancel_when in line:
            self.cancel_requested = True  # the view's Cancel button

    def finish(self, run):
        self.runs.append(run)


def _run(request, target, observer=None):
    observer = observer or Observer()
    return runner.start(request, target=target, observer=observer).run(), observer


def _in_thread(fn):
    box = {}

    def work():
        try:
            box["result"] = fn()
        except BaseException as e:
            box["error"] = e
    thread = threading.Thread(target=work, daemon=True)
    thread.start()
    return thread, box




# -- quick builds --------------------------------------------------------------------------------------------

def test_quick_build_pushes_the_digest_acr_reports(emulator, make_context, capsys):
    target = emulator.target()
    ctx = make_context({"app.txt": "hello", "skip.log": "x", ".dockerignore": "*.log\n"})
    dockerfile = ("FROM busybox\nARG GREETING\nARG TOKEN\nCOPY . /app\n"
                  "RUN test ! -e /app/skip.log && echo \"greeting=$GREETING token=$TOKEN\"\n")
    req = QuickBuild(context=str(ctx), images=["acr-target-test:{{.Run.ID}}"], dockerfile_text=dockerfile,
                     build_args={"GREETING": "hi"}, secret_build_args={"TOKEN": SECRET_ARG})
    run, obs = _run(req, target)

    assert run.status == SUCCEEDED and run.backend == "acr" and run.target == target.describe()
    image, = run.output_images
    assert image.registry == "localhost:5000" and image.tag == run.run_id
    assert registry_digest(image.repository, image.tag) == image.digest  # read back from the registry itself
    assert run.source["type"] == "upload" and run.source["relativePath"].startswith("source/")
    assert run.source["digest"].startswith("sha256:")
    assert run.who == emulator.info["system_identity_client_id"] == target.who()
    assert "IDENTITY_HEADER" not in os.environ and "IDENTITY_ENDPOINT" not in os.environ
    # BuildKit's steps, parsed from the streamed blob, as a local build reports them
    steps = [ev for ev in obs.events if isinstance(ev, StepEvent)]
    assert any(ev.state == STEP_SUCCEEDED for ev in steps), obs.lines
    assert any("greeting=hi" in line for line in obs.lines)
    assert f"Queued a build with ID: {run.run_id}" in obs.lines
    # the secret build arg: in no log, record or output
    stored = RunStore().get(run.run_id)
    for text in (stored.log(), json.dumps(stored.to_record()), "\n".join(obs.lines), target.run_log(run.run_id),
                 capsys.readouterr().out):
        assert SECRET_ARG not in text
    assert "greeting=hi token=***" in stored.log()  # the echoed value, masked (the RUN line itself says token=$TOKEN)


def test_a_dockerfile_the_dockerignore_excludes_still_builds_as_with_az(emulator, make_context):
    ctx = make_context({"build/app.Dockerfile": "FROM busybox\nCOPY . /src\nRUN ls /src\n", "keep.txt": "k",
                        ".dockerignore": "build\n"})
    run, obs = _run(QuickBuild(context=str(ctx), dockerfile="build/app.Dockerfile"), emulator.target())
    assert run.status == SUCCEEDED and run.output_images == []  # no tag: built, not pushed (as az)
    assert any(line.endswith("keep.txt") for line in obs.lines)
    assert not any(line.endswith(" build") or line.endswith("\tbuild") for line in obs.lines)


def test_replay_and_history(emulator, make_context):
    target = emulator.target()
    ctx = make_context({"a.txt": "a"})
    run, obs = _run(QuickBuild(context=str(ctx), images=["acr-history:{{.Run.ID}}"],
                               dockerfile_text="FROM busybox\nCOPY a.txt /a.txt\n"), target)
    log = target.run_log(run.run_id)
    assert f"Run ID: {run.run_id} was successful" in log
    # replay: the ACR log read back gives the step states the live follow gave
    live = [(e.step, e.state) for e in obs.events if isinstance(e, StepEvent)]
    replayed = [(e.step, e.state) for e in read_log(log.splitlines()) if isinstance(e, StepEvent)]
    assert live and replayed == live
    got = target.get_run(run.run_id)
    assert got.status == SUCCEEDED and got.output_images == run.output_images and got.backend == "acr"
    recent = target.list_runs(status="succeeded", top=2)
    assert 1 <= len(recent) <= 2 and recent[0].run_id == run.run_id
    assert all(r.status == SUCCEEDED for r in recent)
    with pytest.raises(RunNotFound):
        target.get_run("zz999")


def test_git_context_is_passed_to_acr_as_is(emulator):
    target = emulator.target()
    req = QuickBuild(context="https://github.com/Azure-Samples/acr-build-helloworld-node.git", images=["x:1"])
    # ACR accepts the repository URL and fetches it when the run starts; the emulator is offline, so
    # the run fails there, with one line that says why
    with pytest.raises(RunFailed) as e:
        _run(req, target)
    assert "offline" in e.value.message and "acr-build-helloworld-node" in e.value.message
    assert "\n" not in e.value.message


# -- task runs ----------------------------------------------------------------------------------------------

TASK = """\
version: v1.1.0
steps:
  - id: build
    build: -t $Registry/acr-task-test:$ID .
  - id: greet
    cmd: $Registry/acr-task-test:$ID sh -c 'echo greeting={{.Values.greeting}} {{.Values.name}} token={{.Values.token}}'
  - id: push
    push: ["$Registry/acr-task-test:$ID"]
"""


def test_task_file_run_with_a_context(emulator, make_context):
    target = emulator.target()
    ctx = make_context({"Dockerfile": "FROM busybox\nCOPY msg.txt /msg.txt\n", "msg.txt": "m", "acb.yaml": TASK,
                        "values.yaml": "name: world\n"})
    req = TaskRun(task_text=TASK, task_name=str(ctx / "acb.yaml"), context=str(ctx), context_path=ctx,
                  values_file="values.yaml", values_text="name: world\n",
                  set_values={"greeting": "hello"}, set_secrets={"token": SECRET_VALUE})
    run, obs = _run(req, target)
    assert run.status == SUCCEEDED, run.error
    assert [s.name for s in run.steps] == ["build", "greet", "push"]
    assert all(s.status == STEP_SUCCEEDED for s in run.steps), [s.to_dict() for s in run.steps]
    assert any("greeting=hello world" in line for line in obs.lines)
    image, = run.output_images
    assert registry_digest(image.repository, image.tag) == image.digest
    stored = RunStore().get(run.run_id)
    for text in (stored.log(), json.dumps(stored.to_record()), "\n".join(obs.lines), target.run_log(run.run_id)):
        assert SECRET_VALUE not in text


def test_task_from_a_cell_goes_into_the_archive(emulator, make_context):
    target = emulator.target()
    ctx = make_context({"data.txt": "payload-123"})
    task = "version: v1.1.0\nsteps:\n  - cmd: busybox cat /workspace/data.txt\n"
    run, obs = _run(TaskRun(task_text=task, task_name="<cell>", context=str(ctx), context_path=ctx), target)
    assert run.status == SUCCEEDED, run.error
    assert any("payload-123" in line for line in obs.lines)


def test_encoded_task_run_without_a_context(emulator):
    target = emulator.target()
    task = "version: v1.1.0\nsteps:\n  - id: hello\n    cmd: busybox echo hello-{{.Values.who}}\n"
    run, obs = _run(TaskRun(task_text=task, task_name="<cell>", context=None, set_values={"who": "acr"}), target)
    assert run.status == SUCCEEDED, run.error
    assert run.source == {"type": "none"}
    assert any("hello-acr" in line for line in obs.lines)
    assert [(s.name, s.status) for s in run.steps] == [("hello", STEP_SUCCEEDED)]


def test_a_bad_task_file_fails_with_its_line_before_any_upload(emulator, make_context):
    target = emulator.target()
    before = len(target.list_runs(top=100))
    ctx = make_context({"x": "1"})
    with pytest.raises(TaskFileError, match=r"acb\.yaml:\d+"):
        runner.start(TaskRun(task_text="version: v1.1.0\nsteps:\n  - cmd: [unclosed\n", task_name="acb.yaml",
                             context=str(ctx), context_path=ctx), target=target, observer=Observer())
    assert len(target.list_runs(top=100)) == before


# -- stopping -----------------------------------------------------------------------------------------------

def test_cancel_from_the_view_stops_the_run_in_acr(emulator, make_context):
    target = emulator.target()
    ctx = make_context({"a": "a"})
    req = QuickBuild(context=str(ctx), images=["acr-cancel:{{.Run.ID}}"],
                     dockerfile_text="FROM busybox\nRUN echo sleeping-now && sleep 120\n")
    obs = Observer(cancel_when="sleeping-now")
    started = time.monotonic()
    with pytest.raises(RunCanceled) as e:
        _run(req, target, obs)
    assert time.monotonic() - started < 60
    run_id = e.value.run.run_id
    assert RunStore().get(run_id).status == CANCELED
    assert wait_for(lambda: target.get_run(run_id).status == CANCELED, 30, "ACR to report Canceled")


def test_a_run_past_its_deadline_is_canceled_in_acr_and_recorded_timeout(emulator, make_context):
    target = emulator.target()
    req = QuickBuild(context=str(make_context({"a": "a"})), images=[],
                     dockerfile_text="FROM busybox\nRUN echo slow-now && sleep 120\n")
    obs = Observer()
    execution = runner.start(req, target=target, observer=obs)
    thread, box = _in_thread(execution.run)
    wait_for(lambda: any("slow-now" in line for line in obs.lines), 60, "the build to start")
    execution.stop(STOP_TIMEOUT)  # what the supervisor does at the run's deadline (ACR takes 300 s at least)
    thread.join(60)
    assert isinstance(box.get("error"), RunTimedOut), box
    assert "did not finish within --timeout 3600s" in box["error"].message
    assert target.get_run(box["error"].run.run_id).status == CANCELED


def test_cancel_from_another_target_instance(emulator, make_context):
    target = emulator.target()
    ctx = make_context({"a": "a"})
    req = QuickBuild(context=str(ctx), images=[], dockerfile_text="FROM busybox\nRUN echo waiting-now && sleep 120\n")
    obs = Observer()
    thread, box = _in_thread(lambda: _run(req, target, obs))
    wait_for(lambda: any("waiting-now" in line for line in obs.lines), 60, "the build to start")
    run_id = obs.runs[0].run_id
    other = AcrTarget.from_config(target.describe(), pacing=FAST)  # as `acrmagic cancel` in another process
    assert other.owner_cancels is False
    other.cancel(run_id)
    thread.join(60)
    assert isinstance(box.get("error"), RunCanceled), box
    assert other.get_run(run_id).status == CANCELED


def test_idle_cutoff_ends_a_silent_follow(emulator, make_context):
    target = emulator.target(pacing=Pacing(base=0.05, cap=0.2, jitter=lambda: 0.0, status_every=0.5, idle_cutoff=3))
    ctx = make_context({"a": "a"})
    req = QuickBuild(context=str(ctx), images=[], dockerfile_text="FROM busybox\nRUN echo quiet-now && sleep 60\n")
    with pytest.raises(RunErrored, match=r"no new log lines for 3 s: .*acrmagic logs") as e:
        _run(req, target)
    run_id = e.value.run.run_id
    target.cancel(run_id)  # it was still going in ACR
    assert wait_for(lambda: target.get_run(run_id).status == CANCELED, 30, "ACR to cancel the silent run")


# -- bad inputs ---------------------------------------------------------------------------------------------

def _one_line(e: pytest.ExceptionInfo) -> str:
    assert "\n" not in str(e.value), str(e.value)
    return str(e.value)


def test_unknown_registry_and_resource_group(emulator):
    with pytest.raises(CloudError) as e:
        emulator.target(registry="nosuchregistry").registry
    assert "nosuchregistry not found" in _one_line(e)
    with pytest.raises(CloudError) as e:
        emulator.target(resource_group="no-such-rg").registry
    assert "resource group no-such-rg not found" in _one_line(e)
    with pytest.raises(UsageError):
        AcrTarget("a/b", emulator_config=str(emulator.config_file))


def test_a_registry_without_tasks(emulator, make_context):
    ctx = make_context({"a": "a"})
    req = QuickBuild(context=str(ctx), dockerfile_text="FROM busybox\n")
    with pytest.raises(CloudError, match="Builds are only supported for managed registries") as e:
        runner.start(req, target=emulator.target(registry="classicreg"), observer=Observer())
    _one_line(e)
    with pytest.raises(CloudError, match="TasksOperationsNotAllowed") as e:
        runner.start(req, target=emulator.target(registry="notasksreg"), observer=Observer())
    _one_line(e)


def test_a_wrong_identity_header(emulator, tmp_path):
    garbled = dict(emulator.info, identity_header="not-the-header")
    path = tmp_path / "garbled.json"
    path.write_text(json.dumps(garbled))
    target = AcrTarget("acrmagic", emulator_config=str(path), pacing=FAST)
    with pytest.raises(AuthenticationFailed) as e:
        target.who()
    line = _one_line(e)
    assert "emulator's managed identity" in line and "not-the-header" not in line
    with pytest.raises(AuthenticationFailed):
        target.registry


def test_no_credentials_at_all(emulator, monkeypatch):
    for var in [v for v in os.environ if v.startswith(("AZURE_", "IDENTITY_", "MSI_"))]:
        monkeypatch.delenv(var)
    # managed identity's IMDS leg goes to a closed loopback port, never to 169.254.169.254
    monkeypatch.setenv("AZURE_POD_IDENTITY_AUTHORITY_HOST", "http://127.0.0.1:9")
    monkeypatch.setenv("AZURE_CONFIG_DIR", str(emulator.tmp / "no-az-config"))
    target = AcrTarget("acrmagic", management_url=emulator.info["management_url"],
                       ca_bundle=emulator.info["ca_bundle"], device_code=False, pacing=FAST)
    with pytest.raises(AuthenticationFailed) as e:
        target.registry
    line = _one_line(e)
    assert "DefaultAzureCredential" in line and "az login" in line


def test_the_emulator_gone(tmp_path_factory, make_context):
    emu = Emulator(tmp_path_factory.mktemp("acr-emulator-gone"))
    target = emu.target()
    assert target.registry == "localhost:5000"
    ca_copy = emu.tmp / "ca-copy.pem"
    ca_copy.write_bytes(Path(emu.info["ca_bundle"]).read_bytes())
    same_ca = emu.target(ca_bundle=str(ca_copy))
    assert same_ca.registry == "localhost:5000"
    emu.stop()  # its state folder (and CA) go with it
    req = QuickBuild(context=str(make_context({"a": "a"})), dockerfile_text="FROM busybox\n")
    with pytest.raises(CloudUnavailable) as e:
        runner.start(req, target=target, observer=Observer())
    assert "is the emulator still running?" in _one_line(e)
    with pytest.raises(CloudUnavailable) as e:
        runner.start(req, target=same_ca, observer=Observer())
    assert "does not answer" in _one_line(e) and "is the emulator still running?" in str(e.value)


def test_no_azure_import_until_used():
    code = "import sys, acrmagic.targets.acr; print([m for m in sys.modules if m.startswith('azure')])"
    assert subprocess.run([PYTHON, "-c", code], capture_output=True, text=True, check=True).stdout.strip() == "[]"


def _cli(*args: str, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run([PYTHON, "-m", "acrmagic", *args], capture_output=True, text=True, env=env, timeout=300)


def test_the_command_line_in_cloud_mode_use_no_wait_logs_show_runs(emulator, make_context, home):
    """`acrmagic use --emulator`, then the same commands as locally: the run goes to ACR (here, the emulator)."""
    env = {**os.environ, "ACRMAGIC_HOME": str(home)}
    used = _cli("use", "--emulator", str(emulator.config_file), env=env)
    assert used.returncode == 0 and "in the ACR emulator described by" in used.stdout
    assert "identity_header" not in (home / "target.json").read_text()  # names and paths only
    ctx = make_context({"Dockerfile": "FROM busybox\nRUN echo cloud-no-wait\n"})
    queued = _cli("build", "--no-wait", "--agent-pool", "pool1", "-t", "cli-nowait:{{.Run.ID}}", str(ctx), env=env)
    assert queued.returncode == 0, queued.stderr
    run_id = queued.stdout.split()[1].rstrip(":")
    assert re.fullmatch(r"ca[0-9a-z]+", run_id)
    log = _cli("logs", run_id, env=env)  # follows the run in ACR to its end
    assert log.returncode == 0 and "cloud-no-wait" in log.stdout
    shown = json.loads(_cli("show", run_id, "-o", "json", env=env).stdout)
    assert shown["status"] == "Succeeded" and shown["backend"] == "acr" and shown["request"]["agentPool"] == "pool1"
    listed = json.loads(_cli("runs", "-o", "json", env=env).stdout)
    assert run_id in [r["runId"] for r in listed]
    local = _cli("use", "local", env=env)
    assert local.stdout.startswith("runs go to the local Docker engine")
    refused = _cli("build", "--no-wait", str(ctx), env=env)
    assert refused.returncode == 2 and "--no-wait is for runs in ACR" in refused.stderr


def test_no_error_message_carries_a_storage_signature():
    """An HTTP library quotes the URL it failed on; a log link's or upload URL's SAS signature must not
    reach the run record through the message (every acrmagic error strips it)."""
    url = "https://127.0.0.1:9/c/logs/ca1/rawtext.log?sv=2026-04-06&se=2026-12-01&sr=b&sp=r&sig=AbC%2Fsecret%3D"
    message = CloudError(f"lost the log storage of run ca1: Max retries exceeded with url: {url}").message
    assert "AbC%2Fsecret" not in message and "sig=***" in message and "/c/logs/ca1/rawtext.log" in message
