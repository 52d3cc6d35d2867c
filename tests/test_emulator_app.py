"""The emulator's ARM routes (app.py, arm.py) as az and the SDKs call them: discovery, errors in ARM's
shape, api-versions, case-insensitive path segments, and the checks on run requests before any run."""

from __future__ import annotations

import pytest
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError

from emulator_harness import build_request


# -- discovery calls az makes ------------------------------------------------------------------------
def test_cloud_metadata_subscriptions_tenants_and_resource_discovery(emulator):
    meta = emulator.arm("GET", "/metadata/endpoints?api-version=2022-09-01").json()
    assert isinstance(meta, dict) and meta["resourceManager"] == emulator.info["management_url"] + "/"
    assert meta["authentication"]["audiences"][0] == "https://management.core.windows.net/"
    assert {"loginEndpoint"} <= set(meta["authentication"]) and "acrLoginServer" in meta["suffixes"]
    for key in ("name", "graph", "portal", "gallery", "media"):
        assert meta[key]
    token = emulator.token("https://management.core.windows.net/")
    subs = emulator.arm("GET", "/subscriptions?api-version=2022-12-01", token).json()["value"]
    assert [s["subscriptionId"] for s in subs] == [emulator.info["subscription_id"]]
    assert subs[0]["state"] == "Enabled" and subs[0]["tenantId"] == emulator.info["tenant_id"]
    one = emulator.arm("GET", f"/subscriptions/{emulator.info['subscription_id']}?api-version=2022-12-01", token)
    assert one.json()["id"] == f"/subscriptions/{emulator.info['subscription_id']}"
    tenants = emulator.arm("GET", "/tenants?api-version=2022-12-01", token).json()["value"]
    assert tenants[0]["tenantId"] == emulator.info["tenant_id"]
    found = emulator.arm("GET", f"/subscriptions/{emulator.info['subscription_id']}/resources", token, params={
        "$filter": "resourceType eq 'Microsoft.ContainerRegistry/registries'", "api-version": "2024-11-01"}).json()
    assert sorted(r["name"] for r in found["value"]) == ["acrmagic", "basicreg"]
    assert f"/resourceGroups/{emulator.info['resource_group']}/" in found["value"][0]["id"]
    assert emulator.arm("GET", "/subscriptions?api-version=2022-12-01").status_code == 401


# -- errors in ARM's shape ---------------------------------------------------------------------------
def test_unknown_runs_registries_groups_answer_404(clients, emulator):
    tasks, acr = clients
    rg = emulator.info["resource_group"]
    with pytest.raises(ResourceNotFoundError) as e:
        tasks.runs.get(rg, "acrmagic", "zz999")
    assert e.value.error.code == "ResourceNotFound"
    with pytest.raises(ResourceNotFoundError) as e:
        acr.registries.get(rg, "nosuchregistry")
    assert e.value.error.code == "ResourceNotFound"
    with pytest.raises(ResourceNotFoundError) as e:
        acr.registries.get("no-such-group", "acrmagic")
    assert e.value.error.code == "ResourceGroupNotFound"
    with pytest.raises(ResourceNotFoundError):
        tasks.runs.cancel(rg, "acrmagic", "zz999")


def test_api_versions(emulator):
    token = emulator.token()
    runs = emulator.registry_path + "/runs"
    for version in ("2019-06-01-preview", "2025-03-01-preview"):
        assert emulator.arm("GET", runs, token, params={"api-version": version}).status_code == 200
    for version in ("2023-11-01-preview", "2026-01-01-preview", "2019-05-01"):
        assert emulator.arm("GET", emulator.registry_path, token, params={"api-version": version}).status_code == 200
    bad = emulator.arm("GET", runs, token, params={"api-version": "2099-01-01"})
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "NoRegisteredProviderFound"
    missing = emulator.arm("GET", runs, token)
    assert missing.status_code == 400 and missing.json()["error"]["code"] == "MissingApiVersionParameter"
    # ARM's literal path segments are case-insensitive
    lower = emulator.registry_path.replace("resourceGroups", "resourcegroups").replace("Microsoft.ContainerRegistry",
                                                                                        "microsoft.containerregistry")
    assert emulator.arm("GET", lower, token, params={"api-version": "2025-11-01"}).status_code == 200


def test_a_registry_without_tasks_refuses_them_as_the_service_does(clients, emulator):
    tasks, _ = clients
    rg = emulator.info["resource_group"]
    for call in (lambda: tasks.registries.get_build_source_upload_url(rg, "basicreg"),
                 lambda: tasks.registries.schedule_run(rg, "basicreg", build_request("source/x.tar.gz", []))):
        with pytest.raises(HttpResponseError) as e:
            call()
        assert e.value.status_code == 400 and e.value.error.code == "TasksOperationsNotAllowed"
        assert e.value.error.message == (
            f"ACR Tasks requests for the registry basicreg and {emulator.info['subscription_id']} are not permitted. "
            f"Please file an Azure support request at http://aka.ms/azuresupport for assistance.")


def test_schedule_run_needs_an_uploaded_source(clients, emulator):
    tasks, _ = clients
    rg, reg = emulator.info["resource_group"], emulator.info["registry"]
    minted = tasks.registries.get_build_source_upload_url(rg, reg).relative_path  # handed out, never uploaded
    for source in (minted, "source/202601010000/0c8b2d1e-0000-4000-8000-000000000000.tar.gz"):
        with pytest.raises(HttpResponseError) as e:
            tasks.registries.schedule_run(rg, reg, build_request(source, ["app:1"]))
        assert e.value.status_code == 400 and e.value.error.code == "SourceLocationNotFound"
        assert f"The provided source location '{source}' is invalid or doesn't exists." in e.value.error.message


def test_run_requests_are_validated(emulator):
    token = emulator.token()
    path = emulator.registry_path + "/scheduleRun?api-version=2025-03-01-preview"
    for body, target in (({"type": "NoSuchRequest"}, "type"),
                         ({"type": "DockerBuildRequest", "dockerFilePath": "Dockerfile"}, "platform"),
                         ({"type": "DockerBuildRequest", "platform": {"os": "linux"}, "sourceLocation": "s"},
                          "dockerFilePath"),
                         ({"type": "DockerBuildRequest", "platform": {"os": "plan9"}, "dockerFilePath": "D"}, "platform"),
                         ({"type": "EncodedTaskRunRequest", "platform": {"os": "linux"}, "encodedTaskContent": "%%"},
                          "encodedTaskContent"),
                         ({"type": "DockerBuildRequest", "platform": {"os": "linux"}, "dockerFilePath": "D",
                           "sourceLocation": "s", "timeout": 10}, "timeout")):
        resp = emulator.arm("POST", path, token, json=body)
        assert resp.status_code == 400, body
        assert resp.json()["error"]["target"] == target
    resp = emulator.arm("POST", path, token, content=b"{not json", headers={"Content-Type": "application/json"})
    assert resp.status_code == 400 and resp.json()["error"]["code"] == "InvalidRequestContent"
