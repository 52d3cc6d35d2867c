"""The ACR emulator as users meet it: `python -m acrmagic.emulator` in a subprocess, driven through
real azure-identity (ManagedIdentityCredential over IDENTITY_ENDPOINT/IDENTITY_HEADER), the real
management SDKs and azure-storage-blob, over HTTPS with the emulator's CA. Raw httpx calls only where
a test needs what the SDKs never send (no token, a forged one, odd api-versions)."""

from __future__ import annotations

import base64
import io
import json
import os
import re
import signal
import ssl
import subprocess
import sys
import tarfile
import threading
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

import httpx
import jwt
import pytest
from azure.core.exceptions import ClientAuthenticationError, HttpResponseError, ResourceNotFoundError
from azure.identity import ManagedIdentityCredential
from azure.mgmt.containerregistry import ContainerRegistryManagementClient
from azure.mgmt.containerregistrytasks import ContainerRegistryTasksMgmtClient
from azure.mgmt.containerregistrytasks.models import (Argument, DockerBuildRequest, EncodedTaskRunRequest,
                                                      PlatformProperties, RunUpdateParameters)
from azure.storage.blob import BlobClient
from cryptography.hazmat.primitives.asymmetric import rsa

from acrmagic.emulator.filters import compile_filter
from acrmagic.emulator.run_requests import BuildJob, parse_run_request, qualify
from acrmagic.acrspec import base36
from acrmagic.errors import ArmError
from conftest import registry_digest

SCOPE = "https://management.azure.com/.default"
TERMINAL = {"Succeeded", "Failed", "Canceled", "Error", "Timeout"}
USER_CLIENT_ID = "5b0e2c8e-8a1d-4a53-9f59-1f6a4e3c2d10"
INFO_KEYS = {"management_url", "ca_bundle", "subscription_id", "resource_group", "registry", "login_server",
             "blob_endpoint", "identity_endpoint", "identity_header"}


# -- the emulator process -----------------------------------------------------------------------------
class Emulator:
    def __init__(self, tmp: Path, *args: str, env: dict | None = None):
        self.config_file = tmp / "emulator.json"
        self.stderr_path = tmp / "emulator.stderr"
        self.stderr = open(self.stderr_path, "wb")
        self.proc = subprocess.Popen([sys.executable, "-m", "acrmagic.emulator", "--config-file", str(self.config_file),
                                      *args], stdout=subprocess.PIPE, stderr=self.stderr, text=True,
                                     env={**os.environ, **(env or {})})
        line: list[str] = []
        reader = threading.Thread(target=lambda: line.append(self.proc.stdout.readline()), daemon=True)
        reader.start()
        reader.join(60)
        if not line or not line[0].strip():
            self.stop()
            raise AssertionError(f"the emulator printed no start-up line: {self.stderr_path.read_text()}")
        self.first_line = line[0]
        self.info = json.loads(line[0])

    def stop(self, timeout: float = 30) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(timeout)
            self.rest_of_stdout = self.proc.stdout.read()
            return code
        finally:
            self.stderr.close()

    # clients, as a user of the SDKs builds them (azure-identity reads the variables at each token request)
    def use_identity(self, monkeypatch) -> None:
        monkeypatch.setenv("IDENTITY_ENDPOINT", self.info["identity_endpoint"])
        monkeypatch.setenv("IDENTITY_HEADER", self.info["identity_header"])

    def credential(self, monkeypatch, **kw) -> ManagedIdentityCredential:
        self.use_identity(monkeypatch)
        return ManagedIdentityCredential(**kw)

    def client_kwargs(self) -> dict:
        return dict(base_url=self.info["management_url"], credential_scopes=[SCOPE],
                    connection_verify=self.info["ca_bundle"])

    def token(self, resource: str = "https://management.azure.com", **params) -> str:
        resp = httpx.get(self.info["identity_endpoint"], headers={"X-IDENTITY-HEADER": self.info["identity_header"]},
                         params={"api-version": "2019-08-01", "resource": resource, **params})
        resp.raise_for_status()
        return resp.json()["access_token"]

    def arm(self, method: str, path: str, token: str | None = None, headers: dict | None = None,
            **kw) -> httpx.Response:
        headers = {**({"Authorization": f"Bearer {token}"} if token else {}), **(headers or {})}
        return httpx.request(method, self.info["management_url"] + path, headers=headers, verify=self.tls, **kw)

    @property
    def tls(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=self.info["ca_bundle"])

    @property
    def registry_path(self) -> str:
        i = self.info
        return (f"/subscriptions/{i['subscription_id']}/resourceGroups/{i['resource_group']}"
                f"/providers/Microsoft.ContainerRegistry/registries/{i['registry']}")


