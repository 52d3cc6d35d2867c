"""ACR Tasks' task resources in the emulator: `.../registries/{registry}/tasks/{taskName}` PUT (create or
replace, 200 `provisioningState: Succeeded`), GET and list (secrets hidden, in creation order), PATCH
(merge: absent or null keeps the old value; named trigger items merge by name; `customRegistries:
{server: null}` removes one), DELETE (200, empty), POST `listDetails` (secrets included); and
`scheduleRun` with a `TaskRunRequest`.

The answers carry the keys the service's recorded answers carry and no others: no `tags` unless some
were given, no `identity` without one, no `credentials` until some were set, systemData naming the
caller, `step.baseImageDependencies` once a run has built (tests/data/acr_recorded).

A task's run goes the way quick runs go (run_driver.py -> the local target): its step becomes a
BuildJob / TaskJob, and its context (a git repository at the branch head or at the commit a trigger
saw, or a folder under --context-root; sources.py) is the run's source. A manual run (`az acr task
run`) is recorded with runType QuickRun, as the service records it; a triggered one AutoBuild (Docker
step) or AutoRun, with its sourceTrigger / imageUpdateTrigger / timerTrigger payload (triggers.py).

Identity: a system-assigned identity gets a principalId (uuid4) and the emulator's tenantId; each
user-assigned one a principalId and clientId derived from its resource id. The identity endpoint
issues tokens for them: `?principal_id=<principalId>` for a task's system identity, `?client_id=<clientId>`
for a user-assigned one (identity.py; register_task_identity).

This module reads the API's own definitions only (acrspec for the rules both sides share); it
imports none of the client's task code.
"""

from __future__ import annotations

import copy
import dataclasses
import threading
import uuid

from starlette.routing import Route

from .. import refs
from ..acrspec import (AUTO_BUILD, AUTO_RUN, BASE_IMAGE_TRIGGER_TYPES, DEFAULT_TIMEOUT, DOCKER_STEP, ENABLED,
                       ENCODED_TASK_STEP, FILE_TASK_STEP, QUICK_RUN, STEP_TYPES, TASK_NAME, TASK_STATUSES, TIMER_NAME,
                       cron_problem)
from ..errors import ArmError
from ..states import SUCCEEDED
from .arm import REGISTRY_TYPE, TASKS_API_VERSIONS, bad_request, check_name, timestamp, utc_now
from .execute import EmulatedRun
from .request_fields import (base64_field, by_secrecy, named_values, parse_cpu, parse_platform, parse_timeout,
                             string_field)
from .run_requests import BuildJob, TaskJob
from .sources import SourceError, fetch, split_git
from .state import principal

TASK_TYPE = f"{REGISTRY_TYPE}/tasks"
IDENTITY_TYPES = ("SystemAssigned", "UserAssigned", "SystemAssigned, UserAssigned", "None")
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


def _require(cond: bool, message: str, target: str) -> None:
    if not cond:
        raise bad_request(message, target=target)


def _is_str_list(value: object) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


def _check_step(step: object, contexts) -> None:
    _require(isinstance(step, dict) and step.get("type") in STEP_TYPES,
             f"properties.step with a type ({', '.join(STEP_TYPES)}) is required.", "step")
    required = {DOCKER_STEP: "dockerFilePath", FILE_TASK_STEP: "taskFilePath",
                ENCODED_TASK_STEP: "encodedTaskContent"}[step["type"]]
    string_field(step, required, required=True)
    for key in ("contextPath", "target", "valuesFilePath", "contextAccessToken"):
        string_field(step, key)
    if step["type"] == ENCODED_TASK_STEP:
        base64_field(step, "encodedTaskContent", required=True)
        base64_field(step, "encodedValuesContent")
    if step.get("imageNames") is not None:
        _require(_is_str_list(step["imageNames"]), "step.imageNames must be a list of image names.", "imageNames")
    for key in ("isPushEnabled", "noCache"):
        _require(step.get(key) is None or isinstance(step[key], bool), f"step.{key} must be true or false.", key)
    for key in ("arguments", "values"):
        named_values(step, key)
    contexts.check(step.get("contextPath"), target="contextPath")


