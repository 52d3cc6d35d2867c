"""ACR task resources through azure-mgmt-containerregistrytasks: the one place that turns the Task JSON
(acrmagic.tasks.definition's shape, as on the wire) into the SDK's models and back.

The SDK's hybrid models take the wire JSON as they are (`Task(mapping)`) and give it back
(`as_dict()`), so the conversion is a checked pass-through: what `task show -o json` prints from ACR
is what GET answered, the same shape the local store keeps.
"""

from __future__ import annotations

import copy

from ...errors import UsageError
from . import sdk

#: the keys of a Task resource the service computes (never sent)
READ_ONLY = ("id", "type", "systemData")
READ_ONLY_PROPERTIES = ("provisioningState", "creationDate")


def to_model(resource: dict):
    """The Task model for a create (PUT): the JSON without read-only fields and acrmagic's own key."""
    sdk.ready("azure.mgmt.containerregistrytasks")
    from azure.mgmt.containerregistrytasks.models import Task

    return Task(body(resource))


def body(resource: dict) -> dict:
    out = {k: copy.deepcopy(v) for k, v in resource.items() if k not in READ_ONLY and k not in ("acrmagic", "name")}
    props = out.get("properties") or {}
    for key in READ_ONLY_PROPERTIES:
        props.pop(key, None)
    step = props.get("step") or {}
    step.pop("baseImageDependencies", None)
    if not out.get("identity"):
        out.pop("identity", None)
    return out


def update_model(patch: dict):
    """TaskUpdateParameters for a PATCH (merge semantics: only what is given changes)."""
    sdk.ready("azure.mgmt.containerregistrytasks")
    from azure.mgmt.containerregistrytasks.models import TaskUpdateParameters

    return TaskUpdateParameters(body(patch))


def from_model(task) -> dict:
    """The Task JSON of an SDK model (wire names, camelCase)."""
    if task is None:
        raise UsageError("ACR answered no task")
    data = task.as_dict() if hasattr(task, "as_dict") else dict(task)
    return data


def task_id(where, name: str) -> str:
    return (f"/subscriptions/{where.subscription}/resourceGroups/{where.resource_group}/providers/"
            f"Microsoft.ContainerRegistry/registries/{where.name}/tasks/{name}")


def run_request(where, name: str, overrides: dict | None = None):
    """The TaskRunRequest `az acr task run` sends."""
    sdk.ready("azure.mgmt.containerregistrytasks")
    from azure.mgmt.containerregistrytasks.models import OverrideTaskStepProperties, TaskRunRequest

    over = {"arguments": [], "values": [], **(overrides or {})}
    return TaskRunRequest(task_id=task_id(where, name), is_archive_enabled=False,
                          override_task_step_properties=OverrideTaskStepProperties(over))


class TaskOperations:
    """`tasks.create/update/get/get_details/list/delete` and `schedule_run(TaskRunRequest)` for one AcrTarget."""

    def __init__(self, target):
        self.target = target

    def _call(self, what: str, fn, *args):
        w, svc = self.target.where(), self.target.service()
        with svc.translating(what, registry=w.name, resource_group=w.resource_group):
            return fn(w.resource_group, w.name, *args)

    def _ops(self):
        return self.target.tasks_client().tasks

    def create(self, resource: dict) -> dict:
        name = resource["name"]
        try:
            self.get(name)
        except UsageError:
            pass
        else:
            raise UsageError(f"task {name} already exists (update it, or delete it first)")
        return from_model(self._call(f"creating task {name}", self._ops().create, name, to_model(resource)))

    def update(self, name: str, patch: dict) -> dict:
        return from_model(self._call(f"updating task {name}", self._ops().update, name, update_model(patch)))

    def get(self, name: str) -> dict:
        return self._not_found(name, lambda: from_model(self._call(f"reading task {name}", self._ops().get, name)))

    def details(self, name: str) -> dict:
        return self._not_found(name, lambda: from_model(
            self._call(f"reading task {name}", self._ops().get_details, name)))

    def list(self) -> list[dict]:
        w, svc = self.target.where(), self.target.service()
        with svc.translating(f"listing the tasks of registry {w.name}", registry=w.name,
                             resource_group=w.resource_group):
            return [from_model(t) for t in self._ops().list(w.resource_group, w.name)]

    def delete(self, name: str) -> None:
        self.get(name)  # an unknown task is an error, as locally
        self._call(f"deleting task {name}", self._ops().delete, name)

    def schedule(self, name: str, overrides: dict | None = None):
        """Queue a run of the task; the SDK's Run (status Queued)."""
        w = self.target.where()
        return self._call(f"scheduling a run of task {name}", self.target.tasks_client().registries.schedule_run,
                          run_request(w, name, overrides))

    @staticmethod
    def _not_found(name: str, fn):
        from ...errors import CloudError

        try:
            return fn()
        except CloudError as e:
            if e.status == 404 or "NotFound" in (e.code or ""):
                raise UsageError(f"no task {name!r} (acrmagic task list shows the tasks)") from None
            raise