@pytest.fixture(scope="module")
def emulator(tmp_path_factory):
    emu = Emulator(tmp_path_factory.mktemp("emulator"),
                   "--registry", "acrmagic", "--registry", "basicreg", "--sku", "Standard", "--sku", "Basic",
                   "--no-tasks", "basicreg", "--user-identity", USER_CLIENT_ID, "--max-running", "1",
                   "--log-level", "info")
    env = pytest.MonkeyPatch()
    emu.use_identity(env)  # for the module's clients; tests that set their own get these back after
    yield emu
    env.undo()
    emu.stop()


@pytest.fixture
def clients(emulator, monkeypatch):
    cred = emulator.credential(monkeypatch)
    sub = emulator.info["subscription_id"]
    tasks = ContainerRegistryTasksMgmtClient(cred, sub, **emulator.client_kwargs())
    acr = ContainerRegistryManagementClient(cred, sub, **emulator.client_kwargs())
    yield tasks, acr
    tasks.close()
    acr.close()


def _targz(files: dict[str, str]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _upload(emulator, tasks, files: dict[str, str], registry: str | None = None) -> str:
    rg, reg = emulator.info["resource_group"], registry or emulator.info["registry"]
    up = tasks.registries.get_build_source_upload_url(rg, reg)
    assert re.fullmatch(r"source/\d{8}0000/[0-9a-f-]{36}\.tar\.gz", up.relative_path)
    assert up.upload_url.startswith(emulator.info["blob_endpoint"] + "/")
    BlobClient.from_blob_url(up.upload_url, connection_verify=emulator.info["ca_bundle"]).upload_blob(
        _targz(files), blob_type="BlockBlob", overwrite=True)
    return up.relative_path


def _build_request(source: str, images: list[str], **kw) -> DockerBuildRequest:
    return DockerBuildRequest(source_location=source, docker_file_path="Dockerfile", image_names=images,
                              is_push_enabled=bool(images), platform=PlatformProperties(os="linux", architecture="amd64"),
                              arguments=kw.pop("arguments", []), **kw)


def _wait(tasks, emulator, run_id: str, until=lambda run: run.status in TERMINAL, timeout: float = 120):
    rg, reg = emulator.info["resource_group"], emulator.info["registry"]
    deadline = time.monotonic() + timeout
    while True:
        run = tasks.runs.get(rg, reg, run_id)
        if until(run):
            return run
        assert time.monotonic() < deadline, f"run {run_id} still {run.status}"
        time.sleep(0.2)


def _log_blob(emulator, tasks, run_id: str) -> BlobClient:
    sas = tasks.runs.get_log_sas_url(emulator.info["resource_group"], emulator.info["registry"], run_id)
    return BlobClient.from_blob_url(sas.log_link, connection_verify=emulator.info["ca_bundle"])


def _read_ranges(blob: BlobClient, chunk: int = 100) -> bytes:
    """The blob read as `az acr` tails it: HEAD for the size, then ranged GETs."""
    size, out = blob.get_blob_properties().size, b""
    while len(out) < size:
        out += blob.download_blob(offset=len(out), length=min(chunk, size - len(out)), max_concurrency=1).readall()
    return out


# -- start-up ---------------------------------------------------------------------------------------
def test_first_line_names_every_endpoint_and_matches_the_config_file(emulator):
    info = emulator.info
    assert INFO_KEYS <= set(info)
    assert json.loads(emulator.config_file.read_text()) == info
    assert emulator.config_file.stat().st_mode & 0o777 == 0o600  # it holds the identity header
    assert info["management_url"].startswith("https://127.0.0.1:")
    assert info["blob_endpoint"].startswith("https://127.0.0.1:") and info["blob_endpoint"].endswith("/devstoreaccount1")
    assert info["identity_endpoint"].startswith("http://127.0.0.1:")
    assert Path(info["ca_bundle"]).read_text().startswith("-----BEGIN CERTIFICATE-----")
    assert info["login_server"] == "localhost:5000" and info["registry"] == "acrmagic"


def test_plain_http_and_an_untrusted_certificate_are_refused(emulator):
    with pytest.raises(httpx.ConnectError):
        httpx.get(emulator.info["management_url"] + "/metadata/endpoints")  # the system CAs do not know it
    with pytest.raises(httpx.HTTPError):
        httpx.get(emulator.info["management_url"].replace("https", "http") + "/metadata/endpoints")


# -- identity and authentication ----------------------------------------------------------------------
def test_registry_get_through_managed_identity(clients, emulator):
    tasks, acr = clients
    reg = acr.registries.get(emulator.info["resource_group"], "acrmagic")
    assert (reg.login_server, reg.sku.name, reg.provisioning_state) == ("localhost:5000", "Standard", "Succeeded")
    assert reg.id.endswith("/providers/Microsoft.ContainerRegistry/registries/acrmagic")
    basic = acr.registries.get(emulator.info["resource_group"], "basicreg")
    assert basic.sku.name == "Basic"


def test_tokens_carry_the_identity_claims(emulator, monkeypatch):
    system = emulator.credential(monkeypatch).get_token(SCOPE)
    claims = jwt.decode(system.token, options={"verify_signature": False})
    assert claims["aud"] == "https://management.azure.com"
    assert claims["tid"] == emulator.info["tenant_id"] and claims["appid"] == emulator.info["system_identity_client_id"]
    assert {"oid", "sub", "iss", "iat", "exp"} <= set(claims) and "upn" not in claims
    assert jwt.get_unverified_header(system.token)["alg"] == "RS256"
    assert abs(system.expires_on - claims["exp"]) <= 1

    user = emulator.credential(monkeypatch, client_id=USER_CLIENT_ID).get_token(SCOPE)
    assert jwt.decode(user.token, options={"verify_signature": False})["appid"] == USER_CLIENT_ID
    with pytest.raises(ClientAuthenticationError):
        emulator.credential(monkeypatch, client_id=str(uuid.uuid4())).get_token(SCOPE)  # not assigned: refused


def test_the_identity_endpoint_checks_its_header(emulator):
    resp = httpx.get(emulator.info["identity_endpoint"], headers={"X-IDENTITY-HEADER": "wrong"},
                     params={"api-version": "2019-08-01", "resource": "https://management.azure.com"})
    assert resp.status_code == 401


def test_management_calls_need_a_valid_token(emulator):
    path = emulator.registry_path + "?api-version=2025-11-01"
    good = emulator.token()
    assert emulator.arm("GET", path, good).status_code == 200
    assert emulator.arm("GET", path, emulator.token("https://management.core.windows.net/")).status_code == 200  # az

    def refused(token, code, **kw):
        resp = emulator.arm("GET", path, token, **kw)
        assert resp.status_code == 401, resp.text
        assert resp.json()["error"]["code"] == code
        assert resp.headers["www-authenticate"].startswith("Bearer ")

    refused(None, "AuthenticationFailed")
    refused("not-a-jwt", "InvalidAuthenticationToken")
    # the same claims, signed by another key
    claims = jwt.decode(good, options={"verify_signature": False})
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    refused(jwt.encode(claims, other, algorithm="RS256"), "InvalidAuthenticationToken")
    refused(jwt.encode({**claims, "exp": int(time.time()) - 60}, other, algorithm="RS256"), "InvalidAuthenticationToken")
    refused(jwt.encode(claims, "a-shared-secret-of-thirty-two-bytes", algorithm="HS256"), "InvalidAuthenticationToken")
    refused(emulator.token("https://storage.azure.com"), "InvalidAuthenticationTokenAudience")
    resp = emulator.arm("GET", path, headers={"Authorization": "Basic dXNlcjpwdw=="})
    assert resp.status_code == 401 and resp.json()["error"]["code"] == "AuthenticationFailed"


def test_expired_tokens_are_refused_and_sigterm_stops_emulator_and_azurite(tmp_path, monkeypatch):
    emu = Emulator(tmp_path, "--token-lifetime", "3", "--log-level", "info")
    try:
        state_dir, azurite_pid = Path(emu.info["state_dir"]), emu.info["azurite_pid"]
        os.kill(azurite_pid, 0)  # running
        token = emu.token()
        time.sleep(3.5)
        resp = emu.arm("GET", emu.registry_path + "?api-version=2025-11-01", token)
        assert resp.status_code == 401 and resp.json()["error"]["code"] == "ExpiredAuthenticationToken"
        # the SDKs fetch a fresh token for each call when the old one is (nearly) expired
        acr = ContainerRegistryManagementClient(emu.credential(monkeypatch), emu.info["subscription_id"],
                                                **emu.client_kwargs())
        assert acr.registries.get(emu.info["resource_group"], emu.info["registry"]).name == "acrmagic"
        acr.close()
    finally:
        started = time.monotonic()
        code = emu.stop(timeout=20)
    assert code == 0, emu.stderr_path.read_text()
    assert time.monotonic() - started < 10
    assert emu.rest_of_stdout == ""  # stdout carries the start-up line only (access logs go to stderr)
    for pid in (emu.info["pid"], azurite_pid):
        deadline = time.monotonic() + 5
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not _alive(pid), f"process {pid} still runs"
    assert not state_dir.exists()  # the default state folder is temporary


@pytest.mark.engine
def test_sigterm_cancels_a_running_build(tmp_path, monkeypatch, engine):
    emu = Emulator(tmp_path, "--state-dir", str(tmp_path / "state"))
    marker = uuid.uuid4().hex[:10]
    try:
        tasks = ContainerRegistryTasksMgmtClient(emu.credential(monkeypatch), emu.info["subscription_id"],
                                                 **emu.client_kwargs())
        source = _upload(emu, tasks, {"Dockerfile": f"FROM busybox\nRUN echo {marker} && sleep 60\n"})
        run = tasks.registries.schedule_run(emu.info["resource_group"], emu.info["registry"],
                                            _build_request(source, ["localhost:5000/emu-test:sigterm"]))
        log = _log_blob(emu, tasks, run.run_id)
        deadline = time.monotonic() + 30
        while not (log.exists() and marker in log.download_blob().readall().decode()):  # the RUN step is going
            assert time.monotonic() < deadline, "the build's RUN step never started"
            time.sleep(0.2)
        tasks.close()
    finally:
        started = time.monotonic()
        code = emu.stop(timeout=30)
    assert code == 0 and time.monotonic() - started < 15
    assert not emu.config_file.exists()  # its CA and endpoints are gone: so is the file naming them
    # the run was closed before Azurite stopped: a new Azurite on the kept --state-dir shows its log
    from acrmagic.emulator.azurite import Azurite
    from acrmagic.emulator.blobs import Storage

    state = tmp_path / "state"
    azurite = Azurite(state / "azurite", state / "tls" / "server.pem", state / "tls" / "server.key")
    azurite.start()
    try:
        container, blob = log.container_name, log.blob_name
        client = Storage(azurite.endpoint, state / "tls" / "ca.pem").service.get_blob_client(container, blob)
        assert client.get_blob_properties().metadata == {"Complete": "Canceled"}
        assert f"Run ID: {run.run_id} was canceled" in client.download_blob().readall().decode()
    finally:
        azurite.stop()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie child of ours counts as gone
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0] != "Z"
    except (OSError, IndexError):
        return False


