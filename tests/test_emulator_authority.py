"""The device-code login a hosted notebook uses, offline: azure-identity's real DeviceCodeCredential
(through MSAL) against the emulator's authority endpoints on loopback HTTPS; the code is entered as a
user would, on the page the prompt names; the token it gets is accepted by the management API."""

from __future__ import annotations

import os
import re
import ssl
import threading

import httpx
import jwt
import pytest
from azure.core.exceptions import ClientAuthenticationError
from azure.identity import DeviceCodeCredential

import acrmagic
from acrmagic.emulator.authority import USER_NAME, USER_UPN
from acrmagic.emulator.process import EmulatorProcess
from acrmagic.targets.acr import AcrTarget
from acrmagic.targets.acr.credentials import MANAGEMENT_SCOPE, principal_name

CLIENT_ID = "04b07795-8ddb-461a-bbee-02f9e1bf7b46"  # the Azure CLI's public client id, as az login sends it


@pytest.fixture(scope="module")
def emulator(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("authority")
    emu = EmulatorProcess(tmp, env={**os.environ, "ACRMAGIC_HOME": str(tmp / "home")})
    yield emu
    assert emu.stop() == 0


def credential(emulator, prompts: list, **kwargs) -> DeviceCodeCredential:
    info = emulator.info
    return DeviceCodeCredential(client_id=CLIENT_ID, tenant_id=info["tenant_id"], authority=info["management_url"],
                                disable_instance_discovery=True, connection_verify=info["ca_bundle"],
                                prompt_callback=lambda uri, code, expires: prompts.append((uri, code)), **kwargs)


def test_device_code_login_completes_and_its_token_reaches_the_management_api(emulator):
    prompts: list = []
    cred = credential(emulator, prompts)
    got: dict = {}
    login = threading.Thread(target=lambda: got.update(token=cred.get_token(MANAGEMENT_SCOPE)))
    login.start()
    verify = ssl.create_default_context(cafile=emulator.info["ca_bundle"])
    for _ in range(300):  # the prompt comes once MSAL has the device code
        if prompts:
            break
        login.join(0.1)
    [(uri, code)] = prompts
    assert uri == emulator.info["management_url"] + "/devicelogin" and len(code) == 9
    assert "Code" in httpx.get(uri, verify=verify).text  # the page a user opens
    assert httpx.post(uri, data={"otc": "WRONGCODE"}, verify=verify).status_code == 400
    page = httpx.post(uri, data={"otc": code}, verify=verify)  # the user enters the code
    assert page.status_code == 200 and USER_UPN in page.text
    login.join(60)
    assert not login.is_alive() and got["token"].token
    claims = jwt.decode(got["token"].token, options={"verify_signature": False})
    assert claims["upn"] == USER_UPN and claims["tid"] == emulator.info["tenant_id"]
    assert principal_name(got["token"].token) == f"{USER_NAME} <{USER_UPN}> ({claims['oid']})"
    # the management API takes it as it takes a managed identity's token
    answer = httpx.get(emulator.info["management_url"] + "/subscriptions", params={"api-version": "2022-12-01"},
                       headers={"Authorization": f"Bearer {got['token'].token}"}, verify=verify)
    assert answer.status_code == 200 and answer.json()["value"][0]["subscriptionId"] == emulator.info["subscription_id"]
    # the user signed in once: the credential's record names them, and a second token needs no new code
    assert cred._auth_record.username == USER_UPN
    cred.get_token("https://management.core.windows.net//.default")
    assert len(prompts) == 1


def test_a_code_nobody_enters_expires_with_a_clear_error(emulator):
    prompts: list = []
    cred = credential(emulator, prompts, timeout=2)
    with pytest.raises(ClientAuthenticationError, match="(?i)timed out|expired|pending"):
        cred.get_token(MANAGEMENT_SCOPE)
    assert len(prompts) == 1


def test_use_says_where_runs_go_and_who_they_run_as(emulator):
    said = acrmagic.use(emulator=str(emulator.config_file))
    client_id = emulator.info["system_identity_client_id"]
    assert "in the ACR emulator described by" in said
    assert said.endswith(f"; signed in as system-assigned managed identity ({client_id})")
    assert acrmagic.use().endswith(f"({client_id})")  # `use` alone says it again


def test_a_target_signs_in_with_a_device_code_at_the_emulators_authority(emulator, capsys):
    target = AcrTarget("acrmagic", emulator_config=str(emulator.config_file), device_code=True)
    got: dict = {}
    login = threading.Thread(target=lambda: got.update(who=target.signed_in_as()))
    login.start()
    printed = ""
    for _ in range(300):  # azure-identity prints the prompt: the URL to open and the code to enter
        printed += capsys.readouterr().out
        if "enter the code" in printed:
            break
        login.join(0.1)
    uri, code = re.search(r"open the page (\S+) and enter the code (\w+)", printed).groups()
    verify = ssl.create_default_context(cafile=emulator.info["ca_bundle"])
    assert httpx.post(uri, data={"otc": code}, verify=verify).status_code == 200
    login.join(60)
    assert got["who"].startswith(f"{USER_NAME} <{USER_UPN}> (") and not login.is_alive()
