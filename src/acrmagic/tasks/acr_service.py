"""Tasks kept in ACR (or its emulator): the verbs as ACR's task resources, through the ACR target's task
operations (`targets/acr/tasks.py`, the Azure SDK). ACR fires the triggers and keeps the runs.

Definitions are built by the same `definition.build` / `definition.update` as the local side, so
`task show -o json` prints one Task shape; secrets travel to ACR only in the create/update body (ACR
stores them), and every answer shown goes through `definition.public` (no token, no secret value).
"""

from __future__ import annotations

from .. import acrspec
from ..errors import UsageError
from ..runrequest import StoredTaskRun
from ..runs.model import Run, RunList, now
from ..runs.store import RunStore
from ..targets.acr import AcrTarget
from . import definition as d
from . import secrets
from .service import TaskService, with_branch
from .summary import TaskInfo, TaskList


class AcrTasks(TaskService):
    def __init__(self, acr: AcrTarget):
        self.acr = acr

    def _create(self, name: str, flags: dict) -> TaskInfo:
        flags = with_branch(name, flags)
        resource, given = d.build(name, flags, now=now())
        return TaskInfo(d.public(self.acr.create_task(to_acr(resource, given))), {})

    def _update(self, name: str, changes: dict) -> TaskInfo:
        old = self.acr.get_task(name, secrets=True)
        if changes.get("context"):
            changes = with_branch(name, changes)
        new, given = d.update(old, changes, now=now())
        body = to_acr(new, given)
        patch = changed(old.get("properties") or {}, body["properties"])
        identity = {"identity": body["identity"]} if "assign_identity" in changes else {}
        return TaskInfo(d.public(self.acr.update_task(name, {"properties": patch, **identity})), {})

    def show(self, name: str) -> TaskInfo:
        return TaskInfo(d.public(self.acr.get_task(name)), {})

    def list(self) -> TaskList:  # noqa: A003
        return TaskList(TaskInfo(d.public(r), {}) for r in self.acr.list_tasks())

    def delete(self, name: str) -> None:
        self.acr.delete_task(name)

    def set_status(self, name: str, status: str) -> TaskInfo:
        self.acr.get_task(name)
        return TaskInfo(d.public(self.acr.update_task(name, {"properties": {"status": status}})), {})

    def run(self, name: str, observer=None, run_store: RunStore | None = None) -> Run:
        """A TaskRunRequest for the task, followed and recorded by the one runner."""
        from .. import runner

        resource = self.acr.get_task(name)
        if observer is None:
            from ..progress import make_progress

            observer = make_progress()
        request = StoredTaskRun(name, resource["properties"].get("timeout") or acrspec.DEFAULT_TIMEOUT)
        execution = runner.start(request, target=self.acr, observer=observer, store=run_store or RunStore(),
                                 trigger=d.manual_trigger(name))
        return execution.run()

    def list_runs(self, name: str | None, top: int | None, status: str | None) -> RunList:
        return RunList(self.acr.task_runs(name, top=top, status=status),
                       query={"task": name, "status": status, "top": top})


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


def _all_disabled(value) -> bool:
    """Trigger items that are all switched off (a disabled source trigger ACR never had)."""
    return isinstance(value, list) and bool(value) and all(isinstance(v, dict) and v.get("status") == d.DISABLED
                                                           for v in value)


__all__ = ["AcrTasks", "to_acr", "changed"]
