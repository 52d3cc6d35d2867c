"""ACR Tasks' task resources in the emulator: `.../registries/{registry}/tasks/{taskName}` PUT (create or
replace, 200 `provisioningState: Succeeded`), GET and list (secrets hidden), PATCH (merge: absent or null
keeps the old value; named trigger items merge by name; `customRegistries: {server: null}` removes one),
DELETE (200, empty), POST `listDetails` (secrets included); and `scheduleRun` with a `TaskRunRequest`.

A task's run goes the way quick runs go (scheduler.py -> LocalTargetExecutor -> the local target): its
step becomes a BuildJob / TaskJob, and its context (a folder on this machine, or a git repository at
the branch head or at the commit a trigger saw, checked out with acrmagic.tasks.launch) is packed as
the run's source. A manual run (`az acr task run`) is recorded with runType QuickRun, as the service
records it (acr-cloud-api.md §4.2); a triggered one AutoBuild (Docker step) or AutoRun, with its
sourceTrigger / imageUpdateTrigger / timerTrigger payload (triggers.py fires them).

Identity: a system-assigned identity gets a principalId (uuid4) and the emulator's tenantId; each
user-assigned one a principalId and clientId derived from its resource id. The identity endpoint
issues tokens for them: `?principal_id=<principalId>` for a task's system identity, `?client_id=<clientId>`
for a user-assigned one (identity.py; register_task_identity).
"""

from __future__ import annotations

import copy
import dataclasses
import re
import threading
import uuid
from pathlib import Path

from starlette.routing import Route

from ..errors import ArmError
from ..states import SUCCEEDED
from .arm import REGISTRY_TYPE, TASKS_API_VERSIONS, bad_request, timestamp, utc_now
from .execute import RunContext
from .run_requests import DEFAULT_TIMEOUT, MAX_TIMEOUT, MIN_TIMEOUT, BuildJob, Platform, TaskJob, _base64, _named_list

TASK_TYPE = f"{REGISTRY_TYPE}/tasks"
STEP_TYPES = ("Docker", "FileTask", "EncodedTask")
_NAME = re.compile(r"^[A-Za-z0-9_-]{5,50}$")
_P = "/subscriptions/{subscription}/resourceGroups/{resource_group}/providers/" + REGISTRY_TYPE + "/{registry}"


# -- the Task JSON ------------------------------------------------------------------------------------------
def public(task: dict) -> dict:
    """The task as GET/PUT/PATCH answer it: no context token, no source-control auth, no secret
    arguments or values, custom registry credentials as null."""
    out = copy.deepcopy(task)
    props = out.get("properties", {})
    step = props.get("step") or {}
    step.pop("contextAccessToken", None)
    for key in ("values", "arguments"):
        if isinstance(step.get(key), list):
            step[key] = [v for v in step[key] if not (isinstance(v, dict) and v.get("isSecret"))]
    for source in (props.get("trigger") or {}).get("sourceTriggers") or []:
        (source.get("sourceRepository") or {}).pop("sourceControlAuthProperties", None)
    custom = (props.get("credentials") or {}).get("customRegistries")
    if isinstance(custom, dict):
        props["credentials"]["customRegistries"] = {k: None for k in custom}
    return out


def secrets_of(task: dict) -> list[str]:
    """Every secret value a task holds (for log redaction)."""
    props = task.get("properties", {})
    step = props.get("step") or {}
    found = [step.get("contextAccessToken")]
    found += [v.get("value") for key in ("values", "arguments") for v in step.get(key) or []
              if isinstance(v, dict) and v.get("isSecret")]
    for source in (props.get("trigger") or {}).get("sourceTriggers") or []:
        found.append(((source.get("sourceRepository") or {}).get("sourceControlAuthProperties") or {}).get("token"))
    return [s for s in found if isinstance(s, str) and s]


def git_token(task: dict) -> str | None:
    step = task["properties"].get("step") or {}
    for source in (task["properties"].get("trigger") or {}).get("sourceTriggers") or []:
        token = ((source.get("sourceRepository") or {}).get("sourceControlAuthProperties") or {}).get("token")
        if token:
            return token
    return step.get("contextAccessToken") or None


def _merge(old, new):
    """PATCH semantics: dicts merge, null keeps the old value, lists of named items merge by name,
    other lists replace."""
    if isinstance(old, dict) and isinstance(new, dict):
        out = dict(old)
        for k, v in new.items():
            if v is None:
                continue
            out[k] = _merge(old.get(k), v)
        return out
    if isinstance(old, list) and isinstance(new, list) and all(isinstance(i, dict) and i.get("name") for i in new) \
            and all(isinstance(i, dict) and i.get("name") for i in old) and new and old and "value" not in new[0]:
        by_name = {i["name"]: i for i in old}
        for item in new:
            by_name[item["name"]] = _merge(by_name.get(item["name"]), item)
        return list(by_name.values())
    return copy.deepcopy(new)


