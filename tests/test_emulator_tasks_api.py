"""Task resources in the emulator (tasks_api.py), PATCH above all: `az acr task update` sends only what
changed and the service merges it (/work/shared/reference/acr-cloud-api.md 1.4 and 4.2: absent or null
keeps the old value, trigger items merge by name, `customRegistries: {server: null}` removes one), with
the recorded exchanges of tests/data/acr_recorded/test_acr_task.json replayed step by step.

The app runs in-process (Starlette's test client): task routes touch neither the blob store nor the
scheduler, so none is started."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from acrmagic.emulator.app import ArmApp
from acrmagic.emulator.identity import Issuer
from acrmagic.emulator.sources import ContextPolicy
from acrmagic.emulator.state import Registry, Store

DATA = Path(__file__).parent / "data" / "acr_recorded"
SUB, RG, REG = "00000000-0000-0000-0000-000000000000", "tasks-rg", "tasksregistry"
P = f"/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.ContainerRegistry/registries/{REG}"
TV = "2019-06-01-preview"
GIT = "https://github.com/Azure-Samples/acr-build-helloworld-node"


@pytest.fixture
def app(tmp_path):
    issuer = Issuer("11111111-1111-1111-1111-111111111111")
    arm = ArmApp(Store([Registry(REG, RG, SUB)]), None, None, issuer, "https://127.0.0.1:1",
                 ContextPolicy([tmp_path]))
    token, _ = issuer.issue(issuer.system, "https://management.azure.com")
    with TestClient(arm.app(), base_url="https://127.0.0.1:1", raise_server_exceptions=False) as client:
        client.headers["Authorization"] = f"Bearer {token}"
        client.params = {"api-version": TV}
        yield client


def _recorded(scenario: str) -> list[dict]:
    text = (DATA / f"{scenario}.json").read_text().replace("{git_context}", GIT)
    return json.loads(text)["exchanges"]


def _ok(resp) -> dict:
    assert resp.status_code == 200, resp.text
    return resp.json()


def _docker_task(**props) -> dict:
    return {"location": "westus", "properties": {
        "platform": {"os": "linux", "architecture": "amd64"},
        "step": {"type": "Docker", "contextPath": GIT, "dockerFilePath": "Dockerfile", "imageNames": ["app:v1"],
                 "arguments": [{"name": "A", "value": "1", "isSecret": False},
                               {"name": "TOKEN", "value": "s3cr3t", "isSecret": True}]},
        **props}}


# -- the recorded `az acr task update` / `credential add|update|remove` sequence --------------------------
def test_the_recorded_patches_answer_as_the_service_answered(app):
    """Each PATCH of the recording, sent in order after the recorded create: the answer's properties
    equal the recorded answer's (server-made values aside: times, ids, digests the emulator's runs learn)."""
    exchanges = _recorded("test_acr_task")
    create = next(e for e in exchanges if e["method"] == "PUT" and e["path"].endswith("/tasks/testTask"))
    _ok(app.put(P + "/tasks/testTask", json=create["body"]))
    patches = [e for e in exchanges if e["method"] == "PATCH" and e["path"].endswith("/tasks/testTask")]
    assert len(patches) == 4
    for exchange in patches:
        answer = _ok(app.patch(P + "/tasks/testTask", json=exchange["body"]))
        expected = copy.deepcopy(exchange["response"]["properties"])
        expected["step"].pop("baseImageDependencies", None)  # learned from a run the service made before
        got = copy.deepcopy(answer["properties"])
        for key in ("creationDate",):
            got.pop(key), expected.pop(key)
        assert got == expected, exchange.get("note")
        assert answer["identity"]["type"] == "SystemAssigned"  # a PATCH without identity keeps it


def test_the_recorded_credential_is_hidden_in_answers_and_given_by_list_details(app):
    exchanges = _recorded("test_acr_task")
    create = next(e for e in exchanges if e["method"] == "PUT" and e["path"].endswith("/tasks/testTask"))
    _ok(app.put(P + "/tasks/testTask", json=create["body"]))
    added = {"properties": {"credentials": {"customRegistries": {"test.acr.com": {
        "userName": {"value": "testuser", "type": "Opaque"}, "password": {"value": "random", "type": "Opaque"},
        "identity": "[system]"}}}}}
    assert _ok(app.patch(P + "/tasks/testTask", json=added))["properties"]["credentials"] == {
        "customRegistries": {"test.acr.com": None}}
    details = _ok(app.post(P + "/tasks/testTask/listDetails"))
    assert details["properties"]["credentials"]["customRegistries"]["test.acr.com"] == \
        added["properties"]["credentials"]["customRegistries"]["test.acr.com"]
    # `credential update` sends the login without the identity: the identity already set stays
    changed = {"properties": {"credentials": {"customRegistries": {"test.acr.com": {
        "userName": {"value": "other", "type": "Opaque"}, "password": {"value": "new", "type": "Opaque"}}}}}}
    _ok(app.patch(P + "/tasks/testTask", json=changed))
    kept = _ok(app.post(P + "/tasks/testTask/listDetails"))["properties"]["credentials"]["customRegistries"]
    assert kept["test.acr.com"] == {"userName": {"value": "other", "type": "Opaque"},
                                    "password": {"value": "new", "type": "Opaque"}, "identity": "[system]"}
    # `credential remove`: {server: null} removes that one
    removed = _ok(app.patch(P + "/tasks/testTask", json={"properties": {"credentials": {
        "customRegistries": {"test.acr.com": None}}}}))
    assert removed["properties"]["credentials"] == {"customRegistries": {}}
    assert _ok(app.post(P + "/tasks/testTask/listDetails"))["properties"]["credentials"] == {"customRegistries": {}}


# -- the merge rules, one at a time ----------------------------------------------------------------------
def test_absent_and_null_keep_the_old_value(app):
    _ok(app.put(P + "/tasks/merge", json=_docker_task(timeout=900, agentConfiguration={"cpu": 4})))
    answer = _ok(app.patch(P + "/tasks/merge", json={"properties": {"timeout": None, "status": "Disabled",
                                                                      "agentConfiguration": {},
                                                                      "step": {"type": "Docker", "target": None}}}))
    props = answer["properties"]
    assert props["timeout"] == 900 and props["agentConfiguration"] == {"cpu": 4}  # null and {} kept them
    assert props["status"] == "Disabled"  # what was given changed
    assert props["step"]["imageNames"] == ["app:v1"] and props["step"]["dockerFilePath"] == "Dockerfile"
    assert "target" not in props["step"]  # a null for a key the task never had adds nothing
    assert _ok(app.patch(P + "/tasks/merge", json={}))["properties"] == props  # an empty PATCH changes nothing


def test_lists_of_values_replace_and_secrets_stay_hidden(app):
    _ok(app.put(P + "/tasks/lists", json=_docker_task()))
    patch = {"properties": {"step": {"type": "Docker", "imageNames": ["app:v2", "app:latest"],
                                     "arguments": [{"name": "B", "value": "2", "isSecret": False}]}}}
    step = _ok(app.patch(P + "/tasks/lists", json=patch))["properties"]["step"]
    assert step["imageNames"] == ["app:v2", "app:latest"]
    assert step["arguments"] == [{"name": "B", "value": "2", "isSecret": False}]  # replaced: A and TOKEN gone
    details = _ok(app.post(P + "/tasks/lists/listDetails"))["properties"]["step"]
    assert details["arguments"] == [{"name": "B", "value": "2", "isSecret": False}]
    # a secret argument sent in a PATCH is kept, and shown only by listDetails
    patch = {"properties": {"step": {"type": "Docker", "arguments": [{"name": "PW", "value": "hunter2", "isSecret": True}]}}}
    assert _ok(app.patch(P + "/tasks/lists", json=patch))["properties"]["step"]["arguments"] == []
    assert _ok(app.post(P + "/tasks/lists/listDetails"))["properties"]["step"]["arguments"] == [
        {"name": "PW", "value": "hunter2", "isSecret": True}]


def test_named_trigger_items_merge_by_name(app):
    timers = [{"name": "t1", "schedule": "0 1 * * *", "status": "Enabled"},
              {"name": "t2", "schedule": "0 2 * * *", "status": "Enabled"}]
    _ok(app.put(P + "/tasks/timers", json=_docker_task(trigger={"timerTriggers": timers})))
    patch = {"properties": {"trigger": {"timerTriggers": [{"name": "t2", "status": "Disabled"},
                                                            {"name": "t3", "schedule": "0 3 * * *"}]}}}
    merged = _ok(app.patch(P + "/tasks/timers", json=patch))["properties"]["trigger"]["timerTriggers"]
    assert merged == [timers[0],  # not named: untouched
                      {"name": "t2", "schedule": "0 2 * * *", "status": "Disabled"},  # named: merged
                      {"name": "t3", "schedule": "0 3 * * *"}]  # new name: added
    # the base-image trigger is one object: re-sent with its name only (as az does), it keeps its fields
    _ok(app.patch(P + "/tasks/timers", json={"properties": {"trigger": {"baseImageTrigger": {
        "name": "defaultBaseimageTriggerName", "baseImageTriggerType": "All", "status": "Enabled"}}}}))
    again = _ok(app.patch(P + "/tasks/timers", json={"properties": {"trigger": {"baseImageTrigger": {
        "name": "defaultBaseimageTriggerName"}}}}))["properties"]["trigger"]
    assert again["baseImageTrigger"] == {"name": "defaultBaseimageTriggerName", "baseImageTriggerType": "All",
                                         "status": "Enabled"}
    assert len(again["timerTriggers"]) == 3


def test_tags_replace_and_identity_is_kept_unless_given(app):
    _ok(app.put(P + "/tasks/tagged", json={**_docker_task(), "tags": {"a": "1", "b": "2"},
                                           "identity": {"type": "SystemAssigned"}}))
    before = _ok(app.get(P + "/tasks/tagged"))
    answer = _ok(app.patch(P + "/tasks/tagged", json={"tags": {"c": "3"}, "identity": None}))
    assert answer["tags"] == {"c": "3"}  # tags are one value: replaced, not merged
    assert answer["identity"] == before["identity"]  # same principal: a PATCH keeps the identity
    assert answer["systemData"]["createdAt"] == before["systemData"]["createdAt"]
    assert answer["properties"]["creationDate"] == before["properties"]["creationDate"]
    assert _ok(app.patch(P + "/tasks/tagged", json={"properties": {"timeout": 1200}}))["tags"] == {"c": "3"}


def test_a_patch_that_cannot_apply_is_one_400_and_changes_nothing(app):
    _ok(app.put(P + "/tasks/strict", json=_docker_task()))
    before = _ok(app.post(P + "/tasks/strict/listDetails"))
    for body, target in (({"properties": {"step": {"type": "EncodedTask", "encodedTaskContent": "c3RlcHM6IFtd"}}},
                          "step"),
                         ({"properties": {"timeout": 10}}, "timeout"),
                         ({"properties": {"step": "Docker"}}, "step"),
                         ({"properties": []}, "properties")):
        resp = app.patch(P + "/tasks/strict", json=body)
        assert resp.status_code == 400, (body, resp.text)
        assert resp.json()["error"]["target"] == target, resp.text
    assert _ok(app.post(P + "/tasks/strict/listDetails")) == before
    missing = app.patch(P + "/tasks/nosuchtask", json={"properties": {"timeout": 900}})
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "ResourceNotFound"


def test_put_replaces_where_patch_merges(app):
    _ok(app.put(P + "/tasks/replace", json=_docker_task(timeout=900)))
    body = _docker_task()
    body["properties"]["step"]["imageNames"] = ["other:1"]
    props = _ok(app.put(P + "/tasks/replace", json=body))["properties"]
    assert props["timeout"] == 3600  # not given to PUT: the default again, not the old 900
    assert props["step"]["imageNames"] == ["other:1"]
    listed = _ok(app.get(P + "/tasks"))["value"]
    assert [t["name"] for t in listed] == ["replace"]
    deleted = app.delete(P + "/tasks/replace")
    assert deleted.status_code == 200 and deleted.content == b""  # as the service answered a delete
    assert app.get(P + "/tasks/replace").status_code == 404