def _check_trigger(trigger: object) -> None:
    if trigger is None:
        return
    _require(isinstance(trigger, dict), "properties.trigger must be an object.", "trigger")
    timers = trigger.get("timerTriggers") or []
    _require(isinstance(timers, list), "trigger.timerTriggers must be a list.", "timerTriggers")
    for timer in timers:
        _require(isinstance(timer, dict) and isinstance(timer.get("name"), str) and TIMER_NAME.fullmatch(timer["name"]),
                 "every timer trigger needs a name of 1 to 50 letters, digits, '-' and '_'.", "timerTriggers")
        problem = cron_problem(timer.get("schedule"))
        if problem:
            raise bad_request(f"The timer trigger '{timer['name']}' has an invalid schedule: {problem}.",
                              "InvalidTimerSchedule", target="schedule")
        _require(timer.get("status") in (None, *TASK_STATUSES), "a timer's status is Enabled or Disabled.", "status")
    sources = trigger.get("sourceTriggers") or []
    _require(isinstance(sources, list), "trigger.sourceTriggers must be a list.", "sourceTriggers")
    for source in sources:
        _require(isinstance(source, dict) and isinstance(source.get("name"), str),
                 "every source trigger needs a name.", "sourceTriggers")
        repo = source.get("sourceRepository")
        _require(repo is None or (isinstance(repo, dict) and isinstance(repo.get("repositoryUrl", ""), str)
                                  and isinstance(repo.get("branch") or "", str)
                                  and isinstance(repo.get("sourceControlAuthProperties") or {}, dict)),
                 "sourceRepository needs a repositoryUrl (and a branch) as strings.", "sourceRepository")
        _require(source.get("sourceTriggerEvents") is None or _is_str_list(source["sourceTriggerEvents"]),
                 "sourceTriggerEvents must be a list of events.", "sourceTriggerEvents")
        _require(source.get("status") in (None, *TASK_STATUSES), "a source trigger's status is Enabled or Disabled.",
                 "status")
    base = trigger.get("baseImageTrigger")
    if base is not None:
        _require(isinstance(base, dict) and isinstance(base.get("name"), str),
                 "baseImageTrigger needs a name.", "baseImageTrigger")
        _require(base.get("baseImageTriggerType") in (None, *BASE_IMAGE_TRIGGER_TYPES),
                 "baseImageTriggerType is All or Runtime.", "baseImageTriggerType")
        _require(base.get("status") in (None, *TASK_STATUSES), "baseImageTrigger's status is Enabled or Disabled.",
                 "status")


def _check_credentials(credentials: object) -> None:
    if credentials is None:
        return
    _require(isinstance(credentials, dict), "properties.credentials must be an object.", "credentials")
    custom = credentials.get("customRegistries")
    _require(custom is None or (isinstance(custom, dict) and all(v is None or isinstance(v, dict)
                                                                  for v in custom.values())),
             "credentials.customRegistries maps login servers to credentials.", "customRegistries")
    source = credentials.get("sourceRegistry")
    _require(source is None or isinstance(source, dict), "credentials.sourceRegistry must be an object.",
             "sourceRegistry")


def _check_properties(props: dict, contexts) -> None:
    _check_step(props.get("step"), contexts)
    parse_timeout(props.get("timeout"))
    _require(props.get("status") in TASK_STATUSES, "status must be Enabled or Disabled.", "status")
    parse_platform(props.get("platform"))
    parse_cpu(props.get("agentConfiguration"))
    _check_trigger(props.get("trigger"))
    _check_credentials(props.get("credentials"))
    for key in ("agentPoolName", "logTemplate"):
        string_field(props, key)
    _require(isinstance(props.get("isSystemTask", False), bool), "isSystemTask must be true or false.", "isSystemTask")


def _check_identity(identity: object) -> None:
    if identity is None:
        return
    _require(isinstance(identity, dict) and identity.get("type") in (None, *IDENTITY_TYPES),
             f"identity.type is one of {', '.join(IDENTITY_TYPES)}.", "identity")
    users = identity.get("userAssignedIdentities")
    _require(users is None or (isinstance(users, dict) and all(isinstance(k, str) for k in users)),
             "identity.userAssignedIdentities maps resource ids to objects.", "identity")


def base_image_dependencies(base_images: list[dict]) -> list[dict]:
    """What a build stood on, as the service lists it on the task's step: the final stage's base is the
    Runtime dependency, earlier stages' BuildTime ones."""
    out = []
    for i, base in enumerate(base_images or []):
        try:
            ref = refs.parse(base["image"])
        except (KeyError, TypeError, ValueError):
            continue
        registry = "registry.hub.docker.com" if ref.registry == refs.DOCKER_HUB else ref.registry
        out.append({"type": "Runtime" if i == len(base_images) - 1 else "BuildTime", "registry": registry,
                    "repository": ref.repository, "tag": ref.tag or "latest", "digest": base.get("digest")})
    return out


