"""The ACR emulator as users meet it, for the emulator's test files: `python -m acrmagic.emulator` in a
subprocess, driven through real azure-identity (ManagedIdentityCredential over IDENTITY_ENDPOINT /
IDENTITY_HEADER), the real management SDKs and azure-storage-blob, over HTTPS with the emulator's CA.
Raw httpx calls only where a test needs what the SDKs never send (no token, a forged one, odd api-versions)."""

from __future__ import annotations

import io
import os
import re
import ssl
import tarfile
import time
from pathlib import Path

import httpx
import pytest
from azure.identity import ManagedIdentityCredential
from azure.mgmt.containerregistry import ContainerRegistryManagementClient
from azure.mgmt.containerregistrytasks import ContainerRegistryTasksMgmtClient
from azure.mgmt.containerregistrytasks.models import DockerBuildRequest, PlatformProperties
from azure.storage.blob import BlobClient

from acrmagic.emulator.process import EmulatorProcess

SCOPE = "https://management.azure.com/.default"
TERMINAL = {"Succeeded", "Failed", "Canceled", "Error", "Timeout"}
USER_CLIENT_ID = "5b0e2c8e-8a1d-4a53-9f59-1f6a4e3c2d10"
INFO_KEYS = {"management_url", "ca_bundle", "subscription_id", "resource_group", "registry", "login_server",
             "blob_endpoint", "identity_endpoint", "identity_header"}


# -- the emulator process -----------------------------------------------------------------------------
class Emulator(EmulatorProcess):
    """The product's EmulatorProcess (started with ARGS over this environment), plus what the emulator's
    tests ask of it: the stdout left after the start-up line, and clients as users build them."""

    def __init__(self, tmp: Path, *args: str, env: dict | None = None):
        super().__init__(tmp, args, env={**os.environ, **(env or {})})

    def stop(self, timeout: float = 30) -> int:
        code = super().stop(timeout)
        self.rest_of_stdout = self.proc.stdout.read()
        return code

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


def targz(files: dict[str, str]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def upload(emulator, tasks, files: dict[str, str], registry: str | None = None) -> str:
    rg, reg = emulator.info["resource_group"], registry or emulator.info["registry"]
    up = tasks.registries.get_build_source_upload_url(rg, reg)
    assert re.fullmatch(r"source/\d{8}0000/[0-9a-f-]{36}\.tar\.gz", up.relative_path)
    assert up.upload_url.startswith(emulator.info["blob_endpoint"] + "/")
    BlobClient.from_blob_url(up.upload_url, connection_verify=emulator.info["ca_bundle"]).upload_blob(
        targz(files), blob_type="BlockBlob", overwrite=True)
    return up.relative_path


def build_request(source: str, images: list[str], **kw) -> DockerBuildRequest:
    return DockerBuildRequest(source_location=source, docker_file_path="Dockerfile", image_names=images,
                              is_push_enabled=bool(images), platform=PlatformProperties(os="linux", architecture="amd64"),
                              arguments=kw.pop("arguments", []), **kw)


def wait_for_run(tasks, emulator, run_id: str, until=lambda run: run.status in TERMINAL, timeout: float = 120):
    rg, reg = emulator.info["resource_group"], emulator.info["registry"]
    deadline = time.monotonic() + timeout
    while True:
        run = tasks.runs.get(rg, reg, run_id)
        if until(run):
            return run
        assert time.monotonic() < deadline, f"run {run_id} still {run.status}"
        time.sleep(0.2)


def log_blob(emulator, tasks, run_id: str) -> BlobClient:
    sas = tasks.runs.get_log_sas_url(emulator.info["resource_group"], emulator.info["registry"], run_id)
    return BlobClient.from_blob_url(sas.log_link, connection_verify=emulator.info["ca_bundle"])


def read_ranges(blob: BlobClient, chunk: int = 100) -> bytes:
    """The blob read as `az acr` tails it: HEAD for the size, then ranged GETs."""
    size, out = blob.get_blob_properties().size, b""
    while len(out) < size:
        out += blob.download_blob(offset=len(out), length=min(chunk, size - len(out)), max_concurrency=1).readall()
    return out
