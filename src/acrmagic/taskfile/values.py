"""Template data: `.Values` from a values file and the `--set` mappings, and `.Run` from the run's context."""

from __future__ import annotations

import datetime as _dt
import json
import re
from dataclasses import dataclass, field

from ..errors import TaskFileError
from . import yamlv2


def parse_values_file(text: str | None, name: str = "--values") -> dict:
    """A values file as acr-builder reads it: yaml.v2 into map[string]interface{} (YAML 1.1 typed: 1.10 ->
    1.1, 007 -> 7, yes -> true; timestamps stay text)."""
    if not text:
        return {}
    wrapper = "failed to deserialize values. Try rendering your template locally to validate the values: "
    root = yamlv2.compose(text, name, "values_parse_error", wrapper)
    return yamlv2.typed(root, "{any}", {}, {}, name, "values_parse_error", wrapper) or {}


def merge_values(*layers: dict | None) -> dict:
    """`.Values`: each mapping laid over the ones before it (a values file, then --set, then --set-secret)."""
    out: dict = {}
    for layer in layers:
        out.update(layer or {})
    return out


_SAFE = re.compile(r"^[\w@%+=:,./-]*$")


def shell_quote(text: str) -> str:
    return text if _SAFE.fullmatch(text) else "'" + text.replace("'", "'\"'\"'") + "'"


@dataclass
class RunInfo:
    """What a task file knows of its run: what `.Run` holds. Field names follow the `run` objects of the reference cases.

    `environ` is the environment the template functions `env` and `expandenv` see: empty unless the
    caller passes one (never this process's, which may hold credentials); in ACR it is the agent's."""

    id: str = "aa1"
    registry: str = "localhost:5000"
    date: _dt.datetime = field(default_factory=lambda: _dt.datetime.now(_dt.timezone.utc))
    os: str = "linux"
    architecture: str = "amd64"
    commit: str = ""
    branch: str = ""
    shared_volume: str = ""
    task_name: str = ""
    os_version: str = ""
    repository: str = ""
    git_tag: str = ""
    triggered_by: str = ""
    environ: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, d: dict) -> "RunInfo":
        date = d.get("date")
        if isinstance(date, str):
            date = _dt.datetime.fromisoformat(date.replace("Z", "+00:00"))
        return cls(id=d.get("id", "aa1"), registry=d.get("registry", "localhost:5000"),
                   date=date or _dt.datetime.now(_dt.timezone.utc), os=d.get("os", "linux"),
                   architecture=d.get("architecture", "amd64"), commit=d.get("commit", ""),
                   branch=d.get("branch", ""), shared_volume=d.get("sharedVolume", ""),
                   task_name=d.get("taskName", ""), environ=dict(d.get("environ") or {}))

    def template_data(self) -> dict:
        return {
            "ID": self.id, "Registry": self.registry, "RegistryName": self.registry.split(".")[0],
            "Date": self.date.astimezone(_dt.timezone.utc).strftime("%Y%m%d-%H%M%S") + "z",
            "SharedVolume": self.shared_volume, "OS": self.os, "Architecture": self.architecture,
            "OSVersion": self.os_version, "Commit": self.commit, "Branch": self.branch,
            "Repository": self.repository, "GitTag": self.git_tag, "TriggeredBy": self.triggered_by,
            "TaskName": self.task_name,
        }


def template_data(run: RunInfo, values: dict, secrets: dict | None = None) -> dict:
    run_data = run.template_data()
    return {
        "Run": run_data,
        "Build": {"ID": run.id},
        "Values": values,
        "Secrets": secrets or {},
        "ValuesJSON": shell_quote(json.dumps(values, separators=(",", ":"))),
        "RunJSON": shell_quote(json.dumps(run_data, separators=(",", ":"))),
    }
