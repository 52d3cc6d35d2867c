"""Where task commands go: the local TaskStore, or ACR (and its emulator) through the ACR target.

`cloud(store, registry)` is the one switch: a call given a TaskStore, or a target that is not ACR,
is local; otherwise (`acrmagic use REGISTRY`, `ACRMAGIC_TARGET=emulator:CONFIG`, or `-r ACRNAME` on
create/update) the verbs below talk to ACR's task resources. Definitions are built by the same
`definition.build` / `definition.update` either way, so `task show -o json` prints one Task shape;
secrets travel to ACR only in the create/update body (ACR stores them), and every answer shown goes
through `definition.public` (no token, no secret value).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..errors import UsageError
from ..runs.model import now
from ..states import MANUAL
from ..targets.base import Target
from . import definition as d
from . import secrets
from .summary import TaskInfo, TaskList


def cloud(store, registry: str | None = None):
    """The AcrTarget task commands go to, or None for the local store."""
    if store is not None:
        return None
    from .. import targets

    chosen = targets.resolve(registry) if registry else targets.resolve()
    if chosen.get("kind") != "acr":
        return None
    return targets.from_config(chosen)


def _read_given(value: str) -> str:
    if value.startswith("@"):
        from pathlib import Path

        path = Path(value[1:]).expanduser()
        secrets.check_file(path, "--git-access-token")
        return path.read_text().strip()
    return value


def to_acr(resource: dict, given: dict[str, str]) -> dict:
    """The Task JSON ACR is sent: public, plus the secrets given now (those not given again stay in ACR:
    PATCH keeps what it is not sent)."""
    if resource.get(d.EXTENSION, {}).get("dockerfile") is not None:
        raise UsageError("ACR builds a Docker step from a Dockerfile in the context: commit it and pass -f PATH "
                         "(a cell body works for a task YAML)")
    out = d.public(resource)
    out.pop("location", None)  # the registry's location
    out.pop("id", None)
    if out.get("identity"):
        ident = out["identity"]
        out["identity"] = {"type": ident["type"], **({"userAssignedIdentities": {k: {} for k in
                                                       ident.get("userAssignedIdentities", {})}}
                                                     if ident.get("userAssignedIdentities") else {})}
    token = _read_given(given[secrets.GIT_TOKEN]) if given.get(secrets.GIT_TOKEN) else None
    step = out["properties"]["step"]
    for key in ("values", "arguments"):
        if key in resource["properties"]["step"]:
            step[key] = [dict(v, value=_read_given(given[v["name"]])) if v.get("isSecret") and v["name"] in given
                         else v for v in resource["properties"]["step"][key]
                         if not v.get("isSecret") or v["name"] in given or "value" in v]
    if token:
        step["contextAccessToken"] = token
        for source in out["properties"].get("trigger", {}).get("sourceTriggers", []):
            source["sourceRepository"]["sourceControlAuthProperties"] = {"tokenType": "PAT", "scope": "repo",
                                                                         "token": token}
    return out


def create(acr, name: str, flags: dict, with_branch) -> TaskInfo:
    d.check_name(name)
    d.check_flags(flags)
    flags = with_branch(name, flags)
    resource, given = d.build(name, flags, now=now())
    return TaskInfo(d.public(acr.create_task(to_acr(resource, given))), {})


def update(acr, name: str, changes: dict, with_branch) -> TaskInfo:
    d.check_flags(changes)
    old = acr.get_task(name, secrets=True)
    if changes.get("context"):
        changes = with_branch(name, changes)
    new, given = d.update(old, changes, now=now())
    body = to_acr(new, given)
    patch = changed(old.get("properties") or {}, body["properties"])
    return TaskInfo(d.public(acr.update_task(name, {"properties": patch,
                                                    **({"identity": body["identity"]} if "assign_identity" in changes
                                                       else {})})), {})


#: what ACR computes or keeps as it is: never part of an update
_READ_ONLY = ("provisioningState", "creationDate", "baseImageDependencies")


def changed(old: dict, new: dict) -> dict:
    """The PATCH body that turns `old` (the task as ACR answered) into `new`: only what differs. A PATCH
    keeps what it is not sent, so nothing is invented: no `contextPath: /dev/null` for a task ACR keeps
    without one, no empty `credentials`. A step sent carries its type (the service asks for it)."""
    out = {}
    for key, value in new.items():
        if key in _READ_ONLY or old.get(key) == value:
            continue
        if key not in old and (value in ({}, [], None) or _all_disabled(value)):
            continue  # nothing that was there, nothing switched on: no change
        if key == "contextPath" and value == "/dev/null" and not old.get(key):
            continue
        if isinstance(value, dict) and isinstance(old.get(key), dict):
            inner = changed(old[key], value)
            if not inner:
                continue
            if "type" in value and key == "step":
                inner = {"type": value["type"], **inner}
            out[key] = inner
        else:
            out[key] = value
    return out


def show(acr, name: str) -> TaskInfo:
    return TaskInfo(d.public(acr.get_task(name)), {})


def list_tasks(acr) -> TaskList:
    return TaskList(TaskInfo(d.public(r), {}) for r in acr.list_tasks())


def set_status(acr, name: str, status: str) -> TaskInfo:
    acr.get_task(name)
    return TaskInfo(d.public(acr.update_task(name, {"properties": {"status": status}})), {})


@dataclass
class _TaskRunRequest:
    """What the runner records of `task run` in ACR (the task itself is in ACR)."""

    task: str
    timeout: int = 3600
    secrets: list = field(default_factory=list)
    run_type: str = "QuickRun"

    @property
    def recorded(self) -> dict:
        return {"task": self.task}


class _TaskRunTarget(Target):
    """The ACR target, submitting a TaskRunRequest for the task instead of a build."""

    def __init__(self, acr, name: str):
        self.acr, self.name = acr, name
        self.kind = acr.kind
        self.keeps_history = True
        self.owner_cancels = False

    @property
    def registry(self) -> str:
        return self.acr.registry

    def describe(self) -> dict:
        return self.acr.describe()

    def who(self) -> str:
        return self.acr.who()

    def cancel(self, cancel_ref: str) -> None:
        self.acr.cancel(cancel_ref)

    def submit(self, request, reserve_id):
        return self.acr.run_task(self.name)


def run(acr, name: str, progress=None, run_store=None):
    from .. import runner
    from ..runs.store import RunStore

    resource = acr.get_task(name)
    if progress is None:
        from ..progress import make_progress

        progress = make_progress()
    request = _TaskRunRequest(name, resource["properties"].get("timeout") or 3600)
    execution = runner.start(request, target=_TaskRunTarget(acr, name), observer=progress,
                             store=run_store or RunStore(),
                             trigger={"runType": "QuickRun", "type": MANUAL, "task": name, "details": {}})
    return execution.run()


def list_runs(acr, name: str | None, top: int | None, status: str | None):
    from ..runs.model import RunList

    return RunList(acr.task_runs(name, top=top, status=status), query={"task": name, "status": status, "top": top})


def _all_disabled(value) -> bool:
    """Trigger items that are all switched off (a disabled source trigger ACR never had)."""
    return isinstance(value, list) and bool(value) and all(isinstance(v, dict) and v.get("status") == "Disabled"
                                                           for v in value)


__all__ = ["cloud", "create", "update", "changed", "show", "list_tasks", "set_status", "run", "list_runs", "to_acr"]
