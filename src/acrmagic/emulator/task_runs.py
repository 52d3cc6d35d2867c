"""ACR Tasks' taskRun resources: `.../registries/{registry}/taskRuns/{name}` PUT (a run request kept as a
resource, run at once), GET, list and DELETE, as `az acr taskrun` and ARM templates use them.

A taskRun answers with its `runRequest` as given (empty lists and objects, and secret values, left
out; a Docker build's `isPushEnabled` and `noCache` filled in) and its `runResult`: the Run resource
of the run it started, without systemData, as the service's recorded answers show.
"""

from __future__ import annotations

import copy
import threading

from starlette.routing import Route

from ..acrspec import TASK_RUN_NAME
from ..errors import ArmError
from .arm import REGISTRY_TYPE, TASKS_API_VERSIONS, bad_request, check_name, timestamp, utc_now
from .state import principal

TASK_RUN_TYPE = f"{REGISTRY_TYPE}/taskRuns"
_P = "/subscriptions/{subscription}/resourceGroups/{resource_group}/providers/" + REGISTRY_TYPE + "/{registry}"


def _shown_request(request: dict) -> dict:
    out = {}
    for key, value in request.items():
        if value in ([], {}, None):
            continue
        if key in ("arguments", "values") and isinstance(value, list):
            value = [v for v in value if not (isinstance(v, dict) and v.get("isSecret"))]
        if key == "credentials":
            continue  # credentials are write-only
        out[key] = copy.deepcopy(value)
    if out.get("type") == "DockerBuildRequest":
        out.setdefault("isPushEnabled", True)
        out.setdefault("noCache", False)
    return out


def _check(name: str) -> str:
    return check_name(name, TASK_RUN_NAME, "taskRun", "InvalidTaskRunName", "taskRunName")


class TaskRunsApi:
    def __init__(self, arm):
        self.arm = arm
        self._lock = threading.Lock()

    @property
    def store(self):
        return self.arm.store

    def _name(self, call) -> str:
        return _check(call.param("task_run"))

    def _answer(self, reg, stored: dict) -> dict:
        out = copy.deepcopy(stored)
        try:
            run = self.store.run(reg, stored["runId"]).to_json()
        except ArmError:
            run = None
        out.pop("runId", None)
        if run is not None:
            run.pop("systemData", None)
            out["properties"]["runResult"] = run
        return out

    def put(self, call) -> dict:
        return self.create(self.arm.tasks_registry(call), self._name(call), call.object_body(), call.claims)

    def create(self, reg, name: str, body: dict, claims: dict) -> dict:
        """Create or replace a taskRun (its PUT, or a template deployment's); its answer."""
        _check(name)
        if not isinstance(body, dict):
            raise bad_request("The request content must be a JSON object.")
        props = body.get("properties")
        if not isinstance(props, dict) or not isinstance(props.get("runRequest"), dict):
            raise bad_request("properties.runRequest (the run to start) is required.", target="runRequest")
        if body.get("location") is not None and not isinstance(body["location"], str):
            raise bad_request("location must be a string.", target="location")
        if props.get("forceUpdateTag") is not None and not isinstance(props["forceUpdateTag"], str):
            raise bad_request("forceUpdateTag must be a string.", target="forceUpdateTag")
        with self._lock:
            try:
                old = self.store.task_run(reg, name)
            except ArmError:
                old = None
            if old is not None and old["properties"]["runRequest"] == _shown_request(props["runRequest"]) \
                    and old["properties"].get("forceUpdateTag") == props.get("forceUpdateTag"):
                return self._answer(reg, old)  # the same request again runs nothing new
            queued = self.arm.submit(reg, props["runRequest"], claims)
            by, kind = principal(claims)
            now = timestamp(utc_now())
            system = (old or {}).get("systemData") or {"createdBy": by, "createdByType": kind, "createdAt": now}
            stored = {"type": TASK_RUN_TYPE,
                      "properties": {"provisioningState": "Succeeded", "runRequest": _shown_request(props["runRequest"]),
                                     **({"forceUpdateTag": props["forceUpdateTag"]} if props.get("forceUpdateTag")
                                        else {})},
                      "location": body.get("location") or reg.location, "id": f"{reg.id}/taskRuns/{name}",
                      "name": old["name"] if old else name,
                      "systemData": {**{k: system[k] for k in ("createdBy", "createdByType", "createdAt")},
                                     "lastModifiedBy": by, "lastModifiedByType": kind, "lastModifiedAt": now},
                      "runId": queued["name"]}
            self.store.put_task_run(reg, stored)
        return self._answer(reg, stored)

    def get(self, call) -> dict:
        reg = self.arm.tasks_registry(call)
        return self._answer(reg, self.store.task_run(reg, self._name(call)))

    def list(self, call) -> dict:
        reg = self.arm.tasks_registry(call)
        return {"value": [self._answer(reg, t) for t in self.store.task_runs(reg)]}

    def delete(self, call) -> None:
        reg = self.arm.tasks_registry(call)
        name = self._name(call)
        if not self.store.delete_task_run(reg, name):
            call.status = 204  # ARM's answer to deleting what is not there
        return None

    def routes(self) -> list[Route]:
        e, tv = self.arm.endpoint, TASKS_API_VERSIONS
        t = _P + "/taskRuns/{task_run}"
        return [Route(_P + "/taskRuns", e(self.list, tv)),
                Route(t, e(self.get, tv), methods=["GET"]),
                Route(t, e(self.put, tv), methods=["PUT"]),
                Route(t, e(self.delete, tv), methods=["DELETE"])]
