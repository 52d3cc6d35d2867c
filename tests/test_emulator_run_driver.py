"""Runs in the emulator (run_driver.py, execute.py, blobs.py): scheduled through the SDKs, built on the
local engine and pushed to the local registry, their log blob written as the service writes it,
listed newest first, canceled running or queued, failed with their error, stopped at their timeout."""

from __future__ import annotations

import base64
import re
import time
import uuid
from datetime import datetime, timedelta, timezone

import pytest
from azure.identity import ManagedIdentityCredential
from azure.mgmt.containerregistrytasks import ContainerRegistryTasksMgmtClient
from azure.mgmt.containerregistrytasks.models import (Argument, EncodedTaskRunRequest, PlatformProperties,
                                                      RunUpdateParameters)

from acrmagic.emulator.run_requests import parse_run_request
from conftest import registry_digest
from emulator_harness import TERMINAL, build_request, log_blob, read_ranges, upload, wait_for_run


# -- runs on the local engine ------------------------------------------------------------------------
SECRET = "s3cr3t-" + uuid.uuid4().hex[:8]


@pytest.fixture(scope="module")
def built(emulator, tmp_path_factory):
    """One quick build through the SDKs, shared by the tests that read its results."""
    tasks = ContainerRegistryTasksMgmtClient(ManagedIdentityCredential(), emulator.info["subscription_id"],
                                             **emulator.client_kwargs())
    try:
        source = upload(emulator, tasks, {"Dockerfile": "FROM busybox\nARG TOKEN\nARG GREETING\n"
                                                         "RUN echo \"token is $TOKEN\" && echo \"$GREETING\" "
                                                         "&& printf 'a\\nb\\n' > /two-lines\n"})
        queued = tasks.registries.schedule_run(emulator.info["resource_group"], emulator.info["registry"], build_request(
            source, ["localhost:5000/emu-test:{{.Run.ID}}", "emu-test:latest-emulator"],
            arguments=[Argument(name="TOKEN", value=SECRET, is_secret=True),
                       Argument(name="GREETING", value="hello from the emulator", is_secret=False)]))
        final = wait_for_run(tasks, emulator, queued.run_id)
        yield tasks, queued, final
    finally:
        tasks.close()


@pytest.mark.engine
def test_quick_build_pushes_to_the_local_registry(built, emulator):
    tasks, queued, run = built
    assert re.fullmatch(r"ca[0-9a-z]+", queued.run_id)
    assert queued.status == "Queued" and queued.provisioning_state == "Succeeded"
    assert run.status == "Succeeded", run.run_error_message
    assert run.run_type == "QuickRun" and run.provisioning_state == "Succeeded"  # as the service records `az acr build`
    assert run.create_time <= run.start_time <= run.finish_time
    assert run.platform.os == "linux" and run.agent_configuration.cpu == 2
    images = [(i.registry, i.repository, i.tag) for i in run.output_images]
    assert images == [("localhost:5000", "emu-test", queued.run_id), ("localhost:5000", "emu-test", "latest-emulator")]
    for image in run.output_images:
        assert image.digest == registry_digest(image.repository, image.tag)
        assert image.digest.startswith("sha256:")


@pytest.mark.engine
def test_the_log_blob_has_crlf_lines_and_the_final_status_last(built, emulator):
    tasks, queued, run = built
    blob = log_blob(emulator, tasks, run.run_id)
    props = blob.get_blob_properties()
    assert props.blob_type == "AppendBlob" and props.metadata == {"Complete": "Succeeded"}
    log = read_ranges(blob)
    assert log.endswith(b"\r\n") and b"\n" not in log.replace(b"\r\n", b"")
    text = log.decode()
    assert "hello from the emulator" in text and f"Run ID: {run.run_id} was successful" in text
    assert "Downloading source code..." in text and "Successfully pushed image: localhost:5000/emu-test:" in text


@pytest.mark.engine
def test_secret_build_arguments_stay_secret(built, emulator):
    tasks, queued, run = built
    log = read_ranges(log_blob(emulator, tasks, run.run_id)).decode()
    assert "token is ***" in log and SECRET not in log
    raw = emulator.arm("GET", f"{emulator.registry_path}/runs/{run.run_id}?api-version=2025-03-01-preview",
                       emulator.token())
    listed = emulator.arm("GET", f"{emulator.registry_path}/runs?api-version=2025-03-01-preview", emulator.token())
    assert SECRET not in raw.text and SECRET not in listed.text