def test_a_missing_azurite_is_one_clear_line(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "acrmagic.emulator"], capture_output=True, text=True, timeout=60,
                          env={**os.environ, "ACRMAGIC_AZURITE": str(tmp_path / "nothing-here")})
    assert proc.returncode == 1 and proc.stdout == ""
    assert proc.stderr.strip().splitlines() == [
        f"acrmagic emulator: ACRMAGIC_AZURITE={tmp_path / 'nothing-here'} is not an executable azurite-blob"]


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
                 lambda: tasks.registries.schedule_run(rg, "basicreg", _build_request("source/x.tar.gz", []))):
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
            tasks.registries.schedule_run(rg, reg, _build_request(source, ["app:1"]))
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


# -- runs on the local engine ------------------------------------------------------------------------
SECRET = "s3cr3t-" + uuid.uuid4().hex[:8]


@pytest.fixture(scope="module")
def built(emulator, tmp_path_factory):
    """One quick build through the SDKs, shared by the tests that read its results."""
    tasks = ContainerRegistryTasksMgmtClient(ManagedIdentityCredential(), emulator.info["subscription_id"],
                                             **emulator.client_kwargs())
    try:
        source = _upload(emulator, tasks, {"Dockerfile": "FROM busybox\nARG TOKEN\nARG GREETING\n"
                                                         "RUN echo \"token is $TOKEN\" && echo \"$GREETING\" "
                                                         "&& printf 'a\\nb\\n' > /two-lines\n"})
        queued = tasks.registries.schedule_run(emulator.info["resource_group"], emulator.info["registry"], _build_request(
            source, ["localhost:5000/emu-test:{{.Run.ID}}", "emu-test:latest-emulator"],
            arguments=[Argument(name="TOKEN", value=SECRET, is_secret=True),
                       Argument(name="GREETING", value="hello from the emulator", is_secret=False)]))
        final = _wait(tasks, emulator, queued.run_id)
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
    blob = _log_blob(emulator, tasks, run.run_id)
    props = blob.get_blob_properties()
    assert props.blob_type == "AppendBlob" and props.metadata == {"Complete": "Succeeded"}
    log = _read_ranges(blob)
    assert log.endswith(b"\r\n") and b"\n" not in log.replace(b"\r\n", b"")
    text = log.decode()
    assert "hello from the emulator" in text and f"Run ID: {run.run_id} was successful" in text
    assert "Downloading source code..." in text and "Successfully pushed image: localhost:5000/emu-test:" in text


