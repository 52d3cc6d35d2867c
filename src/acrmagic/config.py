"""Where acrmagic keeps things, and where runs go by default (the local engine, or the target `acrmagic use` chose)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from urllib.parse import urlsplit

from . import refs
from .errors import UsageError, quoted

#: the local registry, as `$Registry` reads in local mode (Distribution on 127.0.0.1:5000)
LOCAL_REGISTRY = "localhost:5000"
#: the offline mirror of Docker Hub images (busybox, python:3.11-slim stand-ins)
MIRROR_REGISTRY = "localhost:5001"


def home() -> Path:
    """ACRMAGIC_HOME, default ~/.acrmagic: the run store and the run logs."""
    path = Path(os.environ.get("ACRMAGIC_HOME") or Path.home() / ".acrmagic")
    path.mkdir(parents=True, exist_ok=True)
    return path


def default_registry() -> str:
    """ACRMAGIC_REGISTRY, default the local registry."""
    return os.environ.get("ACRMAGIC_REGISTRY") or LOCAL_REGISTRY


def progress_mode() -> str | None:
    """ACRMAGIC_PROGRESS: plain | live | none; unset means choose by the frontend."""
    return os.environ.get("ACRMAGIC_PROGRESS") or None


# -- where new runs go -----------------------------------------------------------------------------------------
TARGET_FILE = "target.json"  # under ACRMAGIC_HOME; what `acrmagic use` chose (no secrets: names and paths only)


TARGET_ENV = "ACRMAGIC_TARGET"
#: what target.json may hold, each a string (what `use` writes); `kind` is local or acr
TARGET_FIELDS = ("kind", "registry", "resourceGroup", "subscription", "identity", "managementUrl", "caBundle",
                 "emulatorConfig")
#: Azure's own management endpoints (public and sovereign clouds): the only non-loopback hosts a token goes to
AZURE_MANAGEMENT_HOSTS = ("management.azure.com", "management.usgovcloudapi.net", "management.chinacloudapi.cn")


def chosen_target() -> dict:
    """The target of new runs: ACRMAGIC_TARGET (`local`, an ACR registry name, a registry address, or
    `emulator:CONFIG_FILE`), else what `acrmagic use` saved, else the local engine. With an ACR registry,
    ACRMAGIC_RESOURCE_GROUP, AZURE_SUBSCRIPTION_ID and ACRMAGIC_IDENTITY (`system` or a client id) fill
    what the choice leaves open. A value that names no target is one line naming the variable or file."""
    env = os.environ.get(TARGET_ENV)
    if env:
        chosen = target_from_text(env, TARGET_ENV)
    else:
        path = home() / TARGET_FILE
        chosen = read_target_file(path) if path.exists() else {"kind": "local"}
    if chosen.get("kind") == "acr":
        for key, var in (("resourceGroup", "ACRMAGIC_RESOURCE_GROUP"), ("subscription", "AZURE_SUBSCRIPTION_ID"),
                         ("identity", "ACRMAGIC_IDENTITY")):
            if not chosen.get(key) and os.environ.get(var):
                chosen[key] = os.environ[var]
    return chosen


def target_from_text(value: str, what: str) -> dict:
    """`local`, `emulator:FILE`, an ACR registry name or a registry address, as a target dict."""
    if value == "local":
        return {"kind": "local"}
    if value.startswith("emulator:"):
        if not value[len("emulator:"):]:
            raise UsageError(f"{what}: emulator: names no config file (emulator:PATH)")
        return {"kind": "acr", "emulatorConfig": value[len("emulator:"):]}
    try:
        registry = refs.check_registry(value, what)
    except UsageError as e:  # the target's own forms are allowed here too: say so
        raise UsageError(f"{e} (or `local`, or emulator:CONFIG_FILE)") from None
    if refs.is_acr_name(registry):
        return {"kind": "acr", "registry": registry.split(".")[0]}
    return {"kind": "local", "registry": registry}


def read_target_file(path: Path) -> dict:
    """target.json as `use` wrote it; anything else is one line naming the file and the field."""
    try:
        data = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError) as e:
        raise UsageError(f"{path}: cannot read it ({e.__class__.__name__}); choose again with `acrmagic use`") from None
    except ValueError as e:
        raise UsageError(f"{path}: not valid JSON ({e}); choose again with `acrmagic use`") from None
    if not isinstance(data, dict):
        raise UsageError(f"{path}: not a JSON object; choose again with `acrmagic use`")
    for key in TARGET_FIELDS:
        if data.get(key) is not None and not isinstance(data[key], str):
            raise UsageError(f"{path}: field `{key}` must be a string, not {type(data[key]).__name__}")
    if data.get("kind", "local") not in ("local", "acr"):
        raise UsageError(f"{path}: field `kind` must be local or acr, not {quoted(data['kind'])}")
    if data.get("registry"):
        refs.check_registry(data["registry"], f"{path}: field `registry`")
    if data.get("managementUrl"):
        check_management_url(data["managementUrl"], f"{path}: field `managementUrl`")
    return {k: v for k, v in data.items() if k in TARGET_FIELDS and v is not None} or {"kind": "local"}


def is_loopback(host: str | None) -> bool:
    if not host:
        return False
    if host == "localhost":
        return True
    import ipaddress  # only for a host that is not `localhost`

    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_management_url(url, what: str, *, loopback_only: bool = False) -> str:
    """Where an Azure token may be sent: https, to Azure's management endpoint or to this machine."""
    parts = urlsplit(url) if isinstance(url, str) else None
    host = parts.hostname if parts else None
    if (not parts or parts.scheme != "https" or not host or parts.username or parts.password
            or not (is_loopback(host) or (not loopback_only and host in AZURE_MANAGEMENT_HOSTS))):
        where = "this machine (127.0.0.1, localhost or ::1)" if loopback_only else \
            "Azure's management endpoint or this machine"
        raise UsageError(f"{what}: {quoted(url)} is not an https URL on {where}: a token would be sent there")
    return url


