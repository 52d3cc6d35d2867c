"""From a scheduleRun body (DockerBuildRequest, FileTaskRunRequest, EncodedTaskRunRequest) to a
plain job the executor runs: the one place that reads the wire format. Validation failures are ARM
400 answers. Secret values (arguments/values with isSecret) are kept apart and never repr'd."""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass, field
from datetime import datetime

from ..acrspec import (ARCHITECTURES, DEFAULT_CPU, DEFAULT_TIMEOUT, MAX_TIMEOUT, MIN_TIMEOUT, OSES, QUICK_RUN, VARIANTS,
                       valid_timeout)
from ..platforms import Platform  # the one platform value (vocabulary); the emulator reads its JSON itself
from .arm import bad_request
_RUN_VAR = re.compile(r"\{\{\s*\.(Run|Build)\.(\w+)\s*\}\}")


@dataclass
class Common:
    """Fields every run request shares."""
    platform: Platform
    timeout: int
    source_location: str | None
    agent_cpu: int = DEFAULT_CPU
    agent_pool_name: str | None = None
    log_template: str | None = None
    is_archive_enabled: bool = False
    source_registry_auth: str | None = None
    #: every secret value of the request, for the log redactor
    secrets: list[str] = field(default_factory=list, repr=False)


@dataclass
class BuildJob(Common):
    """A quick build (DockerBuildRequest)."""
    image_names: list[str] = field(default_factory=list)   # as sent; see images()
    push: bool = False
    dockerfile: str = "Dockerfile"
    target: str | None = None
    no_cache: bool = False
    build_args: dict[str, str] = field(default_factory=dict, repr=False)  # values may be secret
    run_type = QUICK_RUN  # the service records `az acr build` runs as QuickRun too

    def images(self, run_id: str, login_server: str, started: datetime) -> list[str]:
        """Image names with the run variables rendered and the registry's login server prefixed to
        names without a registry host (as ACR does)."""
        return [qualify(render_run_vars(name, run_id, login_server, started, self.platform), login_server)
                for name in self.image_names]


@dataclass
class TaskJob(Common):
    """A quick run: a task file in the source (FileTaskRunRequest) or sent inline (EncodedTaskRunRequest)."""
    task_file: str | None = None       # path inside the source
    task_content: str | None = None    # decoded YAML of an encoded task
    values_file: str | None = None
    values_content: str | None = None  # decoded encodedValuesContent
    values: dict[str, str] = field(default_factory=dict, repr=False)
    run_type = QUICK_RUN


def render_run_vars(text: str, run_id: str, login_server: str, started: datetime, platform: Platform) -> str:
    known = {"ID": run_id, "Registry": login_server, "RegistryName": login_server.split(".")[0],
             "Date": started.strftime("%Y%m%d-%H%M%S") + "z", "OS": platform.os,
             "Architecture": platform.architecture or ""}

    def value(m: re.Match) -> str:
        return run_id if m.group(1) == "Build" and m.group(2) == "ID" else known.get(m.group(2), "")
    return _RUN_VAR.sub(value, text)


def qualify(image: str, login_server: str) -> str:
    first, _, rest = image.partition("/")
    has_host = bool(rest) and ("." in first or ":" in first or first == "localhost")
    ref = image if has_host else f"{login_server}/{image}"
    last = ref.rsplit("/", 1)[-1]
    return ref if ":" in last or "@" in last else ref + ":latest"


def parse_run_request(body: object) -> BuildJob | TaskJob:
    if not isinstance(body, dict):
        raise bad_request("The request content is not a JSON object.")
    kind = body.get("type")
    if kind == "DockerBuildRequest":
        return _build(body)
    if kind in ("FileTaskRunRequest", "EncodedTaskRunRequest"):
        return _task(body, kind)
    raise bad_request(f"The run request type '{kind}' is not supported. Use DockerBuildRequest, FileTaskRunRequest, "
                      f"EncodedTaskRunRequest or TaskRunRequest.", target="type")


