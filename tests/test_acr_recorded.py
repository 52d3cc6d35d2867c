"""The emulator and the client held against the real service's exchanges (tests/data/acr_recorded, written
from the Azure CLI's recordings of its ACR scenario tests; see the README there).

Replay: each scenario's requests go to a real emulator process in the recorded order; every answer must
have the recorded status code and the recorded shape: the same key paths (no key the service leaves
out, none it sends missing; `state` paths may be either), the same JSON value types, and enum values
from the API's enums. Runs build for real on the local engine (the GitHub contexts of the recordings
become a local git repository under --context-root).

Client: the recorded response bodies go through the Azure SDK's models and acrmagic's conversions
(run records, Task JSON), and every field is checked.
"""

from __future__ import annotations

import json
import os
import ssl
import subprocess
import time
import uuid
from pathlib import Path
from urllib.parse import urlparse

import httpx
import pytest

from acrmagic import acrspec
from acrmagic.emulator.process import EmulatorProcess

DATA = Path(__file__).parent / "data" / "acr_recorded"
SCENARIOS = sorted(p.stem for p in DATA.glob("*.json"))
SUB = "00000000-0000-0000-0000-000000000000"
TERMINAL = {"Succeeded", "Failed", "Canceled", "Error", "Timeout"}

#: enum-valued keys and the values the API defines for them
ENUMS = {
    "runType": set(acrspec.RUN_TYPES),
    "provisioningState": {"Creating", "Updating", "Deleting", "Succeeded", "Failed", "Canceled", "Accepted"},
    "createdByType": {"User", "Application", "ManagedIdentity", "Key"},
    "lastModifiedByType": {"User", "Application", "ManagedIdentity", "Key"},
    "os": {"linux", "windows", "Linux", "Windows"},
    "architecture": set(acrspec.ARCHITECTURES),
    "baseImageTriggerType": {"All", "Runtime"},
    "updateTriggerPayloadType": {"Default", "Token"},
    "roleAssignmentMode": {"LegacyRegistryPermissions", "AbacRepositoryPermissions"},
    "publicNetworkAccess": {"Enabled", "Disabled"},
    "zoneRedundancy": {"Enabled", "Disabled"},
    "status": set(acrspec.RUN_STATUSES) | set(acrspec.TASK_STATUSES) | {"enabled", "disabled", "Accepted",
                                                                         "Creating"},
}
TYPE_ENUMS = {"step": set(acrspec.STEP_TYPES), "": {"Microsoft.ContainerRegistry/registries",
                                                   "Microsoft.ContainerRegistry/registries/tasks",
                                                   "Microsoft.ContainerRegistry/registries/runs",
                                                   "Microsoft.ContainerRegistry/registries/taskRuns",
                                                   "Microsoft.Resources/deployments"},
              "baseImageDependencies": {"BuildTime", "Runtime"}, "runRequest": {"DockerBuildRequest", "FileTaskRunRequest",
                                                                                 "EncodedTaskRunRequest", "TaskRunRequest"}}


# -- shapes -------------------------------------------------------------------------------------------------
def _kind(value) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    return {str: "string", dict: "object", list: "array", type(None): "null"}[type(value)]


def shape(value, prefix: str = "") -> dict[str, str]:
    """{key path: JSON type}; list items share the path `list.*`; a map's keys that are data (login
    servers) share `map.<key>` all the same: they are compared as they are."""
    out = {prefix: _kind(value)} if prefix else {}
    if isinstance(value, dict):
        for k, v in value.items():
            out.update(shape(v, f"{prefix}.{k}" if prefix else k))
    elif isinstance(value, list):
        for item in value:
            out.update(shape(item, f"{prefix}.*"))
    return out


def _match(path: str, pattern: str) -> bool:
    a, b = path.split("."), pattern.split(".")
    return len(a) >= len(b) and all(y == "*" or x == y for x, y in zip(a, b))


def enum_problems(value, prefix: str = "") -> list[str]:
    problems = []
    if isinstance(value, dict):
        for k, v in value.items():
            path = f"{prefix}.{k}" if prefix else k
            parent = prefix.rsplit(".", 1)[-1].rstrip("*").rstrip(".") if prefix else ""
            if parent == "*" or prefix.endswith(".*"):
                parent = prefix.split(".")[-2]
            if isinstance(v, str) and k in ENUMS and v not in ENUMS[k]:
                problems.append(f"{path}={v!r} is not one of {sorted(ENUMS[k])}")
            if k == "type" and isinstance(v, str) and parent in TYPE_ENUMS and v not in TYPE_ENUMS[parent]:
                problems.append(f"{path}={v!r} is not one of {sorted(TYPE_ENUMS[parent])}")
            problems += enum_problems(v, path)
    elif isinstance(value, list):
        for item in value:
            problems += enum_problems(item, f"{prefix}.*")
    return problems


