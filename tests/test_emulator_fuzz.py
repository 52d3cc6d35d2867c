"""The emulator's HTTP API against arbitrary bodies: every route, every JSON shape (random JSON, and
the recorded request bodies with one part replaced by random JSON). Only a 2xx, or a 4xx with ARM's
error body `{"error": {"code", "message"}}`, may come back, never a 500; the app still serves afterwards.

The app runs in-process (Starlette's test client) with real Azurite for its blobs and an executor that
ends every run at once without touching the engine, so the accepted bodies start no builds. Then the
refusals that matter for safety: a task or run whose context is a folder of the emulator's host
outside the caller's upload (and outside --context-root) is refused; so is a schedule that never fires.
"""

from __future__ import annotations

import copy
import json
import uuid
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from acrmagic.emulator.app import ArmApp
from acrmagic.emulator.azurite import Azurite
from acrmagic.emulator.blobs import Storage
from acrmagic.emulator.identity import Issuer
from acrmagic.emulator.run_driver import RunDriver
from acrmagic.emulator.sources import ContextPolicy
from acrmagic.emulator.state import Registry, Store
from acrmagic.emulator.tasks_api import SourceExecutor
from acrmagic.emulator.tls import make_tls

DATA = Path(__file__).parent / "data" / "acr_recorded"
SUB, RG, REG = "00000000-0000-0000-0000-000000000000", "fuzz-rg", "fuzzregistry"
FUZZ = settings(max_examples=300, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


class Instant:
    """An executor that ends every run at once: the fuzzing starts no work on the engine."""

    def start(self, job, ctx):
        ctx.on_status("Failed", {"error": "not run: the fuzz test's executor"})
        return None

    def cancel(self, handle):
        pass


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("fuzz-emulator")
    roots = tmp / "contexts"
    roots.mkdir()
    tls = make_tls(tmp / "tls")
    azurite = Azurite(tmp / "azurite", tls.cert, tls.key)
    azurite.start()
    try:
        store = Store([Registry(REG, RG, SUB)])
        storage = Storage(azurite.endpoint, tls.ca_bundle)
        policy = ContextPolicy([roots])
        sources = SourceExecutor(Instant(), policy)
        run_driver = RunDriver(store, storage, sources, tmp / "work", max_running=2)
        issuer = Issuer("11111111-1111-1111-1111-111111111111")
        arm = ArmApp(store, storage, run_driver, issuer, "https://127.0.0.1:1", policy)
        sources.tasks_api = arm.tasks
        token, _ = issuer.issue(issuer.system, "https://management.azure.com")
        with TestClient(arm.app(), base_url="https://127.0.0.1:1", raise_server_exceptions=False) as client:
            client.headers["Authorization"] = f"Bearer {token}"
            # a task and a run for the routes that change them to reach their handlers
            seeded = [client.put(P + "/tasks/fuzztask", params={"api-version": TV}, json=_task("/dev/null")),
                      client.post(P + "/scheduleRun", params={"api-version": TV},
                                  json={"type": "EncodedTaskRunRequest", "encodedTaskContent": "c3RlcHM6IFtd",
                                        "platform": {"os": "linux"}})]
            assert [r.status_code for r in seeded] == [200, 200], [r.text for r in seeded]
            assert seeded[1].json()["name"] == "ca1"
            yield client
        run_driver.stop()
    finally:
        azurite.stop()


P = f"/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.ContainerRegistry/registries/{REG}"
TV, RV = "2019-06-01-preview", "2025-03-01-preview"
ROUTES = [  # (method, path, api-version): every route that reads a body
    ("PUT", P, RV), ("PATCH", P, RV), ("PUT", f"/subscriptions/{SUB}/resourceGroups/{RG}", "2022-09-01"),
    ("POST", P + "/scheduleRun", TV), ("POST", P + "/listBuildSourceUploadUrl", TV),
    ("PATCH", P + "/runs/ca1", TV), ("POST", P + "/runs/ca1/cancel", TV), ("POST", P + "/runs/ca1/listLogSasUrl", TV),
    ("PUT", P + "/tasks/fuzztask", TV), ("PATCH", P + "/tasks/fuzztask", TV), ("POST", P + "/tasks/fuzztask/listDetails", TV),
    ("PUT", P + "/taskRuns/fuzztaskrun", RV),
    ("PUT", P + "/tasks/other-task", TV), ("PATCH", P + "/tasks/other-task", TV),
    ("PUT", f"/subscriptions/{SUB}/resourcegroups/{RG}/providers/Microsoft.Resources/deployments/fuzz", "2025-04-01"),
    ("POST", f"/subscriptions/{SUB}/resourcegroups/{RG}/providers/Microsoft.Resources/deployments/fuzz/validate",
     "2025-04-01"),
]


def _recorded_bodies() -> list[dict]:
    bodies = []
    for path in sorted(DATA.glob("*.json")):
        for exchange in json.loads(path.read_text())["exchanges"]:
            if isinstance(exchange.get("body"), dict):
                bodies.append(json.loads(json.dumps(exchange["body"]).replace("{git_context}", "/etc")
                                         .replace("{sub}", SUB).replace("{rg}", RG).replace("{registry}", REG).replace("{git_context}", "/etc")))
    return bodies


BODIES = _recorded_bodies()
JSON = st.recursive(st.none() | st.booleans() | st.integers(-2**40, 2**40) | st.floats(allow_nan=False)
                    | st.text(max_size=20) | st.sampled_from(["linux", "amd64", "Docker", "EncodedTask", "Enabled",
                                                             "DockerBuildRequest", "TaskRunRequest", "0 0 30 2 *"]),
                    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
                    max_leaves=12)


def _paths(value, prefix=()):
    yield prefix
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _paths(v, prefix + (k,))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _paths(v, prefix + (i,))


@st.composite
def mutated(draw):
    """A recorded body with one of its parts (or the whole) replaced by arbitrary JSON."""
    body = copy.deepcopy(draw(st.sampled_from(BODIES)))
    path = draw(st.sampled_from(list(_paths(body))))
    if not path:
        return draw(JSON)
    parent = body
    for key in path[:-1]:
        parent = parent[key]
    parent[path[-1]] = draw(JSON)
    return body


def _check(resp, what: str) -> None:
    assert resp.status_code < 500, f"{what}: {resp.status_code} {resp.text[:400]}"
    if resp.status_code >= 400:
        error = resp.json().get("error")
        assert isinstance(error, dict) and isinstance(error.get("code"), str) and isinstance(error.get("message"), str), \
            f"{what}: not ARM's error body: {resp.text[:300]}"


@FUZZ
@given(route=st.sampled_from(ROUTES), body=st.one_of(JSON, mutated()))
def test_every_route_answers_any_body_with_2xx_or_an_arm_4xx(app, route, body):
    method, path, version = route
    resp = app.request(method, path, params={"api-version": version}, content=json.dumps(body),
                       headers={"Content-Type": "application/json"})
    _check(resp, f"{method} {path} {json.dumps(body)[:300]}")


@FUZZ
@given(route=st.sampled_from(ROUTES), raw=st.binary(max_size=40))
def test_every_route_answers_bytes_that_are_not_json(app, route, raw):
    method, path, version = route
    resp = app.request(method, path, params={"api-version": version}, content=raw)
    _check(resp, f"{method} {path} {raw!r}")


def test_the_bad_bodies_of_the_issue_are_400s_and_the_app_still_serves(app):
    docker = {"location": "westus", "properties": {"status": "Enabled", "platform": {"os": "linux", "architecture": 64},
                                                   "step": {"type": "Docker", "dockerFilePath": "Dockerfile"}}}
    for body in (docker, {"properties": []}, {"location": "westus", "properties": {"step": "Docker"}}, [], "x", 5):
        resp = app.put(P + "/tasks/badtask", params={"api-version": TV}, json=body)
        assert resp.status_code == 400, (body, resp.text)
        assert set(resp.json()["error"]) >= {"code", "message"}
    resp = app.post(P + "/scheduleRun", params={"api-version": TV},
                    json={"type": "EncodedTaskRunRequest", "encodedTaskContent": "c3RlcHM6IFtd",
                          "platform": {"os": "linux", "architecture": 64}})
    assert resp.status_code == 400 and resp.json()["error"]["target"] == "platform"
    assert app.get(P, params={"api-version": RV}).status_code == 200
    assert app.get(P + "/tasks", params={"api-version": TV}).status_code == 200


def _task(context: str | None = None, schedule: str | None = None) -> dict:
    step = {"type": "EncodedTask", "encodedTaskContent": "c3RlcHM6IFtd", "values": []}
    if context is not None:
        step["contextPath"] = context
    props = {"platform": {"os": "linux"}, "step": step}
    if schedule is not None:
        props["trigger"] = {"timerTriggers": [{"name": "t1", "schedule": schedule, "status": "Enabled"}]}
    return {"location": "westus", "properties": props}


@pytest.mark.parametrize("context", ["/etc", "file:///etc", "file:///etc#main", "/", "../../etc", "etc",
                                     "/tmp/../etc"])
def test_a_host_folder_outside_the_context_roots_is_never_a_context(app, context):
    name = f"host{uuid.uuid4().hex[:8]}"
    resp = app.put(P + f"/tasks/{name}", params={"api-version": TV}, json=_task(context))
    assert resp.status_code == 400, resp.text
    assert resp.json()["error"]["code"] in ("InvalidContextPath", "InvalidRequestContent"), resp.text
    assert app.get(P + f"/tasks/{name}", params={"api-version": TV}).status_code == 404  # nothing stored
    # nor by changing a stored task, nor as a quick run's or a taskRun's source
    assert app.put(P + f"/tasks/{name}", params={"api-version": TV}, json=_task("/dev/null")).status_code == 200
    resp = app.patch(P + f"/tasks/{name}", params={"api-version": TV},
                     json={"properties": {"step": {"type": "EncodedTask", "contextPath": context}}})
    assert resp.status_code == 400, resp.text
    assert app.get(P + f"/tasks/{name}", params={"api-version": TV}).json()["properties"]["step"]["contextPath"] == \
        "/dev/null"
    run = {"type": "EncodedTaskRunRequest", "encodedTaskContent": "c3RlcHM6IFtd", "platform": {"os": "linux"},
           "sourceLocation": context}
    assert app.post(P + "/scheduleRun", params={"api-version": TV}, json=run).status_code == 400
    resp = app.put(P + f"/taskRuns/{name}", params={"api-version": RV},
                   json={"location": "westus", "properties": {"runRequest": run}})
    assert resp.status_code == 400, resp.text


@pytest.mark.parametrize("schedule, why", [("0 0 30 2 *", "never fire"), ("0 0 L * *", "L, W, # or ?"),
                                           ("0 0 * * 1#2", "L, W, # or ?"), ("0 0 1W * *", "L, W, # or ?"),
                                           ("* * * *", "got 4"), ("0 0 * * * 2030", "got 6"),
                                           ("0 25 * * *", "out of range")])
def test_a_schedule_acr_would_not_run_is_refused_and_not_stored(app, schedule, why):
    name = f"cron{uuid.uuid4().hex[:8]}"
    resp = app.put(P + f"/tasks/{name}", params={"api-version": TV}, json=_task(schedule=schedule))
    assert resp.status_code == 400, resp.text
    assert resp.json()["error"]["code"] == "InvalidTimerSchedule" and why in resp.json()["error"]["message"]
    assert app.get(P + f"/tasks/{name}", params={"api-version": TV}).status_code == 404
    assert app.put(P + f"/tasks/{name}", params={"api-version": TV}, json=_task(schedule="0 2 * * *")).status_code == 200
    resp = app.patch(P + f"/tasks/{name}", params={"api-version": TV},
                     json={"properties": {"trigger": {"timerTriggers": [{"name": "t1", "schedule": schedule}]}}})
    assert resp.status_code == 400, resp.text
    stored = app.get(P + f"/tasks/{name}", params={"api-version": TV}).json()
    assert stored["properties"]["trigger"]["timerTriggers"][0]["schedule"] == "0 2 * * *"