@pytest.mark.engine
def test_secret_build_arguments_stay_secret(built, emulator):
    tasks, queued, run = built
    log = _read_ranges(_log_blob(emulator, tasks, run.run_id)).decode()
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
    source = _upload(emulator, tasks, {"Dockerfile": f"FROM busybox\nRUN echo ready-$((1+1)) {uuid.uuid4().hex[:6]} "
                                                     f"&& sleep 60\n"})
    long = tasks.registries.schedule_run(rg, reg, _build_request(source, ["localhost:5000/emu-test:long-{{.Run.ID}}"]))
    queued = tasks.registries.schedule_run(rg, reg, _build_request(source, ["localhost:5000/emu-test:q-{{.Run.ID}}"]))
    _wait(tasks, emulator, long.run_id, until=lambda r: r.status == "Running", timeout=30)
    long_log = _log_blob(emulator, tasks, long.run_id)
    deadline = time.monotonic() + 30
    while b"ready-2 " not in _read_ranges(long_log):  # the RUN step is sleeping
        assert time.monotonic() < deadline
        time.sleep(0.2)
    queued_log = _log_blob(emulator, tasks, queued.run_id)
    assert tasks.runs.get(rg, reg, queued.run_id).status == "Queued"
    assert not queued_log.exists()  # no agent yet: no log blob (HEAD answers 404)

    started = time.monotonic()
    tasks.runs.cancel(rg, reg, long.run_id)
    assert tasks.runs.get(rg, reg, long.run_id).status == "Canceled"
    assert time.monotonic() - started < 10
    assert long_log.get_blob_properties().metadata == {"Complete": "Canceled"}
    assert f"Run ID: {long.run_id} was canceled" in _read_ranges(long_log).decode()

    # the queued one now gets the agent; cancel it too (it may be queued or just started)
    tasks.runs.cancel(rg, reg, queued.run_id)
    final = _wait(tasks, emulator, queued.run_id, timeout=20)
    assert final.status == "Canceled"
    assert queued_log.get_blob_properties().metadata == {"Complete": "Canceled"}
    # canceling a finished run changes nothing
    tasks.runs.cancel(rg, reg, long.run_id)
    assert tasks.runs.get(rg, reg, long.run_id).status == "Canceled"