def _check_properties(props: dict) -> None:
    step = props.get("step")
    if not isinstance(step, dict) or step.get("type") not in STEP_TYPES:
        raise bad_request(f"properties.step with a type ({', '.join(STEP_TYPES)}) is required.", target="step")
    required = {"Docker": "dockerFilePath", "FileTask": "taskFilePath", "EncodedTask": "encodedTaskContent"}[step["type"]]
    if not step.get(required):
        raise bad_request(f"properties.step.{required} is required for a {step['type']} step.", target=required)
    timeout = props.get("timeout")
    if not isinstance(timeout, int) or isinstance(timeout, bool) or not MIN_TIMEOUT <= timeout <= MAX_TIMEOUT:
        raise bad_request(f"timeout must be a number of seconds between {MIN_TIMEOUT} and {MAX_TIMEOUT}.",
                          target="timeout")
    if props.get("status") not in ("Enabled", "Disabled"):
        raise bad_request("status must be Enabled or Disabled.", target="status")
    platform = props.get("platform")
    if not isinstance(platform, dict) or not isinstance(platform.get("os"), str):
        raise bad_request("platform with an os is required.", target="platform")


def local_shape(task: dict, home: str, name: str | None = None) -> dict:
    """The task as acrmagic.tasks reads it: ACR's JSON without secrets, the git token by reference to
    this process's memory."""
    from ..tasks import definition as d
    from ..tasks import secrets

    resource = public(task)
    resource["name"] = name or task["name"]
    token = git_token(task)
    resource[d.EXTENSION] = {"registry": None, "dockerfile": None,
                             "secretRefs": {secrets.GIT_TOKEN: "memory"} if token else {}}
    if token:
        secrets.remember(home, resource["name"], secrets.GIT_TOKEN, token)
    return resource


