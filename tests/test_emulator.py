"""The emulator as a process (cli.py, server.py, identity.py): its start-up line and config file, HTTPS
with its own CA, managed-identity tokens and the checks on them, SIGTERM stopping it, Azurite and the
builds it runs. The routes, the runs, the tasks' PATCH, `$filter` and the triggers have their own files
(test_emulator_app, _scheduler, _tasks_api, _filters, _triggers, _run_requests)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import jwt
import pytest
from azure.core.exceptions import ClientAuthenticationError
from azure.mgmt.containerregistry import ContainerRegistryManagementClient
from azure.mgmt.containerregistrytasks import ContainerRegistryTasksMgmtClient
from cryptography.hazmat.primitives.asymmetric import rsa

from emulator_harness import INFO_KEYS, SCOPE, USER_CLIENT_ID, Emulator, build_request, log_blob, upload


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
        source = upload(emu, tasks, {"Dockerfile": f"FROM busybox\nRUN echo {marker} && sleep 60\n"})
        run = tasks.registries.schedule_run(emu.info["resource_group"], emu.info["registry"],
                                            build_request(source, ["localhost:5000/emu-test:sigterm"]))
        log = log_blob(emu, tasks, run.run_id)
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