@pytest.mark.engine
def test_runs_list_filters_newest_first_and_top(built, emulator):
    tasks, queued, run = built
    rg, reg = emulator.info["resource_group"], emulator.info["registry"]
    all_runs = list(tasks.runs.list(rg, reg))
    ids = [r.run_id for r in all_runs]
    assert run.run_id in ids
    assert [int(i[2:], 36) for i in ids] == sorted((int(i[2:], 36) for i in ids), reverse=True)  # newest first
    assert [r.run_id for r in tasks.runs.list(rg, reg, filter=f"runId eq '{run.run_id}'")] == [run.run_id]
    assert run.run_id in [r.run_id for r in tasks.runs.list(rg, reg, filter="Status eq 'succeeded' and RunType eq 'QuickRun'")]
    digest = run.output_images[0].digest
    assert [r.run_id for r in tasks.runs.list(rg, reg, filter=f"contains(OutputImageManifests, 'emu-test@{digest}')")] \
        == [run.run_id]
    since = (run.create_time - timedelta(seconds=1)).astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert run.run_id in [r.run_id for r in tasks.runs.list(rg, reg, filter=f"createTime ge {since}")]
    later = (datetime.now(timezone.utc) + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert list(tasks.runs.list(rg, reg, filter=f"createTime ge {later}")) == []
    assert list(tasks.runs.list(rg, reg, filter="TaskName eq 'nightly'")) == []
    top = emulator.arm("GET", f"{emulator.registry_path}/runs", emulator.token(),
                       params={"api-version": "2025-03-01-preview", "$top": "1"}).json()
    assert [r["name"] for r in top["value"]] == ids[:1] and "nextLink" not in top
    bad = emulator.arm("GET", f"{emulator.registry_path}/runs", emulator.token(),
                       params={"api-version": "2025-03-01-preview", "$filter": "colour eq 'red'"})
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "InvalidFilter"


@pytest.mark.engine
def test_run_update_sets_archiving(built, emulator):
    tasks, queued, run = built
    updated = tasks.runs.update(emulator.info["resource_group"], emulator.info["registry"], run.run_id,
                                RunUpdateParameters(is_archive_enabled=True))
    assert updated.is_archive_enabled is True and updated.status == "Succeeded"


@pytest.mark.engine
def test_cancel_a_long_build_and_a_queued_one(clients, emulator):
    """--max-running 1: the second run waits Queued, with no log blob, until it is canceled."""
    tasks, _ = clients
    rg, reg = emulator.info["resource_group"], emulator.info["registry"]
    # the output line "ready-2" is not in the RUN line the builder echoes first
    source = upload(emulator, tasks, {"Dockerfile": f"FROM busybox\nRUN echo ready-$((1+1)) {uuid.uuid4().hex[:6]} "
                                                     f"&& sleep 60\n"})
    long = tasks.registries.schedule_run(rg, reg, build_request(source, ["localhost:5000/emu-test:long-{{.Run.ID}}"]))
    queued = tasks.registries.schedule_run(rg, reg, build_request(source, ["localhost:5000/emu-test:q-{{.Run.ID}}"]))
    wait_for_run(tasks, emulator, long.run_id, until=lambda r: r.status == "Running", timeout=30)
    long_log = log_blob(emulator, tasks, long.run_id)
    deadline = time.monotonic() + 30
    while b"ready-2 " not in read_ranges(long_log):  # the RUN step is sleeping
        assert time.monotonic() < deadline
        time.sleep(0.2)
    queued_log = log_blob(emulator, tasks, queued.run_id)
    assert tasks.runs.get(rg, reg, queued.run_id).status == "Queued"
    assert not queued_log.exists()  # no agent yet: no log blob (HEAD answers 404)

    started = time.monotonic()
    tasks.runs.cancel(rg, reg, long.run_id)
    assert tasks.runs.get(rg, reg, long.run_id).status == "Canceled"
    assert time.monotonic() - started < 10
    assert long_log.get_blob_properties().metadata == {"Complete": "Canceled"}
    assert f"Run ID: {long.run_id} was canceled" in read_ranges(long_log).decode()

    # the queued one now gets the agent; cancel it too (it may be queued or just started)
    tasks.runs.cancel(rg, reg, queued.run_id)
    final = wait_for_run(tasks, emulator, queued.run_id, timeout=20)
    assert final.status == "Canceled"
    assert queued_log.get_blob_properties().metadata == {"Complete": "Canceled"}
    # canceling a finished run changes nothing
    tasks.runs.cancel(rg, reg, long.run_id)
    assert tasks.runs.get(rg, reg, long.run_id).status == "Canceled"


@pytest.mark.engine
def test_a_failing_build_is_failed_with_its_error(clients, emulator):
    tasks, _ = clients
    rg, reg = emulator.info["resource_group"], emulator.info["registry"]
    source = upload(emulator, tasks, {"Dockerfile": "FROM busybox\nRUN echo about-to-fail && exit 3\n"})
    run = wait_for_run(tasks, emulator, tasks.registries.schedule_run(
        rg, reg, build_request(source, ["localhost:5000/emu-test:fail-{{.Run.ID}}"])).run_id)
    assert run.status == "Failed" and "exit" in run.run_error_message and not run.output_images
    blob = log_blob(emulator, tasks, run.run_id)
    assert blob.get_blob_properties().metadata == {"Complete": "Failed"}
    assert f"Run ID: {run.run_id} failed after" in read_ranges(blob).decode()


def test_encoded_task_runs_are_accepted_and_answered(clients, emulator):
    """Multi-step task runs are parsed and queued; their execution comes with the local target."""
    tasks, _ = clients
    rg, reg = emulator.info["resource_group"], emulator.info["registry"]
    content = base64.b64encode(b"version: v1.1.0\nsteps:\n  - cmd: busybox echo hi\n").decode()
    queued = tasks.registries.schedule_run(rg, reg, EncodedTaskRunRequest(
        encoded_task_content=content, platform=PlatformProperties(os="linux")))
    run = wait_for_run(tasks, emulator, queued.run_id, timeout=30)
    assert run.run_type == "QuickRun" and run.status in TERMINAL


def test_a_run_past_its_timeout_is_stopped_and_marked_timeout(tmp_path):
    """The run driver with real Azurite and an executor that never finishes on its own."""
    from acrmagic.emulator.azurite import Azurite
    from acrmagic.emulator.blobs import Storage, container_name, log_blob_name
    from acrmagic.emulator.run_driver import RunDriver
    from acrmagic.emulator.state import Registry, Store
    from acrmagic.emulator.tls import make_tls

    class Sleeper:
        canceled = []

        def start(self, job, ctx):
            ctx.log("working")
            return ctx

        def cancel(self, ctx):
            self.canceled.append(ctx.run_id)
            ctx.on_status("Canceled", {})

    tls = make_tls(tmp_path / "tls")
    azurite = Azurite(tmp_path / "azurite", tls.cert, tls.key)
    azurite.start()
    try:
        reg = Registry("acrmagic", "rg", "sub")
        storage = Storage(azurite.endpoint, tls.ca_bundle)
        run_driver = RunDriver(Store([reg]), storage, Sleeper(), tmp_path / "work")
        job = parse_run_request({"type": "EncodedTaskRunRequest", "platform": {"os": "linux"},
                                 "encodedTaskContent": base64.b64encode(b"steps: []").decode()})
        job.timeout = 1
        run_id = run_driver.submit(reg, job, {})["properties"]["runId"]
        run = run_driver.store.run(reg, run_id)
        deadline = time.monotonic() + 10
        while not run.terminal:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert run.status == "Timeout" and Sleeper.canceled == [run_id]
        blob = storage.service.get_blob_client(container_name(reg.id), log_blob_name(run_id))
        assert blob.get_blob_properties().metadata == {"Complete": "TimedOut"}
        assert f"Run ID: {run_id} timed out after" in blob.download_blob().readall().decode()
        run_driver.stop()
    finally:
        azurite.stop()
    assert azurite.process.poll() is not None