class TasksApi:
    """The task routes of one ArmApp (app.py registers them), and the runs of tasks."""

    def __init__(self, arm):
        self.arm = arm
        self.triggers = None  # triggers.Triggers, once the server has started it
        self._lock = threading.Lock()

    @property
    def store(self):
        return self.arm.store

    def _task_name(self, call) -> str:
        name = call.param("task")
        if not _NAME.match(name):
            raise bad_request(f"The task name '{name}' is invalid: 5 to 50 characters of letters, digits, '-' and '_'.",
                              "InvalidTaskName", target="taskName")
        return name

    def _identity(self, given: dict | None, old: dict | None) -> dict | None:
        if not given or not given.get("type") or given.get("type") == "None":
            return None if given is not None else old
        old = old or {}
        kind = given["type"]
        out: dict = {"type": kind}
        if "SystemAssigned" in kind:
            out["principalId"] = old.get("principalId") or str(uuid.uuid4())
            out["tenantId"] = self.arm.issuer.tenant_id
        if "UserAssigned" in kind:
            users = given.get("userAssignedIdentities") or {}
            out["userAssignedIdentities"] = {
                rid: {"principalId": str(uuid.uuid5(uuid.NAMESPACE_URL, rid.lower() + "#principal")),
                      "clientId": str(uuid.uuid5(uuid.NAMESPACE_URL, rid.lower() + "#client"))} for rid in users}
        register_identities(self.arm.issuer, out)
        return out

    def _stored(self, reg, name: str, body: dict, old: dict | None, claims: dict) -> dict:
        props = {"status": "Enabled", "platform": {"os": "linux", "architecture": "amd64"},
                 "agentConfiguration": {"cpu": 2}, "timeout": DEFAULT_TIMEOUT, "isSystemTask": False,
                 "credentials": {}, **(body.get("properties") or {})}
        for key in ("provisioningState", "creationDate"):
            props.pop(key, None)
        _check_properties(props)
        now = timestamp(utc_now())
        by = claims.get("oid") or claims.get("appid") or "unknown"
        created = (old or {}).get("properties", {}).get("creationDate", now)
        return {"id": f"{reg.id}/tasks/{name}", "name": name, "type": TASK_TYPE,
                "location": body.get("location") or reg.location, "tags": body.get("tags") or {},
                # the same identity keeps its principal across PUT and PATCH, as ARM's does
                "identity": self._identity(body.get("identity"),
                                           (old or {}).get("identity") if body.get("identity") else None),
                "systemData": {"createdBy": by, "createdByType": "Application",
                               "createdAt": (old or {}).get("systemData", {}).get("createdAt", now),
                               "lastModifiedBy": by, "lastModifiedByType": "Application", "lastModifiedAt": now},
                "properties": {"provisioningState": "Succeeded", "creationDate": created, **props}}

    # -- the endpoints -------------------------------------------------------------------------------------
    def put(self, call) -> dict:
        reg = self.arm.tasks_registry(call)
        name = self._task_name(call)
        if not isinstance(call.body, dict):
            raise bad_request("The request content is not a JSON object.")
        with self._lock:
            try:
                old = self.store.task(reg, name)
            except ArmError:
                old = None
            task = self._stored(reg, old["name"] if old else name, call.body, old, call.claims)
            self.store.put_task(reg, task)
            if self.triggers is not None:
                self.triggers.sync(reg, task, old)
        return public(task)

    def get(self, call) -> dict:
        return public(self.store.task(self.arm.tasks_registry(call), self._task_name(call)))

    def details(self, call) -> dict:
        return copy.deepcopy(self.store.task(self.arm.tasks_registry(call), self._task_name(call)))

    def list(self, call) -> dict:
        return {"value": [public(t) for t in self.store.tasks(self.arm.tasks_registry(call))]}

    def patch(self, call) -> dict:
        reg = self.arm.tasks_registry(call)
        name = self._task_name(call)
        body = call.body if isinstance(call.body, dict) else {}
        with self._lock:
            old = self.store.task(reg, name)
            props = body.get("properties") or {}
            step = props.get("step")
            if isinstance(step, dict) and step.get("type") and step["type"] != old["properties"]["step"]["type"]:
                raise bad_request(f"The task's step is {old['properties']['step']['type']}; it cannot become "
                                  f"{step['type']}.", target="step")
            merged_props = _merge(old["properties"], props)
            custom = (props.get("credentials") or {}).get("customRegistries")
            if isinstance(custom, dict):  # {server: null} removes that credential
                for server, value in custom.items():
                    if value is None:
                        merged_props.get("credentials", {}).get("customRegistries", {}).pop(server, None)
            new_body = {"location": old["location"], "tags": body.get("tags", old.get("tags")),
                        "identity": body["identity"] if body.get("identity") is not None else old.get("identity"),
                        "properties": merged_props}
            task = self._stored(reg, old["name"], new_body, old, call.claims)
            self.store.put_task(reg, task)
            if self.triggers is not None:
                self.triggers.sync(reg, task, old)
        return public(task)

    def delete(self, call):
        reg = self.arm.tasks_registry(call)
        name = self._task_name(call)
        with self._lock:
            self.store.task(reg, name)  # 404 for an unknown task, as the service answers
            self.store.delete_task(reg, name)
            if self.triggers is not None:
                self.triggers.forget(reg, name)
        return None

    def routes(self) -> list[Route]:
        e, tv = self.arm.endpoint, TASKS_API_VERSIONS
        t = _P + "/tasks/{task}"
        return [Route(_P + "/tasks", e(self.list, tv)),
                Route(t, e(self.get, tv), methods=["GET"]),
                Route(t, e(self.put, tv), methods=["PUT"]),
                Route(t, e(self.patch, tv), methods=["PATCH"]),
                Route(t, e(self.delete, tv), methods=["DELETE"]),
                Route(t + "/listDetails", e(self.details, tv), methods=["POST"])]

    # -- runs ------------------------------------------------------------------------------------------------
    def schedule(self, reg, body: dict, claims: dict) -> dict:
        """scheduleRun with a TaskRunRequest: `taskId` is the task's full resource id."""
        task_id = body.get("taskId")
        if not isinstance(task_id, str) or "/tasks/" not in task_id.lower():
            raise bad_request("taskId (the task's resource id) is required for a TaskRunRequest.", target="taskId")
        prefix, name = task_id.rsplit("/", 1)
        if prefix.lower().rstrip("/") != f"{reg.id}/tasks".lower():
            raise bad_request(f"The task '{task_id}' is not a task of the registry {reg.name}.", "TaskNotFound",
                              target="taskId")
        task = self.store.task(reg, name)
        return self.start(reg, task, claims, overrides=body.get("overrideTaskStepProperties") or {})

    def start(self, reg, task: dict, claims: dict, trigger: dict | None = None, commit_id: str | None = None,
              overrides: dict | None = None) -> dict:
        """Queue a run of the task (manual without `trigger`); its JSON as scheduleRun answers it."""
        job = task_job(task, overrides or {})
        job.task_source = TaskSource(task, commit_id, self.triggers)
        if trigger:
            job.run_type = "AutoBuild" if task["properties"]["step"]["type"] == "Docker" else "AutoRun"
        else:
            job.run_type = "QuickRun"
        queued = self.arm.scheduler.submit(reg, job, claims)
        run = self.store.run(reg, queued["name"])
        run.task, run.trigger = task["name"], dict(trigger or {})
        queued.setdefault("properties", {}).update({"task": task["name"], **run.trigger})
        return queued


