"""Readers of a request body's fields (scheduleRun, a Task's PUT/PATCH, a task run's overrides): each
gives the field's value or an ARM 400 answer naming the field. Shared by run_requests and tasks_api."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, field

from ..acrspec import (ARCHITECTURES, DEFAULT_CPU, DEFAULT_TIMEOUT, MAX_TIMEOUT, MIN_TIMEOUT, OSES, VARIANTS,
                       valid_timeout)
from ..platforms import Platform  # the one platform value (vocabulary); the emulator reads its JSON itself
from .arm import bad_request


def parse_platform(value: object, required: bool = True) -> Platform:
    """platform {os, architecture?, variant?}: strings from the API's enums, or ArmError(400)."""
    if value is None and not required:
        return Platform().with_default()
    if not isinstance(value, dict) or not isinstance(value.get("os"), str):
        raise bad_request("platform with an os is required.", target="platform")
    for key in ("architecture", "variant"):
        if value.get(key) is not None and not isinstance(value[key], str):
            raise bad_request(f"platform.{key} must be a string.", target="platform")
    os_ = value["os"].lower()
    arch = (value.get("architecture") or "amd64").lower()
    variant = (value.get("variant") or None) and value["variant"].lower()
    if os_ not in OSES or arch not in ARCHITECTURES or (variant and variant not in VARIANTS):
        raise bad_request(f"The platform '{'/'.join(filter(None, (os_, arch, variant)))}' is not valid: os is one of "
                          f"{', '.join(OSES)}, architecture one of {', '.join(ARCHITECTURES)}, variant one of "
                          f"{', '.join(VARIANTS)}.", target="platform")
    return Platform(os_, arch, variant).with_default()


def parse_timeout(value: object) -> int:
    if value is None:
        return DEFAULT_TIMEOUT
    if not valid_timeout(value):
        raise bad_request(f"timeout must be a number of seconds between {MIN_TIMEOUT} and {MAX_TIMEOUT}.",
                          target="timeout")
    return value


def parse_cpu(agent: object) -> int:
    """agentConfiguration {cpu}: a positive whole number of CPUs (2 when not given)."""
    if agent is None:
        return DEFAULT_CPU
    if not isinstance(agent, dict):
        raise bad_request("agentConfiguration must be an object.", target="agentConfiguration")
    cpu = agent.get("cpu", DEFAULT_CPU)
    if cpu is None:
        return DEFAULT_CPU
    if not isinstance(cpu, int) or isinstance(cpu, bool) or not 1 <= cpu <= 64:
        raise bad_request("agentConfiguration.cpu must be a whole number of CPUs.", target="agentConfiguration")
    return cpu


def string_field(body: dict, key: str, required: bool = False) -> str | None:
    """A string (empty or null: not given), or ArmError(400) naming the field."""
    value = body.get(key)
    if value is None or value == "":
        if required:
            raise bad_request(f"{key} is required.", target=key)
        return None
    if not isinstance(value, str):
        raise bad_request(f"{key} must be a string.", target=key)
    return value


def bool_field(body: dict, key: str, default: bool) -> bool:
    """true or false (null or absent: `default`), or ArmError(400) naming the field."""
    value = body.get(key, default)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise bad_request(f"{key} must be true or false.", target=key)
    return value


def base64_field(body: dict, key: str, required: bool = False) -> str | None:
    """A base64 field (encodedTaskContent, encodedValuesContent) decoded to its UTF-8 text."""
    text = string_field(body, key, required)
    if text is None:
        return None
    try:
        return base64.b64decode(text, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise bad_request(f"{key} is not base64-encoded UTF-8 text.", target=key) from None


@dataclass(frozen=True)
class NamedValue:
    """One item of `arguments` / `values`: its isSecret flag kept with it from the request to the job."""
    name: str
    value: str = field(repr=False)
    is_secret: bool = False


def named_values(body: dict, key: str) -> list[NamedValue]:
    """arguments / values: [{name, value, isSecret}] (unknown keys such as the CLI's stray `type` ignored)."""
    items = body.get(key) or []
    if not isinstance(items, list):
        raise bad_request(f"{key} must be a list.", target=key)
    out = []
    for item in items:
        if not isinstance(item, dict) or not isinstance(item.get("name"), str) or not item["name"] \
                or not isinstance(item.get("value"), str):
            raise bad_request(f"every item of {key} needs a name and a string value.", target=key)
        out.append(NamedValue(item["name"], item["value"], item.get("isSecret") is True))
    return out


def by_secrecy(items: list[NamedValue]) -> tuple[dict[str, str], dict[str, str]]:
    """The plain and the secret values, by name (a later item of a name replaces an earlier one)."""
    plain: dict[str, str] = {}
    secret: dict[str, str] = {}
    for item in items:
        plain.pop(item.name, None)
        secret.pop(item.name, None)
        (secret if item.is_secret else plain)[item.name] = item.value
    return plain, secret