@pytest.mark.engine
def test_a_failing_build_is_failed_with_its_error(clients, emulator):
    tasks, _ = clients
    rg, reg = emulator.info["resource_group"], emulator.info["registry"]
    source = _upload(emulator, tasks, {"Dockerfile": "FROM busybox\nRUN echo about-to-fail && exit 3\n"})
    run = _wait(tasks, emulator, tasks.registries.schedule_run(
        rg, reg, _build_request(source, ["localhost:5000/emu-test:fail-{{.Run.ID}}"])).run_id)
    assert run.status == "Failed" and "exit" in run.run_error_message and not run.output_images
    blob = _log_blob(emulator, tasks, run.run_id)
    assert blob.get_blob_properties().metadata == {"Complete": "Failed"}
    assert f"Run ID: {run.run_id} failed after" in _read_ranges(blob).decode()


def test_encoded_task_runs_are_accepted_and_answered(clients, emulator):
    """Multi-step task runs are parsed and queued; their execution comes with the local target."""
    tasks, _ = clients
    rg, reg = emulator.info["resource_group"], emulator.info["registry"]
    content = base64.b64encode(b"version: v1.1.0\nsteps:\n  - cmd: busybox echo hi\n").decode()
    queued = tasks.registries.schedule_run(rg, reg, EncodedTaskRunRequest(
        encoded_task_content=content, platform=PlatformProperties(os="linux")))
    run = _wait(tasks, emulator, queued.run_id, timeout=30)
    assert run.run_type == "QuickRun" and run.status in TERMINAL


