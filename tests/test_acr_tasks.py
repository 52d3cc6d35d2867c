"""Tasks in ACR, against the emulator: the same `acrmagic task ...` commands and acrmagic.tasks API as
locally, routed to the ACR target's task operations (ACRMAGIC_TARGET=emulator:CONFIG); the emulator
stores the tasks, answers in ACR's shapes, runs them on the local engine and fires their triggers
with the local scheduler's code (--poll-interval 1)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import jwt
import pytest

from acrmagic.emulator.process import EmulatorProcess
import requests

import acrmagic
from acrmagic import tasks
from acrmagic.errors import UsageError
from acrmagic.targets.acr import tasks as acr_tasks
from acrmagic.tasks.acr_service import AcrTasks

from conftest import registry_digest, wait_for

PYTHON = sys.executable


# -- the JSON <-> SDK model conversion (no emulator) --------------------------------------------------------
def test_task_json_goes_to_the_sdk_model_and_back_unchanged():
    from acrmagic.tasks import definition as d

    resource, _ = d.build("convert1", {"context": "/tmp", "file": "Dockerfile", "image": ["a:1"],
                                       "schedule": ["nightly:0 2 * * *"]}, now="2026-01-01T00:00:00Z")
    model = acr_tasks.to_model(resource)
    sent = model.as_dict()
    assert "id" not in sent and "acrmagic" not in sent and "provisioningState" not in sent["properties"]
    assert sent["properties"]["step"] == resource["properties"]["step"]
    assert sent["properties"]["trigger"]["timerTriggers"] == [{"name": "nightly", "schedule": "0 2 * * *",
                                                                "status": "Enabled"}]
    assert acr_tasks.from_model(model) == sent
    patch = acr_tasks.update_model({"properties": {"timeout": 600}}).as_dict()
    assert patch == {"properties": {"timeout": 600}}
    run = acr_tasks.run_request(type("W", (), {"subscription": "s", "resource_group": "g", "name": "r"})(), "convert1")
    assert run.as_dict()["taskId"].endswith("/registries/r/tasks/convert1")
    assert run.as_dict()["type"] == "TaskRunRequest"


# -- against the emulator -----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def emulator(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("acr-tasks-emulator")
    # the tasks' folder and file:// git contexts live under pytest's temporary folders
    process = EmulatorProcess(tmp, ["--poll-interval", "1", "--log-level", "info",
                                    "--context-root", str(tmp_path_factory.getbasetemp())],
                              env={**os.environ, "ACRMAGIC_HOME": str(tmp / "home")})
    info = dict(process.info, config_file=str(process.config_file), stderr=process.stderr_path)
    yield info
    process.stop()


def _cli(*args: str, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run([PYTHON, "-m", "acrmagic", *args], capture_output=True, text=True, env=env, timeout=300)




def _raw_runs(target, task: str) -> list[dict]:
    w = target.where()
    return [r.as_dict() for r in target.tasks_client().runs.list(w.resource_group, w.name, filter=f"TaskName eq '{task}'")]


def _push_base(ctx: Path, name: str, marker: str) -> str:
    # -r localhost:5000: the base is built on the local engine, whatever target the test chose
    run = acrmagic.build(f"FROM busybox\nRUN echo {marker} > /base\n", image=name, context=str(ctx), logs=False,
                         registry="localhost:5000")
    return run.output_images[0].digest


@pytest.mark.engine
def test_tasks_in_the_emulator(emulator, make_context, monkeypatch, tmp_path, home):
    u = uuid.uuid4().hex[:8]
    base = f"localhost:5000/base-{u}:1"
    base_ctx = make_context({"x": "x"})
    first_base = _push_base(base_ctx, base, "one")
    monkeypatch.setenv("ACRMAGIC_TARGET", f"emulator:{emulator['config_file']}")
    env = {**os.environ}
    service = tasks.choose()
    assert isinstance(service, AcrTasks) and service.acr.kind == "acr"
    target = service.acr

    # a timer task first: its minute comes while the rest runs
    timer_task = f"timer-{u}"
    tasks.create(timer_task, cmd="busybox echo tick", context="/dev/null", schedule=["every:* * * * *"],
                 base_image_trigger_enabled=False)

    # create (command line), show, list, update
    ctx = make_context({"Dockerfile": f"FROM {base}\nRUN echo app-{u} > /app\n"})
    name = f"app-{u}"
    out = _cli("task", "create", "-n", name, "-c", str(ctx), "-f", "Dockerfile", "-t", f"app-{u}:{{{{.Run.ID}}}}",
               "--commit-trigger-enabled", "false", "--base-image-trigger-enabled", "false", "-o", "json", env=env)
    assert out.returncode == 0, out.stderr
    created = json.loads(out.stdout)
    assert created["name"] == name and created["properties"]["step"]["type"] == "Docker"
    assert created["properties"]["provisioningState"] == "Succeeded"
    assert created["properties"]["trigger"]["baseImageTrigger"]["status"] == "Disabled"
    shown = _cli("task", "show", "-n", name, "-o", "json", env=env)
    assert json.loads(shown.stdout)["properties"]["step"] == created["properties"]["step"]
    assert name in [t.name for t in tasks.list()]
    assert tasks.update(name, timeout=600).resource["properties"]["timeout"] == 600
    assert tasks.show(name).resource["properties"]["timeout"] == 600

    # run: the image is in the registry, by digest; list-runs filters by task
    run = tasks.run(name)
    # a manual run, recorded as real ACR records `az acr task run` (and as a local task's manual run)
    assert (run.run_type, run.trigger, run.task) == ("QuickRun", "Manual", name)
    image = run.output_images[0]
    assert registry_digest(image.repository, image.tag) == image.digest
    listed = _cli("task", "list-runs", "-n", name, "-o", "json", env=env)
    assert listed.returncode == 0, listed.stderr
    assert run.run_id in listed.stdout and [r.run_id for r in tasks.list_runs(name)] == [run.run_id]

    # disable / enable
    assert tasks.disable(name).resource["properties"]["status"] == "Disabled"
    assert tasks.enable(name).resource["properties"]["status"] == "Enabled"

    # a base-image trigger: a run registers the base, a new base rebuilds within a few polls
    tasks.update(name, base_image_trigger_enabled=True)
    tasks.run(name)
    monkeypatch.delenv("ACRMAGIC_TARGET")
    second_base = _push_base(base_ctx, base, "two")
    monkeypatch.setenv("ACRMAGIC_TARGET", f"emulator:{emulator['config_file']}")
    assert second_base != first_base
    rebuilt = wait_for(lambda: [r for r in _raw_runs(target, name) if r["properties"].get("imageUpdateTrigger")], 90,
                    "the base-image rebuild")[0]
    assert rebuilt["properties"]["runType"] == "AutoBuild"
    images = rebuilt["properties"]["imageUpdateTrigger"]["images"]
    assert images[0]["previousDigest"] == first_base and images[0]["newDigest"] == second_base
    wait_for(lambda: target.get_run(rebuilt["name"]).status in ("Succeeded", "Failed", "Error"), 120, "the rebuild")
    assert target.get_run(rebuilt["name"]).status == "Succeeded"

    # delete: then the task is unknown
    assert _cli("task", "delete", "-n", name, "-y", env=env).returncode == 0
    with pytest.raises(UsageError, match="no task"):
        tasks.show(name)

    # a git token given at create is never answered by GET/list nor logged
    token = f"ghp_secret{u}"
    bare = tmp_path / "repo.git"
    work = tmp_path / "work"
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(bare)], check=True)
    subprocess.run(["git", "init", "-q", "-b", "main", str(work)], check=True)
    (work / "Dockerfile").write_text("FROM busybox\n")
    subprocess.run(["git", "-C", str(work), "add", "."], check=True)
    subprocess.run(["git", "-C", str(work), "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "one"],
                   check=True)
    subprocess.run(["git", "-C", str(work), "push", "-q", str(bare), "main"], check=True)
    git_task = f"git-{u}"
    info = tasks.create(git_task, context=f"file://{bare}#main", file="Dockerfile", image=[f"git-{u}:1"],
                        git_access_token=token, base_image_trigger_enabled=False, assign_identity=[])
    assert token not in json.dumps(info.to_dict())
    assert token not in _cli("task", "show", "-n", git_task, "-o", "json", env=env).stdout
    assert token not in _cli("task", "list", "-o", "json", env=env).stdout
    assert token in json.dumps(target.get_task(git_task, secrets=True))  # listDetails: ACR keeps it

    # a new commit fires the commit trigger in the emulator, and the run builds exactly that commit
    time.sleep(3)  # the emulator's scheduler has seen the first head by now: that is its baseline
    (work / "Dockerfile").write_text("FROM busybox\nRUN echo second\n")
    subprocess.run(["git", "-C", str(work), "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qam", "two"],
                   check=True)
    subprocess.run(["git", "-C", str(work), "push", "-q", str(bare), "main"], check=True)
    second = subprocess.run(["git", "-C", str(work), "rev-parse", "HEAD"], capture_output=True, text=True,
                            check=True).stdout.strip()
    committed = wait_for(lambda: [r for r in _raw_runs(target, git_task) if r["properties"].get("sourceTrigger")], 60,
                      "the commit run")[0]
    assert committed["properties"]["sourceTrigger"]["commitId"] == second
    assert committed["properties"]["sourceTrigger"]["branchName"] == "main"
    assert committed["properties"]["runType"] == "AutoBuild"
    wait_for(lambda: target.get_run(committed["name"]).status in ("Succeeded", "Failed", "Error"), 120, "its end")
    assert target.get_run(committed["name"]).status == "Succeeded"

    # a token for the task's system identity
    principal = info.resource["identity"]["principalId"]
    tasks.update(git_task, timeout=900)  # an update keeps the task's identity, as ARM's PATCH does
    assert target.get_task(git_task)["identity"]["principalId"] == principal
    answer = requests.get(emulator["identity_endpoint"], headers={"X-IDENTITY-HEADER": emulator["identity_header"]},
                          params={"api-version": "2019-08-01", "resource": "https://management.azure.com/",
                                  "principal_id": principal}, timeout=10)
    assert answer.status_code == 200, answer.text
    assert jwt.decode(answer.json()["access_token"], options={"verify_signature": False})["oid"] == principal

    # the timer fired on its own
    timed = wait_for(lambda: [r for r in _raw_runs(target, timer_task) if r["properties"].get("timerTrigger")], 90,
                  "the timer run")[0]
    assert timed["properties"]["timerTrigger"]["timerTriggerName"] == "every"
    assert timed["properties"]["runType"] == "AutoRun"
    tasks.delete(timer_task)
    tasks.delete(git_task)
    time.sleep(1)
    assert token not in Path(emulator["stderr"]).read_text()