def _check(name: str) -> str:
    return check_name(name, TASK_NAME, "task", "InvalidTaskName", "taskName")


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
        return _check(call.param("task"))

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
        given = body.get("properties")
        _require(isinstance(given, dict), "properties must be an object.", "properties")
        props = {"status": ENABLED, "platform": {"os": "linux", "architecture": "amd64"},
                 "agentConfiguration": {"cpu": 2}, "timeout": DEFAULT_TIMEOUT, **given}
        for key in ("provisioningState", "creationDate"):
            props.pop(key, None)
        if props.get("agentConfiguration") in ({}, None):
            props["agentConfiguration"] = {"cpu": 2}
        if props.get("timeout") is None:
            props["timeout"] = DEFAULT_TIMEOUT
        _check_properties(props, self.arm.contexts)
        _check_identity(body.get("identity"))
        tags = body.get("tags")
        _require(tags is None or (isinstance(tags, dict) and all(isinstance(v, str) for v in tags.values())),
                 "tags must map names to strings.", "tags")
        _require(body.get("location") is None or isinstance(body["location"], str), "location must be a string.",
                 "location")
        if props.get("credentials") == {}:
            props.pop("credentials")  # the service keeps no empty credentials object
        props.setdefault("isSystemTask", False)
        now = timestamp(utc_now())
        by, kind = principal(claims)
        old_system = (old or {}).get("systemData", {})
        created = (old or {}).get("properties", {}).get("creationDate", now)
        identity = self._identity(body.get("identity"), (old or {}).get("identity") if body.get("identity") else None)
        out = {"type": TASK_TYPE, **({"identity": identity} if identity else {}),
               "properties": {"provisioningState": "Succeeded", "creationDate": created, **props},
               "id": f"{reg.id}/tasks/{name}", "name": name, "location": body.get("location") or reg.location,
               **({"tags": dict(tags)} if tags else {}),
               "systemData": {"createdBy": old_system.get("createdBy", by),
                              "createdByType": old_system.get("createdByType", kind),
                              "createdAt": old_system.get("createdAt", now),
                              "lastModifiedBy": by, "lastModifiedByType": kind, "lastModifiedAt": now}}
        return out

    # -- the endpoints -------------------------------------------------------------------------------------
    def put(self, call) -> dict:
        return self.create(self.arm.tasks_registry(call), self._task_name(call), call.object_body(), call.claims)

    def create(self, reg, name: str, body: dict, claims: dict) -> dict:
        """Create or replace a task (its PUT, or a template deployment's); the answer."""
        _check(name)
        _require(isinstance(body, dict), "The request content must be a JSON object.", "task")
        with self._lock:
            try:
                old = self.store.task(reg, name)
            except ArmError:
                old = None
            task = self._stored(reg, old["name"] if old else name, body, old, claims)
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
        body = call.object_body()
        props = body.get("properties")
        if props is None:
            props = {}
        _require(isinstance(props, dict), "properties must be an object.", "properties")
        _check_identity(body.get("identity"))
        with self._lock:
            old = self.store.task(reg, name)
            step = props.get("step")
            _require(step is None or isinstance(step, dict), "properties.step must be an object.", "step")
            if isinstance(step, dict) and step.get("type") and step["type"] != old["properties"]["step"]["type"]:
                raise bad_request(f"The task's step is {old['properties']['step']['type']}; it cannot become "
                                  f"{step['type']}.", target="step")
            merged_props = _merge(old["properties"], props)
            custom = (props.get("credentials") or {}).get("customRegistries") \
                if isinstance(props.get("credentials"), dict) else None
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
        overrides = body.get("overrideTaskStepProperties")
        _require(overrides is None or isinstance(overrides, dict), "overrideTaskStepProperties must be an object.",
                 "overrideTaskStepProperties")
        _require(isinstance(body.get("isArchiveEnabled", False), bool), "isArchiveEnabled must be true or false.",
                 "isArchiveEnabled")
        return self.start(reg, task, claims, overrides=overrides or {},
                          archive=bool(body.get("isArchiveEnabled", False)))

    def start(self, reg, task: dict, claims: dict, trigger: dict | None = None, commit_id: str | None = None,
              overrides: dict | None = None, archive: bool = False) -> dict:
        """Queue a run of the task (manual without `trigger`); scheduleRun's answer."""
        job = task_job(task, overrides or {})
        job.task_source = TaskSource(task, commit_id, self.triggers, reg)
        job.is_archive_enabled = archive
        if trigger:
            job.run_type = AUTO_BUILD if task["properties"]["step"]["type"] == DOCKER_STEP else AUTO_RUN
        else:
            job.run_type = QUICK_RUN
        job.task_name, job.trigger = task["name"], dict(trigger or {})
        return self.arm.run_driver.submit(reg, job, claims)

    def learned(self, reg, task: dict, details: dict) -> None:
        """After a successful run: the task's step lists the base images the build stood on."""
        deps = base_image_dependencies(details.get("baseImages") or [])
        if not deps:
            return
        with self._lock:
            try:
                current = self.store.task(reg, task["name"])
            except ArmError:
                return  # deleted meanwhile
            step = current["properties"]["step"]
            if step.get("type") == DOCKER_STEP:
                step["baseImageDependencies"] = deps