# -- the pieces, without a server ---------------------------------------------------------------------
def test_secrecy_travels_with_each_value_from_the_request_to_the_run_request(tmp_path):
    """isSecret is kept with each value, not guessed by comparing values: a plain value that happens to
    equal a secret one stays plain, and an override of the same name replaces the value and its flag."""
    from acrmagic.emulator.execute import _task_request

    body = {"type": "EncodedTaskRunRequest", "platform": {"os": "linux"},
            "encodedTaskContent": base64.b64encode(b"steps: []\n").decode(),
            "values": [{"name": "shown", "value": "same"}, {"name": "hidden", "value": "same", "isSecret": True},
                       {"name": "flip", "value": "x", "isSecret": True}, {"name": "flip", "value": "y"}]}
    job = parse_run_request(body)
    assert job.values == {"shown": "same", "flip": "y"} and job.secret_values == {"hidden": "same"}
    request = _task_request(job, tmp_path)
    assert request.set_values == {"shown": "same", "flip": "y"} and request.set_secrets == {"hidden": "same"}


def test_run_ids_count_in_base_36():
    assert [base36(n) for n in (1, 9, 10, 35, 36, 1295, 1296)] == ["1", "9", "a", "z", "10", "zz", "100"]


def test_request_translation():
    job = parse_run_request({"type": "DockerBuildRequest", "imageNames": ["app:{{.Run.ID}}", "x.io/a/b:{{.Run.Date}}",
                                                                           "{{.Run.Registry}}/c"],
                             "isPushEnabled": True, "dockerFilePath": "sub/Dockerfile", "sourceLocation": "source/s",
                             "platform": {"os": "Linux", "architecture": "ARM64"}, "target": "t", "noCache": True,
                             "arguments": [{"name": "A", "value": "1", "isSecret": False, "type": "Argument"},
                                           {"name": "B", "value": "hush", "isSecret": True}]})
    assert isinstance(job, BuildJob) and job.secrets == ["hush"] and job.build_args == {"A": "1"}
    assert job.secret_build_args == {"B": "hush"}
    assert "hush" not in repr(job)
    assert job.platform.engine == "linux/arm64" and job.timeout == 3600 and job.no_cache and job.target == "t"
    when = datetime(2026, 3, 15, 9, 30, 0, tzinfo=timezone.utc)
    assert job.images("cb7", "localhost:5000", when) == ["localhost:5000/app:cb7", "x.io/a/b:20260315-093000z",
                                                         "localhost:5000/c:latest"]
    assert qualify("localhost:5000/x", "r.io") == "localhost:5000/x:latest"
    task = parse_run_request({"type": "FileTaskRunRequest", "taskFilePath": "acb.yaml", "sourceLocation": "s",
                              "platform": {"os": "linux"}, "values": [{"name": "k", "value": "v", "isSecret": True}]})
    assert task.task_file == "acb.yaml" and task.secret_values == {"k": "v"} and task.secrets == ["v"] and not task.values
    with pytest.raises(ArmError) as e:
        parse_run_request({"type": "FileTaskRunRequest", "platform": {"os": "linux"}, "sourceLocation": "s"})
    assert (e.value.status, e.value.target) == (400, "taskFilePath")


def test_filters():
    run = {"status": "Succeeded", "runid": "ca1", "taskname": None, "runtype": "QuickBuild",
           "createtime": datetime(2026, 1, 2, tzinfo=timezone.utc), "outputimagemanifests": "emu@sha256:ab"}
    assert compile_filter("Status eq 'succeeded' and RUNID eq 'ca1'")(run)
    assert not compile_filter("status eq 'Failed'")(run)
    assert compile_filter("(status eq 'Failed' or runId eq 'ca1') and createTime lt 2027-01-01T00:00:00Z")(run)
    assert compile_filter("contains(outputImageManifests, 'EMU@sha256')")(run)
    assert not compile_filter("TaskName eq 'nightly'")(run)
    assert compile_filter(None)(run)
    for bad in ("status", "colour eq 'red'", "status xx 'a'", "contains(status)"):
        with pytest.raises(ArmError):
            compile_filter(bad)


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