def shape_problems(recorded, answered, state: list[str]) -> list[str]:
    if recorded is None:
        return [] if answered in (None, b"", "") else [f"a body where the service sends none: {str(answered)[:80]}"]
    want, got = shape(recorded), shape(answered)
    optional = [p for p in want if any(_match(p, s) for s in state)] + \
               [p for p in got if any(_match(p, s) for s in state)]
    problems = [f"missing {p} ({t})" for p, t in want.items() if p not in got and p not in optional]
    problems += [f"extra {p} ({t})" for p, t in got.items() if p not in want and p not in optional]
    problems += [f"{p} is {got[p]}, recorded {t}" for p, t in want.items() if p in got and got[p] != t]
    return problems + enum_problems(answered)


def test_the_shape_check_sees_missing_extra_and_retyped_keys():
    rec = {"properties": {"runId": "cf1", "status": "Queued", "isArchiveEnabled": False}}
    assert shape_problems(rec, {"properties": {"runId": "x", "status": "Running", "isArchiveEnabled": True}}, []) == []
    assert shape_problems(rec, {"properties": {"runId": "x", "status": "Queued"}}, []) == \
        ["missing properties.isArchiveEnabled (bool)"]
    assert shape_problems(rec, {"properties": {"runId": "x", "status": "Queued", "isArchiveEnabled": 0,
                                               "sourceRegistryAuth": "Default"}}, []) == \
        ["extra properties.sourceRegistryAuth (string)", "properties.isArchiveEnabled is number, recorded bool"]
    assert shape_problems(rec, {"properties": {"runId": "x", "status": "Sleeping", "isArchiveEnabled": False}}, []) \
        == [f"properties.status='Sleeping' is not one of {sorted(ENUMS['status'])}"]
    assert shape_problems({"a": 1}, {"a": 1, "b": 2}, ["b"]) == []


# -- the emulator and the scenarios ------------------------------------------------------------------------
@pytest.fixture(scope="module")
def contexts(tmp_path_factory) -> Path:
    """A git repository standing in for the recordings' GitHub samples."""
    root = tmp_path_factory.mktemp("recorded-contexts")
    repo = root / "acr-build-helloworld"
    repo.mkdir()
    (repo / "Dockerfile").write_text("FROM busybox\nRUN echo hello-from-a-recorded-scenario > /hello\n")
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@example.com"}
    for args in (["init", "--quiet", "--initial-branch", "main"], ["add", "Dockerfile"], ["commit", "--quiet", "-m", "one"]):
        subprocess.run(["git", *args], cwd=repo, check=True, env=env, capture_output=True)
    return root


@pytest.fixture(scope="module")
def emulator(tmp_path_factory, contexts):
    tmp = tmp_path_factory.mktemp("recorded-emulator")
    emu = EmulatorProcess(tmp, ["--subscription", SUB, "--registry", "seedregistry", "--resource-group", "seed-rg",
                                "--context-root", str(contexts), "--log-level", "info"],
                          env={**os.environ, "ACRMAGIC_HOME": str(tmp / "home")})
    yield emu
    emu.stop()


