"""From a scheduleRun body (DockerBuildRequest, FileTaskRunRequest, EncodedTaskRunRequest) to a
plain job the executor runs: the one place that reads the wire format (its fields through
request_fields). Validation failures are ARM 400 answers. Values marked isSecret stay apart from the
plain ones, in their own mapping, from the request to the local run request, and are never repr'd."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime

from ..acrspec import DEFAULT_CPU, QUICK_RUN
from ..platforms import Platform
from .arm import bad_request
from .request_fields import (base64_field, bool_field, by_secrecy, named_values, parse_cpu, parse_platform,
                             parse_timeout, string_field)
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
    build_args: dict[str, str] = field(default_factory=dict)
    secret_build_args: dict[str, str] = field(default_factory=dict, repr=False)
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
    values: dict[str, str] = field(default_factory=dict)
    secret_values: dict[str, str] = field(default_factory=dict, repr=False)
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
    dockerfile = string_field(body, "dockerFilePath", required=True)
    images = body.get("imageNames") or []
    if not isinstance(images, list) or not all(isinstance(i, str) and i.strip() for i in images):
        raise bad_request("imageNames must be a list of image names.", target="imageNames")
    push = bool_field(body, "isPushEnabled", default=True)
    if common.source_location is None:
        raise bad_request("sourceLocation is required for a DockerBuildRequest.", target="sourceLocation")
    build_args, secret_build_args = by_secrecy(named_values(body, "arguments"))
    common.secrets += secret_build_args.values()
    return BuildJob(**vars(common), image_names=images, push=push and bool(images), dockerfile=dockerfile,
                    target=string_field(body, "target"), no_cache=bool_field(body, "noCache", default=False),
                    build_args=build_args, secret_build_args=secret_build_args)


def _task(body: dict, kind: str) -> TaskJob:
    common = _common(body)
    values, secret_values = by_secrecy(named_values(body, "values"))
    common.secrets += secret_values.values()
    if kind == "FileTaskRunRequest":
        if common.source_location is None:
            raise bad_request("sourceLocation is required for a FileTaskRunRequest.", target="sourceLocation")
        return TaskJob(**vars(common), task_file=string_field(body, "taskFilePath", required=True),
                       values_file=string_field(body, "valuesFilePath"), values=values,
                       secret_values=secret_values)
    content = base64_field(body, "encodedTaskContent", required=True)
    return TaskJob(**vars(common), task_content=content, values_content=base64_field(body, "encodedValuesContent"),
                   values=values, secret_values=secret_values)


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
        source_auth = string_field(source, "loginMode") or string_field(source, "identity")
    return Common(platform=platform, timeout=timeout, source_location=string_field(body, "sourceLocation"), agent_cpu=cpu,
                  agent_pool_name=string_field(body, "agentPoolName"), log_template=string_field(body, "logTemplate"),
                  is_archive_enabled=bool_field(body, "isArchiveEnabled", default=False),
                  source_registry_auth=source_auth or "Default")