def task_job(task: dict, overrides: dict) -> BuildJob | TaskJob:
    """The task's step as the job a quick run would be (its source comes from TaskSource)."""
    props, step = task["properties"], task["properties"]["step"]
    common = dict(platform=parse_platform(props.get("platform"), required=False),
                  timeout=props.get("timeout") or DEFAULT_TIMEOUT, source_location=None,
                  agent_cpu=(props.get("agentConfiguration") or {}).get("cpu") or 2,
                  agent_pool_name=props.get("agentPoolName"), source_registry_auth="Default",
                  secrets=secrets_of(task))

    def pairs(key: str) -> tuple[dict[str, str], dict[str, str]]:
        """The step's plain and secret values, a run's overrides laid over them by name."""
        plain, secret = by_secrecy(named_values(step, key) + named_values(overrides, key))
        common["secrets"] += secret.values()
        return plain, secret

    if step["type"] == DOCKER_STEP:
        build_args, secret_build_args = pairs("arguments")
        return BuildJob(**common, image_names=list(step.get("imageNames") or []),
                        push=bool(step.get("isPushEnabled", True)) and bool(step.get("imageNames")),
                        dockerfile=overrides.get("file") or step["dockerFilePath"],
                        target=overrides.get("target") or step.get("target"), no_cache=bool(step.get("noCache")),
                        build_args=build_args, secret_build_args=secret_build_args)
    values, secret_values = pairs("values")
    if step["type"] == FILE_TASK_STEP:
        return TaskJob(**common, task_file=overrides.get("file") or step["taskFilePath"],
                       values_file=step.get("valuesFilePath"), values=values,
                       secret_values=secret_values)
    return TaskJob(**common, task_content=base64_field(step, "encodedTaskContent", required=True),
                   values_content=base64_field(step, "encodedValuesContent"), values=values,
                   secret_values=secret_values)


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
    registry: object | None = None


class SourceExecutor:
    """Wraps the emulator's executor: a task's run gets its context (a folder under --context-root, or a
    git checkout at the run's commit; sources.py), a quick run from a repository URL its checkout; then
    it runs as any quick run, and afterwards the task learns its base images (and the triggers what to
    watch)."""

    def __init__(self, inner, contexts, tasks_api=None):
        self.inner, self.contexts, self.tasks_api = inner, contexts, tasks_api

    def start(self, job, ctx: EmulatedRun):
        task_source = getattr(job, "task_source", None)
        remote = getattr(job, "remote_source", None)
        if task_source is None and remote is None:
            return self.inner.start(job, ctx)
        if task_source is not None:
            task = task_source.task
            step = task["properties"]["step"]
            context, token, commit = step.get("contextPath"), git_token(task), task_source.commit_id
        else:
            task, context, token, commit = None, remote, None, None
        try:
            src = fetch(context, self.contexts, token, commit)
        except SourceError as e:
            ctx.log(f"Failed to fetch the source: {e}")
            ctx.on_status("Failed", {"error": f"failed to fetch the source: {e}"})
            return None
        if src.commit:
            ctx.log(f"Fetching source: {split_git(context).url} at commit {src.commit}")

        def on_status(status: str, details: dict) -> None:
            try:
                if task is not None and status == SUCCEEDED:
                    if self.tasks_api is not None and task_source.registry is not None:
                        self.tasks_api.learned(task_source.registry, task, details)
                    if task_source.triggers is not None:
                        task_source.triggers.learned(task, job, details)
            except Exception as e:  # what the task learns must not change the run's outcome
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
        if handle is not None:
            self.inner.cancel(handle)


__all__ = ["TasksApi", "SourceExecutor", "public", "secrets_of", "git_token"]