class Replay:
    def __init__(self, emulator, contexts: Path):
        info = emulator.info
        token = httpx.get(info["identity_endpoint"], headers={"X-IDENTITY-HEADER": info["identity_header"]},
                          params={"api-version": "2019-08-01", "resource": "https://management.azure.com"}).json()
        self.client = httpx.Client(base_url=info["management_url"], verify=ssl.create_default_context(cafile=info["ca_bundle"]), timeout=60,
                                   headers={"Authorization": f"Bearer {token['access_token']}"})
        self.values = {"sub": SUB, "rg": f"clitest.rg{uuid.uuid4().hex[:6]}",
                       "registry": f"clireg{uuid.uuid4().hex[:8]}", "login_server": info["login_server"],
                       "git_context": f"file://{contexts / 'acr-build-helloworld'}#main", "operation": "none",
                       "run": "none"}

    def fill(self, value):
        if isinstance(value, str):
            for k, v in self.values.items():
                value = value.replace("{" + k + "}", v)
            return value
        if isinstance(value, dict):
            return {self.fill(k): self.fill(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.fill(v) for v in value]
        return value

    def send(self, exchange: dict) -> httpx.Response:
        params = {**exchange.get("query", {}), "api-version": exchange["api_version"]}
        kw = {"json": self.fill(exchange["body"])} if "body" in exchange else {}
        return self.client.request(exchange["method"], self.fill(exchange["path"]), params=params, **kw)

    def exchange(self, exchange: dict) -> tuple[httpx.Response, object]:
        resp = self.send(exchange)
        deadline = time.monotonic() + 300
        while exchange.get("poll_until") == "terminal" and resp.status_code == 200 and not _terminal(resp.json()):
            assert time.monotonic() < deadline, f"no end: {resp.text[:300]}"
            time.sleep(1)
            resp = self.send(exchange)
        body = resp.json() if resp.content else None
        if resp.headers.get("azure-asyncoperation"):
            self.values["operation"] = urlparse(resp.headers["azure-asyncoperation"]).path.rsplit("/", 1)[-1]
        if isinstance(body, dict) and exchange["path"].endswith("/scheduleRun") and "properties" in body:
            self.values["run"] = body["properties"].get("runId", "none")
        if isinstance(body, dict) and "/taskRuns/" in exchange["path"] and exchange["method"] == "PUT":
            self.values["run"] = body.get("properties", {}).get("runResult", {}).get("name", "none")
        return resp, body


def _statuses(body: dict) -> list[str]:
    runs = [body] if "value" not in body else body["value"]
    return [(r.get("properties", {}).get("runResult") or r).get("properties", {}).get("status") for r in runs]


def _terminal(body: dict) -> bool:
    return all(s in TERMINAL for s in _statuses(body))


@pytest.mark.engine
@pytest.mark.parametrize("scenario", SCENARIOS)
def test_the_emulator_answers_as_the_service_did(scenario, emulator, contexts):
    exchanges = json.loads((DATA / f"{scenario}.json").read_text())["exchanges"]
    replay = Replay(emulator, contexts)
    problems, matched = [], 0
    try:
        for i, exchange in enumerate(exchanges):
            recorded = replay.fill(exchange["response"])
            resp, body = replay.exchange(exchange)
            found = []
            if resp.status_code != exchange["status"]:
                found.append(f"status {resp.status_code}, recorded {exchange['status']}: {resp.text[:300]}")
            else:
                found += shape_problems(recorded, body, exchange.get("state", []))
                if exchange.get("poll_until") == "terminal" and _statuses(body) != _statuses(recorded):
                    found.append(f"ended {_statuses(body)}, recorded {_statuses(recorded)}: {json.dumps(body)[:400]}")
            if found:
                problems.append(f"#{i} {exchange['method']} {exchange['path']}: " + "; ".join(found))
            else:
                matched += 1
    finally:
        replay.client.close()
    print(f"{scenario}: {matched} of {len(exchanges)} recorded exchanges match")
    assert problems == [], f"{matched} of {len(exchanges)} match"


# -- the client on the recorded bodies ---------------------------------------------------------------------
def _recorded(kind: str) -> list[tuple[dict, dict]]:
    """(exchange, response body) of every recorded answer that is (or lists) a resource of `kind`."""
    out = []
    for scenario in SCENARIOS:
        for exchange in json.loads((DATA / f"{scenario}.json").read_text())["exchanges"]:
            body = exchange["response"]
            items = body.get("value", [body]) if isinstance(body, dict) else []
            out += [(exchange, item) for item in items if item.get("type", "").endswith(kind)]
    return out


RUNS = [(e, r) for e, r in _recorded("/runs")] + [(e, t["properties"]["runResult"]) for e, t in _recorded("/taskRuns")]
TASKS = _recorded("/tasks")


def _iso(text: str | None) -> str | None:
    from datetime import datetime, timezone

    return None if text is None else datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(timezone.utc).isoformat()


def test_every_recorded_run_goes_through_the_sdk_and_the_record_whole():
    from azure.mgmt.containerregistrytasks.models import Run as SdkRun

    from acrmagic.runs.model import OutputImage
    from acrmagic.targets.acr import records

    full = next(r for e, r in RUNS if "runType" in r["properties"])
    assert len(RUNS) >= 10
    for exchange, body in RUNS:
        props = body["properties"]
        model = SdkRun(body)
        assert model.as_dict() == body  # the SDK keeps every key as sent
        reads = []

        def read(run_id, _full=full):
            reads.append(run_id)
            return SdkRun(dict(_full, name=run_id, properties=dict(_full["properties"], runId=run_id)))

        run = records.to_run(model, {"kind": "acr"}, "example.azurecr.io", caller=lambda: "caller-from-token",
                             read=read)
        if "runType" not in props:  # scheduleRun's answer: read again, nothing made up
            assert reads == [props["runId"]], exchange["path"]
            props = dict(full["properties"], runId=props["runId"])
            source = full
        else:
            assert reads == []
            source = body
        assert run.run_id == props["runId"] and run.cancel_ref == props["runId"]
        assert run.run_type == props["runType"] and run.status == props["status"]
        assert run.create_time == _iso(props["createTime"])
        assert run.start_time == _iso(props.get("startTime")) and run.finish_time == _iso(props.get("finishTime"))
        assert run.task == props.get("task") and run.error == props.get("runErrorMessage")
        assert run.platform == props["platform"]
        assert run.output_images == [OutputImage(o["registry"], o["repository"], o["tag"], o["digest"])
                                     for o in props.get("outputImages", [])]
        assert run.trigger == "Manual" and run.trigger_details == {}
        # real runs carry no createdBy: lastModifiedBy names who ran it, else the token the request went with
        system = source.get("systemData")
        assert run.who == (system["lastModifiedBy"] if system else "caller-from-token")
        assert run.service == {k: (_iso(props[k]) if k == "lastUpdatedTime" else props[k])
                               for k in ("lastUpdatedTime", "provisioningState", "isArchiveEnabled",
                                         "agentConfiguration", "sourceRegistryAuth", "agentPoolName") if k in props}
        assert run.backend == "acr" and run.registry == "example.azurecr.io" and run.target == {"kind": "acr"}
        assert {k: v for k, v in run.to_dict().items() if k in props} == \
            {k: (_iso(v) if k.endswith("Time") else v) for k, v in props.items() if k in run.to_dict()
             and k != "outputImages"} | ({"outputImages": run.to_dict()["outputImages"]} if "outputImages" in props else {})


def test_every_recorded_task_goes_through_the_sdk_unchanged():
    from azure.mgmt.containerregistrytasks.models import Task

    from acrmagic.targets.acr import tasks as acr_tasks

    assert len(TASKS) >= 15
    for exchange, body in TASKS:
        model = Task(body)
        assert acr_tasks.from_model(model) == body, exchange["path"]
        assert model.properties.step.type == body["properties"]["step"]["type"]
        assert model.properties.timeout == body["properties"]["timeout"]
        assert model.properties.platform.os == body["properties"]["platform"]["os"]
        assert (model.identity is None) == ("identity" not in body)
        # what create sends back is the task without what the service computes
        sent = acr_tasks.body(body)
        assert "id" not in sent and "systemData" not in sent and "provisioningState" not in sent["properties"]
        assert "baseImageDependencies" not in sent["properties"]["step"]


class FakeAcr:
    """The task operations AcrTasks calls, answering with a recorded task (no SDK, no network)."""

    def __init__(self, task: dict):
        self.task, self.patches = task, []

    def get_task(self, name, secrets=False):
        return json.loads(json.dumps(self.task))

    def update_task(self, name, patch):
        self.patches.append(patch)
        return self.task


@pytest.mark.parametrize("name", ["testTask", "contextlessTaskCmd", "contextlessTaskfile"])
def test_updating_a_recorded_task_with_no_change_sends_nothing_invented(name, monkeypatch, tmp_path):
    from acrmagic.tasks.acr_service import AcrTasks

    monkeypatch.setenv("ACRMAGIC_HOME", str(tmp_path))
    task = next(json.loads(json.dumps(t).replace("{git_context}", "https://github.com/Azure-Samples/acr-build-helloworld-node"))
                for e, t in TASKS if t["name"] == name and e["method"] == "PUT")
    acr = FakeAcr(task)
    AcrTasks(acr).update(name, {})  # a plain GitHub URL is a git context, not a folder
    assert acr.patches == [{"properties": {}}]
    AcrTasks(acr).update(name, {"timeout": 600})
    assert acr.patches[-1] == {"properties": {"timeout": 600}}