def _build(body: dict) -> BuildJob:
    common = _common(body)
    dockerfile = _string(body, "dockerFilePath", required=True)
    images = body.get("imageNames") or []
    if not isinstance(images, list) or not all(isinstance(i, str) and i.strip() for i in images):
        raise bad_request("imageNames must be a list of image names.", target="imageNames")
    push = _bool(body, "isPushEnabled", default=True)
    if common.source_location is None:
        raise bad_request("sourceLocation is required for a DockerBuildRequest.", target="sourceLocation")
    build_args: dict[str, str] = {}
    for item in _named_list(body, "arguments"):
        build_args[item["name"]] = item["value"]
        if item["isSecret"]:
            common.secrets.append(item["value"])
    return BuildJob(**vars(common), image_names=images, push=push and bool(images), dockerfile=dockerfile,
                    target=_string(body, "target"), no_cache=_bool(body, "noCache", default=False),
                    build_args=build_args)


def _task(body: dict, kind: str) -> TaskJob:
    common = _common(body)
    values: dict[str, str] = {}
    for item in _named_list(body, "values"):
        values[item["name"]] = item["value"]
        if item["isSecret"]:
            common.secrets.append(item["value"])
    if kind == "FileTaskRunRequest":
        if common.source_location is None:
            raise bad_request("sourceLocation is required for a FileTaskRunRequest.", target="sourceLocation")
        return TaskJob(**vars(common), task_file=_string(body, "taskFilePath", required=True),
                       values_file=_string(body, "valuesFilePath"), values=values)
    content = _base64(body, "encodedTaskContent", required=True)
    return TaskJob(**vars(common), task_content=content, values_content=_base64(body, "encodedValuesContent"),
                   values=values)


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


def _common(body: dict) -> Common:
    platform = parse_platform(body.get("platform"))
    timeout = parse_timeout(body.get("timeout"))
    cpu = parse_cpu(body.get("agentConfiguration"))
    credentials = body.get("credentials")
    if credentials is not None and not isinstance(credentials, dict):
        raise bad_request("credentials must be an object.", target="credentials")
    source = (credentials or {}).get("sourceRegistry")
    if source is not None and not isinstance(source, dict):
        raise bad_request("credentials.sourceRegistry must be an object.", target="credentials")
    custom = (credentials or {}).get("customRegistries")
    if custom is not None and not isinstance(custom, dict):
        raise bad_request("credentials.customRegistries must be an object.", target="credentials")
    source_auth = None
    if source:
        source_auth = _string(source, "loginMode") or _string(source, "identity")
    return Common(platform=platform, timeout=timeout, source_location=_string(body, "sourceLocation"), agent_cpu=cpu,
                  agent_pool_name=_string(body, "agentPoolName"), log_template=_string(body, "logTemplate"),
                  is_archive_enabled=_bool(body, "isArchiveEnabled", default=False),
                  source_registry_auth=source_auth or "Default")


def _string(body: dict, key: str, required: bool = False) -> str | None:
    value = body.get(key)
    if value is None or value == "":
        if required:
            raise bad_request(f"{key} is required.", target=key)
        return None
    if not isinstance(value, str):
        raise bad_request(f"{key} must be a string.", target=key)
    return value


def _bool(body: dict, key: str, default: bool) -> bool:
    value = body.get(key, default)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise bad_request(f"{key} must be true or false.", target=key)
    return value


def _base64(body: dict, key: str, required: bool = False) -> str | None:
    text = _string(body, key, required)
    if text is None:
        return None
    try:
        return base64.b64decode(text, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise bad_request(f"{key} is not base64-encoded UTF-8 text.", target=key) from None


def _named_list(body: dict, key: str) -> list[dict]:
    """arguments / values: [{name, value, isSecret}] (unknown keys such as the CLI's stray `type` ignored)."""
    items = body.get(key) or []
    if not isinstance(items, list):
        raise bad_request(f"{key} must be a list.", target=key)
    out = []
    for item in items:
        if not isinstance(item, dict) or not isinstance(item.get("name"), str) or not item["name"] \
                or not isinstance(item.get("value"), str):
            raise bad_request(f"every item of {key} needs a name and a string value.", target=key)
        out.append({"name": item["name"], "value": item["value"], "isSecret": item.get("isSecret") is True})
    return out

