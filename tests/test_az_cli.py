"""The real Azure CLI against the emulator, as a user tries their `az acr` scripts offline.

azure-cli 2.91.0 comes from PyPI into a virtualenv of its own (cached under .cache/az-venv, keyed by
version: about a minute the first time, nothing after). It runs with a clean environment: its own
AZURE_CONFIG_DIR and HOME in a temporary folder (the user's ~/.azure is never read), real TLS
verification against the emulator's CA through REQUESTS_CA_BUNDLE (nothing disables verification),
and the emulator's managed identity through IDENTITY_ENDPOINT / IDENTITY_HEADER.

The tests share one emulator and one az login, and run in file order: register + login, build, run,
list-runs, logs, cancel-run.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import textwrap
import time
import uuid
from pathlib import Path

import pytest

from acrmagic.emulator.process import EmulatorProcess

from az_cli_tool import az_env, install_az
from conftest import registry_digest

pytestmark = pytest.mark.engine

CLOUD = "acrmagic-emulator"
TERMINAL = {"Succeeded", "Failed", "Canceled", "Error", "Timeout"}


@pytest.fixture(scope="module")
def az_executable() -> Path:
    return install_az()


# -- the emulator -------------------------------------------------------------------------------------
class Emulator(EmulatorProcess):
    def __init__(self, tmp: Path, context_root: Path):
        # local git repositories under context_root stand in for GitHub (offline)
        super().__init__(tmp, ["--state-dir", str(tmp / "state"), "--log-level", "info",
                               "--context-root", str(context_root)],
                         env={**os.environ, "ACRMAGIC_HOME": str(tmp / "emulator-home")})

    def requests(self) -> list[str]:
        """The access log: `METHOD PATH STATUS` of every request served so far."""
        found = re.findall(r'"(GET|POST|PUT|PATCH|DELETE|HEAD) (\S+) HTTP/[\d.]+" (\d{3})', self.stderr_path.read_text())
        return [f"{m} {p} {s}" for m, p, s in found]


@pytest.fixture(scope="module")
def emulator(tmp_path_factory):
    emu = Emulator(tmp_path_factory.mktemp("az-emulator"), tmp_path_factory.getbasetemp())
    yield emu
    emu.stop()


# -- az, with an environment of its own ---------------------------------------------------------------
class Az:
    def __init__(self, executable: Path, emulator: Emulator, tmp: Path):
        self.executable, self.emulator = executable, emulator
        self.env = az_env(executable, emulator.info, tmp)

    def __call__(self, *args: str, check: bool = True, env: dict | None = None,
                 timeout: float = 240) -> subprocess.CompletedProcess:
        proc = subprocess.run([str(self.executable), *args], capture_output=True, text=True, timeout=timeout,
                              env={**self.env, **(env or {})}, cwd=self.env["TMPDIR"])
        if check and proc.returncode != 0:
            raise AssertionError(f"az {' '.join(args)} exited {proc.returncode}:\n{proc.stdout[-3000:]}\n"
                                 f"{proc.stderr[-3000:]}\nemulator: {self.emulator.requests()[-10:]}")
        return proc

    def json(self, *args: str):
        return json.loads(self(*args, "-o", "json").stdout)


@pytest.fixture(scope="module")
def az(az_executable, emulator, tmp_path_factory) -> Az:
    return Az(az_executable, emulator, tmp_path_factory.mktemp("az"))


@pytest.fixture(scope="module")
def ctx(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("az-context")
    (root / "Dockerfile").write_text('FROM busybox\nRUN echo hello-from-the-image > /hello.txt\nCMD ["cat", "/hello.txt"]\n')
    (root / "acb.yaml").write_text(textwrap.dedent("""\
        version: v1.1.0
        steps:
          - cmd: busybox echo hello-from-az-acr-run
          - build: -t $Registry/emu-az-run:$ID .
        """))
    return root


@pytest.fixture(scope="module")
def done() -> dict:
    """What the earlier tests of this file made (run IDs), for the later ones."""
    return {}


def _run_id(output: str, kind: str) -> str:
    m = re.search(rf"Queued a {kind} with ID: ([a-z]{{2}}[0-9a-z]+)", output)
    assert m, f"az printed no run ID: {output[-2000:]}"
    return m.group(1)


# -- the tests ----------------------------------------------------------------------------------------
def test_register_the_cloud_and_log_in_with_the_emulators_identity(az, emulator):
    url = emulator.info["management_url"]
    # TLS is verified for real: without the emulator's CA, az refuses the endpoint
    refused = az("cloud", "register", "-n", "untrusted", "--endpoint-resource-manager", url, check=False,
                 env={"REQUESTS_CA_BUNDLE": "", "AZURE_CONFIG_DIR": az.env["AZURE_CONFIG_DIR"] + "-untrusted"},
                 timeout=120)
    assert refused.returncode != 0 and "CERTIFICATE_VERIFY_FAILED" in refused.stderr

    az("cloud", "register", "-n", CLOUD, "--endpoint-resource-manager", url)  # ARM metadata discovery
    az("cloud", "set", "-n", CLOUD)
    accounts = az.json("login", "--identity")
    assert [a["id"] for a in accounts] == [emulator.info["subscription_id"]]
    account = az.json("account", "show")
    assert account["environmentName"] == CLOUD and account["tenantId"] == emulator.info["tenant_id"]
    assert account["user"] == {"assignedIdentityInfo": "MSI", "name": "systemAssignedIdentity",
                               "type": "servicePrincipal"}
    assert any(re.match(r"GET /+metadata/endpoints\?api-version=\S+ 200$", r) for r in emulator.requests())
    assert not Path(az.env["HOME"], ".azure").exists()  # its state went to AZURE_CONFIG_DIR only


def test_az_acr_build_pushes_the_image_the_run_list_names(az, emulator, ctx, done):
    reg, rg = emulator.info["registry"], emulator.info["resource_group"]
    proc = az("acr", "build", "-r", reg, "-g", rg, "-t", "emu-az:{{.Run.ID}}", str(ctx))
    run_id = _run_id(proc.stderr, "build")
    out = proc.stdout
    assert "RUN echo hello-from-the-image" in out  # the live log, streamed from the log blob
    assert f"Successfully pushed image: {emulator.info['login_server']}/emu-az:{run_id}" in out
    assert f"Run ID: {run_id} was successful" in out
    run = az.json("acr", "task", "show-run", "-r", reg, "--run-id", run_id)
    assert run["status"] == "Succeeded" and run["runType"] == "QuickRun"  # as the service records az acr build
    [image] = run["outputImages"]
    assert (image["registry"], image["repository"], image["tag"]) == (emulator.info["login_server"], "emu-az", run_id)
    # the registry's own HTTP API (not acrmagic, not az) holds that digest under that tag
    assert registry_digest("emu-az", run_id, emulator.info["login_server"]) == image["digest"]
    done["build"], done["digest"] = run_id, image["digest"]


def test_az_acr_run_runs_a_task_file_with_a_cmd_and_a_build_step(az, emulator, ctx, done):
    # no -g: az finds the registry's resource group through ARM's resources list
    proc = az("acr", "run", "-r", emulator.info["registry"], "-f", "acb.yaml", str(ctx))
    run_id = _run_id(proc.stderr, "run")
    assert "[acb_step_0] hello-from-az-acr-run" in proc.stdout
    assert f"built {emulator.info['login_server']}/emu-az-run:{run_id}" in proc.stdout
    assert f"Run ID: {run_id} was successful" in proc.stdout
    assert any(r.startswith(f"GET /subscriptions/{emulator.info['subscription_id']}/resources?") and r.endswith(" 200")
               for r in emulator.requests())
    done["run"] = run_id


def test_az_acr_task_list_runs_shows_both_newest_first(az, emulator, done):
    runs = az.json("acr", "task", "list-runs", "-r", emulator.info["registry"])
    assert [(r["runId"], r["status"], r["runType"]) for r in runs[:2]] == [
        (done["run"], "Succeeded", "QuickRun"), (done["build"], "Succeeded", "QuickRun")]
    assert runs[0]["createTime"] >= runs[1]["createTime"]
    assert [i["digest"] for i in runs[1]["outputImages"]] == [done["digest"]]  # the registry's, as checked above
    top = az.json("acr", "task", "list-runs", "-r", emulator.info["registry"], "--top", "1")
    assert [r["runId"] for r in top] == [done["run"]]


def test_az_acr_task_logs_replays_a_finished_run(az, emulator, done):
    out = az("acr", "task", "logs", "-r", emulator.info["registry"], "--run-id", done["run"]).stdout
    assert "[acb_step_0] hello-from-az-acr-run" in out
    assert "Step ID: acb_step_1 marked as successful" in out


def test_az_acr_task_cancel_run_stops_a_long_build(az, emulator, tmp_path):
    (tmp_path / "Dockerfile").write_text("FROM busybox\nRUN sleep 60\n")
    reg = emulator.info["registry"]
    run_id = _run_id(az("acr", "build", "-r", reg, "-t", "emu-az-slow:{{.Run.ID}}", "--no-wait", str(tmp_path)).stderr,
                     "build")
    deadline = time.monotonic() + 60
    while az.json("acr", "task", "show-run", "-r", reg, "--run-id", run_id)["status"] != "Running":
        assert time.monotonic() < deadline, "the build never started"
        time.sleep(0.5)
    started = time.monotonic()
    az("acr", "task", "cancel-run", "-r", reg, "--run-id", run_id)
    while True:
        [run] = [r for r in az.json("acr", "task", "list-runs", "-r", reg, "--top", "3") if r["runId"] == run_id]
        if run["status"] in TERMINAL:
            break
        assert time.monotonic() - started < 20, f"still {run['status']} 20 s after cancel-run"
        time.sleep(0.5)
    assert run["status"] == "Canceled" and run["finishTime"]
    assert time.monotonic() - started < 20
    assert registry_digest("emu-az-slow", run_id, emulator.info["login_server"]) is None  # nothing pushed
    missing = az("acr", "task", "cancel-run", "-r", reg, "--run-id", "zz999", check=False)
    assert missing.returncode != 0 and "ResourceNotFound" in missing.stderr


def _git_repository(folder: Path, files: dict[str, str]) -> Path:
    folder.mkdir(parents=True)
    for name, text in files.items():
        (folder / name).write_text(text)
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@example.com"}
    for args in (["init", "-q", "-b", "master"], ["add", "."], ["commit", "-qm", "one"]):
        subprocess.run(["git", *args], cwd=folder, check=True, env=env, capture_output=True)
    return folder


def test_azure_clis_own_acr_task_scenario_offline(az, emulator, tmp_path):
    """azure-cli's ACR task scenario (`test_acr_task` in its test_acr_task_commands.py), the same commands in
    the same order with the same checks on each result, through the real az against the emulator. What
    being offline forces: the scenario's GitHub context is a local git repository (a plain URL without
    `.git` or `#ref`, as the GitHub one), and the contextless task runs an image the offline mirror has
    (busybox for bash). The scenario's own resource group comes from `az group create`."""
    rg, reg = f"clitest.rg{uuid.uuid4().hex[:6]}", f"clireg{uuid.uuid4().hex[:10]}"
    repo = _git_repository(tmp_path / "node-helloworld", {"Dockerfile": "FROM busybox\nRUN echo hello > /hello\n"})
    context, image, loc = f"file://{repo}", "testtask:v1", "westus"
    az("group", "create", "-n", rg, "-l", loc)

    created = az.json("acr", "create", "-n", reg, "-g", rg, "-l", loc, "--sku", "Standard")
    assert (created["name"], created["location"], created["adminUserEnabled"]) == (reg, loc, False)
    assert (created["sku"]["name"], created["sku"]["tier"], created["provisioningState"]) == \
        ("Standard", "Standard", "Succeeded")

    def docker_task_checks(task: dict, name: str) -> None:
        assert (task["name"], task["location"], task["platform"]["os"], task["agentConfiguration"]["cpu"]) == \
            (name, loc, "linux", 2)
        assert (task["provisioningState"], task["status"], task["timeout"]) == ("Succeeded", "Enabled", 3600)
        step = task["step"]
        assert (step["dockerFilePath"], step["imageNames"], step["arguments"], step["isPushEnabled"],
                step["noCache"]) == ("Dockerfile", [image], [], True, False)

    docker_task_checks(az.json("acr", "task", "create", "-n", "testTask", "-r", reg, "--context", context, "--image",
                               image, "-f", "Dockerfile", "--commit-trigger-enabled", "False",
                               "--pull-request-trigger-enabled", "False"), "testTask")
    docker_task_checks(az.json("acr", "task", "create", "-n", "artifactTask", "-r", reg, "--context",
                               "oci://myregistry.azurecr.io/hello-world:v1", "--image", image, "-f", "Dockerfile"),
                       "artifactTask")
    contextless = az.json("acr", "task", "create", "-n", "contextlessTask", "-r", reg, "--cmd", "busybox",
                          "-c", "/dev/null")
    assert (contextless["name"], contextless["location"], contextless["platform"]["os"],
            contextless["agentConfiguration"]["cpu"]) == ("contextlessTask", loc, "linux", 2)
    assert (contextless["provisioningState"], contextless["status"], contextless["timeout"],
            contextless["step"]["type"]) == ("Succeeded", "Enabled", 3600, "EncodedTask")

    assert az.json("acr", "task", "list", "-r", reg)[0]["name"] == "testTask"  # in creation order

    for name in ("contextlessTask", "testTask"):
        ran = az.json("acr", "task", "run", "-n", name, "-r", reg, "--no-logs")
        assert (ran["type"], ran["status"]) == ("Microsoft.ContainerRegistry/registries/runs", "Succeeded"), ran
    run_id = ran["runId"]

    runs = az.json("acr", "task", "list-runs", "-n", "testTask", "-r", reg)
    assert (runs[0]["type"], runs[0]["runId"], runs[0]["isArchiveEnabled"]) == \
        ("Microsoft.ContainerRegistry/registries/runs", run_id, False)
    log = az("acr", "task", "logs", "-r", reg, "--run-id", run_id).stdout
    assert f"Run ID: {run_id} was successful" in log

    assert az.json("acr", "task", "show", "-n", "testTask", "-r", reg)["name"] == "testTask"
    updated = az.json("acr", "task", "update", "-n", "testTask", "-r", reg, "--platform", "linux/arm")
    assert (updated["name"], updated["platform"]["os"], updated["platform"]["architecture"]) == \
        ("testTask", "linux", "arm")

    archived = az.json("acr", "task", "update-run", "-r", reg, "--run-id", run_id, "--no-archive", "false")
    assert (archived["type"], archived["runId"], archived["isArchiveEnabled"], archived["provisioningState"]) == \
        ("Microsoft.ContainerRegistry/registries/runs", run_id, True, "Succeeded")

    az("acr", "task", "delete", "-n", "testTask", "-r", reg, "-y")
    az("acr", "delete", "-n", reg, "-g", rg, "-y")
    gone = az("acr", "show", "-n", reg, "-g", rg, check=False)
    assert gone.returncode != 0 and "ResourceNotFound" in gone.stderr