def task_job(task: dict, overrides: dict) -> BuildJob | TaskJob:
    """The task's step as the job a quick run would be (its source comes from TaskSource)."""
    props, step = task["properties"], task["properties"]["step"]
    platform = props.get("platform") or {}
    common = dict(platform=Platform((platform.get("os") or "linux").lower(),
                                    (platform.get("architecture") or "amd64").lower(),
                                    (platform.get("variant") or None)),
                  timeout=props.get("timeout") or DEFAULT_TIMEOUT, source_location=None,
                  agent_cpu=(props.get("agentConfiguration") or {}).get("cpu") or 2,
                  agent_pool_name=props.get("agentPoolName"), source_registry_auth="Default",
                  secrets=secrets_of(task))

    def pairs(key: str) -> dict[str, str]:
        items = {i["name"]: i for i in _named_list(step, key)}
        items.update({i["name"]: i for i in _named_list(overrides, key)})
        common["secrets"] += [i["value"] for i in items.values() if i["isSecret"]]
        return {k: i["value"] for k, i in items.items()}

    if step["type"] == "Docker":
        return BuildJob(**common, image_names=list(step.get("imageNames") or []),
                        push=bool(step.get("isPushEnabled", True)) and bool(step.get("imageNames")),
                        dockerfile=overrides.get("file") or step["dockerFilePath"],
                        target=overrides.get("target") or step.get("target"), no_cache=bool(step.get("noCache")),
                        build_args=pairs("arguments"))
    if step["type"] == "FileTask":
        return TaskJob(**common, task_file=overrides.get("file") or step["taskFilePath"],
                       values_file=step.get("valuesFilePath"), values=pairs("values"))
    return TaskJob(**common, task_content=_base64(step, "encodedTaskContent", required=True),
                   values_content=_base64(step, "encodedValuesContent"), values=pairs("values"))


def register_identities(issuer, identity: dict | None) -> None:
    """Let the identity endpoint issue tokens for a task's identities (by principal id / client id)."""
    from .identity import Identity

    if not identity:
        return
    if identity.get("principalId"):
        client = str(uuid.uuid5(uuid.NAMESPACE_URL, identity["principalId"] + "#task-client"))
        issuer.users[client.lower()] = Identity("SystemAssigned", client, identity["principalId"])
    for user in (identity.get("userAssignedIdentities") or {}).values():
        issuer.users[user["clientId"].lower()] = Identity("UserAssigned", user["clientId"], user["principalId"])


@dataclasses.dataclass
class TaskSource:
    """Where a task run's files come from, resolved when the run starts."""

    task: dict
    commit_id: str | None
    triggers: object | None


class TaskSourceExecutor:
    """Wraps the emulator's executor: a task's run gets its context (folder or git checkout, through
    acrmagic.tasks.launch) packed as the run's source, then runs as any quick run; afterwards the
    triggers learn its base images and pushed tags."""

    def __init__(self, inner, home: Path):
        self.inner, self.home = inner, home

    def start(self, job, ctx: RunContext):
        source = getattr(job, "task_source", None)
        if source is None:
            return self.inner.start(job, ctx)
        from ..tasks import launch

        resource = local_shape(source.task, str(self.home))
        src = launch.source(resource, str(self.home), source.commit_id)
        if src.record.get("commit"):
            ctx.log(f"Fetching source: {src.record['repository']} at commit {src.record['commit']}")

        def on_status(status: str, details: dict) -> None:
            try:
                if source.triggers is not None and status == SUCCEEDED:
                    source.triggers.learned(source.task, job, details)
            except Exception as e:  # what the trigger learns must not change the run's outcome
                ctx.log(f"base-image dependencies not recorded: {type(e).__name__}: {e}")
            finally:
                src.close()
            ctx.on_status(status, details)

        try:
            # the checkout is the run's source as it is: no archive to pack here and unpack there
            return self.inner.start(job, dataclasses.replace(ctx, source=None, folder=src.folder, on_status=on_status))
        except BaseException:
            src.close()
            raise

    def cancel(self, handle) -> None:
        self.inner.cancel(handle)


__all__ = ["TasksApi", "TaskSourceExecutor", "public", "local_shape"]
