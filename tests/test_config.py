"""Where runs go: ACRMAGIC_TARGET, target.json and an emulator's start-up JSON are checked before anything
is sent anywhere; a bad value is one short line naming the variable, or the file and the field."""

from __future__ import annotations

import json

import pytest

import acrmagic
from acrmagic import config, targets
from acrmagic.errors import UsageError

GOOD_EMULATOR = {"management_url": "https://127.0.0.1:8443", "identity_endpoint": "http://127.0.0.1:8444/token",
                 "identity_header": "h3ader", "ca_bundle": "/tmp/ca.pem", "registry": "acrmagic",
                 "subscription_id": "00000000-0000-0000-0000-000000000000", "resource_group": "rg"}


def emulator_file(tmp_path, **changes):
    path = tmp_path / "emulator.json"
    path.write_text(json.dumps({**GOOD_EMULATOR, **changes}))
    return path


@pytest.mark.parametrize("value", [" myregistry", "myregistry ", "my registry", "ab", "-rfoo", "x" * 100_000,
                                   "emulator:", "myreg\n"])
def test_acrmagic_target_names_the_variable_in_one_short_line(monkeypatch, value):
    monkeypatch.setenv("ACRMAGIC_TARGET", value)
    with pytest.raises(UsageError) as e:
        config.chosen_target()
    message = str(e.value)
    assert message.startswith("ACRMAGIC_TARGET") and "\n" not in message and len(message) < 300


@pytest.mark.parametrize("value, kind", [("local", "local"), ("myregistry", "acr"), ("myreg.azurecr.io", "acr"),
                                         ("localhost:5000", "local"), ("registry.example.com", "local")])
def test_acrmagic_target_values_that_name_a_target(monkeypatch, value, kind):
    monkeypatch.setenv("ACRMAGIC_TARGET", value)
    assert config.chosen_target()["kind"] == kind


@pytest.mark.parametrize("content, field", [
    ({"kind": "acr", "registry": ["a"]}, "`registry`"),
    ({"kind": 5}, "`kind`"),
    ({"kind": "cloud"}, "`kind`"),
    ({"kind": "acr", "registry": "bad name"}, "`registry`"),
    ({"kind": "acr", "registry": "myregistry", "managementUrl": "https://evil.example.com"}, "`managementUrl`"),
    ({"kind": "acr", "registry": "myregistry", "managementUrl": "http://127.0.0.1:1"}, "`managementUrl`"),
    ({"kind": "acr", "identity": {"id": 1}}, "`identity`"),
    ([1, 2], "not a JSON object"),
    ("{not json", "not valid JSON"),
])
def test_target_json_wrong_types_name_the_file_and_field(home, content, field):
    home.mkdir(parents=True, exist_ok=True)
    (home / "target.json").write_text(content if isinstance(content, str) else json.dumps(content))
    with pytest.raises(UsageError) as e:
        config.chosen_target()
    assert "target.json" in str(e.value) and field in str(e.value) and "\n" not in str(e.value)


@pytest.mark.parametrize("changes, field", [
    ({"management_url": "https://management.example.com"}, "management_url"),
    ({"management_url": "http://127.0.0.1:8443"}, "management_url"),
    ({"management_url": 443}, "management_url"),
    ({"identity_endpoint": "http://example.invalid/token"}, "identity_endpoint"),
    ({"identity_endpoint": "file:///etc/passwd"}, "identity_endpoint"),
    ({"identity_header": ["x"]}, "identity_header"),
    ({"identity_header": "a\r\nX-Other: 1"}, "identity_header"),
    ({"ca_bundle": 7}, "ca_bundle"),
])
def test_an_emulator_config_that_would_send_secrets_elsewhere_is_refused_at_use(tmp_path, home, changes, field):
    path = emulator_file(tmp_path, **changes)
    with pytest.raises(UsageError) as e:
        acrmagic.use(emulator=str(path))
    assert f"`{field}`" in str(e.value) and str(path) in str(e.value) and "\n" not in str(e.value)
    assert not (home / "target.json").exists()  # nothing was chosen


def test_a_good_emulator_config_is_taken(tmp_path, home):
    path = emulator_file(tmp_path)
    assert "ACR emulator" in acrmagic.use(emulator=str(path))
    assert config.read_emulator_config(path)["identity_header"] == "h3ader"


@pytest.mark.parametrize("registry", ["bad name", "ab", "x" * 300, "-r", "reg/istry", "localhost:99999x", ""])
def test_use_refuses_what_is_no_registry(home, registry):
    with pytest.raises(UsageError, match="is not a registry") as e:
        acrmagic.use(registry)
    assert len(str(e.value)) < 300
    assert not (home / "target.json").exists()


def test_use_takes_acr_names_and_addresses(home):
    assert "ACR registry myregistry" in acrmagic.use("myregistry", resource_group="rg")
    assert config.chosen_target()["registry"] == "myregistry"
    assert "localhost:5000" in acrmagic.use("localhost:5000")
    assert config.chosen_target() == {"kind": "local", "registry": "localhost:5000"}


@pytest.mark.parametrize("registry", ["bad name", "ab", "a" * 60])
def test_dash_r_is_checked_before_anything_runs(registry):
    with pytest.raises(UsageError, match=r"^-r/--registry: "):
        targets.resolve(registry)