#: the start-up JSON `acrmagic emulator` writes: field -> must it be there
EMULATOR_FIELDS = {"management_url": True, "identity_endpoint": True, "identity_header": True, "ca_bundle": False,
                   "subscription_id": False, "resource_group": False, "registry": False, "login_server": False,
                   "blob_endpoint": False}


def read_emulator_config(path) -> dict:
    """The emulator's start-up JSON, checked: every field a string, the management URL https on loopback
    and the identity endpoint on loopback (its secret header goes nowhere else). One line naming the
    file and the field otherwise."""
    p = Path(path).expanduser()
    where = f"emulator config {p}"
    try:
        data = json.loads(p.read_text())
    except FileNotFoundError:
        raise UsageError(f"{where}: no such file: start the emulator with --config-file {p}") from None
    except (OSError, UnicodeDecodeError) as e:
        raise UsageError(f"{where}: cannot read it ({e.__class__.__name__})") from None
    except ValueError as e:
        raise UsageError(f"{where}: not valid JSON ({e})") from None
    if not isinstance(data, dict) or "management_url" not in data:
        raise UsageError(f"{where}: not the emulator's start-up JSON (no management_url)")
    for key, required in EMULATOR_FIELDS.items():
        value = data.get(key)
        if value is None and not required:
            continue
        if not isinstance(value, str) or not value:
            raise UsageError(f"{where}: field `{key}` must be a non-empty string")
    check_management_url(data["management_url"], f"{where}: field `management_url`", loopback_only=True)
    identity = urlsplit(data["identity_endpoint"])
    if identity.scheme not in ("http", "https") or not is_loopback(identity.hostname):
        raise UsageError(f"{where}: field `identity_endpoint` must be an http(s) URL on this machine, not "
                         f"{quoted(data['identity_endpoint'])}: the identity header would be sent there")
    if any(c in data["identity_header"] for c in "\r\n"):
        raise UsageError(f"{where}: field `identity_header` holds a line break")
    return data


def save_target(chosen: dict) -> Path:
    path = home() / TARGET_FILE
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(chosen, indent=2) + "\n")
    tmp.replace(path)  # a reader never sees half a file
    return path
