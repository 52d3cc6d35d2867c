"""The ACR target: quick builds (`az acr build`) and task runs (`az acr run`) in ACR Tasks, through
Azure's SDKs, exactly as the Azure CLI 2.91 calls the service (shared/reference/acr-cloud-api.md).

    credentials.py  azure-identity: which credential, the principal of its token
    service.py      the SDK clients, finding the registry (subscription, resource group, SKU),
                    every SDK error as one acrmagic line
    archive.py      the source: tar.gz with Docker's .dockerignore semantics, uploaded to the
                    build-source blob
    requests.py     QuickBuild / TaskRun -> DockerBuildRequest / FileTaskRunRequest / EncodedTaskRunRequest
    logblob.py      following a log blob (the CLI's protocol, plus ARM status and an idle cutoff)
    handle.py       a scheduled run: follow, stop (runs.cancel), its outcome
    records.py      ACR's Run resource -> acrmagic's run record
    sdk.py          the SDK modules imported ahead, in a thread, while the first requests wait

The configuration (what `acrmagic use` keeps, and every run record's `target`; never a secret):

    {"kind": "acr", "registry": NAME, "resourceGroup": RG | None, "subscription": ID | None,
     "identity": None | "system" | CLIENT_ID, "managementUrl": None | URL, "caBundle": PATH | None,
     "emulatorConfig": PATH | None}

No Azure module is imported until a target does something (`%load_ext acrmagic` and local runs import
none); the first call that needs the registry resolves it (ARM), once per target (with the emulator, its
start-up JSON names its registry's resource group and subscription: no ARM search).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

from ... import acrspec
from ... import dockerfile as dockerfiles
from ...context import is_git_url
from ...errors import CloudError, UsageError
from ...events import StepRecord
from ...runrequest import QuickBuild, RunRequest, StoredTaskRun, TaskRun
from ...runs.model import Run
from ...states import run_status
from ..base import RunHandle, Target
from .logblob import Pacing

CONFIG_KEYS = ("kind", "registry", "resourceGroup", "subscription", "identity", "managementUrl", "caBundle",
               "emulatorConfig")
DEFAULT_TOP = 15  # `az acr task list-runs --top`
_CREDENTIALS: dict = {}  # one credential per identity and endpoint in a process: a device code login is asked once


class AcrTarget(Target):
    kind = "acr"
    owner_cancels = False  # ACR cancels a run itself, from any process (as Target declares)
    keeps_history = True

    def __init__(self, registry: str, resource_group: str | None = None, subscription: str | None = None,
                 identity: str | None = None, management_url: str | None = None, ca_bundle: str | None = None,
                 emulator_config: str | None = None, *, device_code: bool | None = None,
                 pacing: Pacing | None = None, credential=None):
        self.emulator = _read_emulator(emulator_config) if emulator_config else None
        name = (registry or (self.emulator or {}).get("registry") or "").strip()  # the emulator's first registry
        if name.lower().endswith(".azurecr.io"):
            name = name.split(".")[0]
        if not acrspec.REGISTRY_NAME.fullmatch(name):
            raise UsageError(f"-r/--registry: {registry!r} is not an ACR registry name (5 to 50 letters and digits)")
        self.config = {"kind": self.kind, "registry": name, "resourceGroup": resource_group or None,
                       "subscription": subscription or None, "identity": identity or None,
                       "managementUrl": management_url or None, "caBundle": ca_bundle or None,
                       "emulatorConfig": str(emulator_config) if emulator_config else None}
        self.name = name
        self.management_url = management_url or (self.emulator or {}).get("management_url")
        self.ca_bundle = ca_bundle or (self.emulator or {}).get("ca_bundle")
        self.device_code = device_code
        self.pacing = pacing or Pacing()
        self._credential = credential
        self._service = None
        self._where = None

    @classmethod
    def from_config(cls, d: dict, **kwargs) -> "AcrTarget":
        """From `describe()`'s dict (what `acrmagic use` saved, a run record's `target`); keys this
        version does not know are ignored, so records of a newer acrmagic still find their target."""
        if d.get("kind", "acr") != "acr":
            raise UsageError(f"not an ACR target configuration (kind {d.get('kind')!r})")
        return cls(d.get("registry") or "", d.get("resourceGroup"), d.get("subscription"), d.get("identity"),
                   d.get("managementUrl"), d.get("caBundle"), d.get("emulatorConfig"), **kwargs)

    def describe(self) -> dict:
        return dict(self.config)

    def __repr__(self) -> str:
        return f"<AcrTarget {self.name} at {self.management_url or 'Azure'}>"

    # -- plumbing ---------------------------------------------------------------------------------
    def service(self):
        if self._service is None:
            from . import sdk
            from .credentials import make_credential

            sdk.start()  # the SDKs import in a thread from here, each ready before its first use
            sdk.ready("azure.identity")  # azure-core whole before this thread uses any of it
            from .service import Service

            if self._credential is not None:
                credential, tried = self._credential, "the given credential"
            else:
                key = (self.config["identity"], self.device_code, json.dumps(
                    {k: (self.emulator or {}).get(k) for k in ("identity_endpoint", "identity_header")}))
                if key not in _CREDENTIALS:
                    _CREDENTIALS[key] = make_credential(self.config["identity"], self.emulator, self.device_code)
                credential, tried = _CREDENTIALS[key]
            self._service = Service(credential, tried, management_url=self.management_url,
                                    ca_bundle=self.ca_bundle, emulator=self.emulator is not None)
        return self._service

    def where(self):
        """The registry: subscription, resource group, login server, SKU (one ARM lookup per target)."""
        if self._where is None:
            group, subscription = self.config["resourceGroup"], self.config["subscription"]
            if group is None and self.emulator is not None and (self.emulator.get("registry") or "").lower() == \
                    self.name.lower():  # the emulator's start-up JSON says where its registry is: no ARM search
                group = self.emulator.get("resource_group")
                subscription = subscription or self.emulator.get("subscription_id")
            self._where = self.service().locate(self.name, group, subscription)
        return self._where

    def tasks_client(self):
        """The azure-mgmt-containerregistrytasks client for this registry's subscription (runs, tasks, uploads)."""
        return self.service().tasks_client(self.where().subscription)

    def _link(self, run_id: str):
        from .handle import RunLink

        w = self.where()
        return RunLink(self.service(), self.tasks_client(), w.resource_group, w.name, run_id)

    @property
    def registry(self) -> str:  # `$Registry`: the login server
        return self.where().login_server

    def who(self) -> str:
        from .credentials import MANAGEMENT_SCOPE, principal

        svc = self.service()
        with svc.translating("signing in"):
            token = svc.credential.get_token(MANAGEMENT_SCOPE)
        return principal(token.token)

    def signed_in_as(self) -> str:
        """Who runs will act as, said for a person: a name with the GUID where the token carries one.
        Signs in if no token is cached (a device-code login prompts here)."""
        from .credentials import MANAGEMENT_SCOPE, principal_name

        svc = self.service()
        with svc.translating("signing in"):
            token = svc.credential.get_token(MANAGEMENT_SCOPE)
        return principal_name(token.token)

    # -- runs -------------------------------------------------------------------------------------
    def _check_sku(self, refusal: str):
        from .service import MANAGED_SKUS

        w = self.where()
        if w.sku not in MANAGED_SKUS:
            raise CloudError(f"registry {w.name} ({w.sku or 'unknown'} SKU): {refusal} Use a Basic, Standard or "
                             "Premium registry.", code="UnsupportedSku")
        return w

    def submit(self, request: RunRequest, reserve_id: Callable[[], str]) -> RunHandle:
        if isinstance(request, StoredTaskRun):
            return self.run_task(request.task)
        if isinstance(request, QuickBuild):
            return self._submit_build(request)
        return self._submit_task(request)

    def _schedule(self, w, run_request):
        svc = self.service()
        with svc.translating(f"scheduling a run on registry {w.name}", registry=w.name, resource_group=w.resource_group):
            return self.tasks_client().registries.schedule_run(w.resource_group, w.name, run_request)

    def _submit_build(self, req: QuickBuild) -> RunHandle:
        from . import archive, requests

        w = self._check_sku("Builds are only supported for managed registries.")
        platform = requests.platform(req.platform)
        requests.check_timeout(req.timeout)
        notes = []
        if is_git_url(req.context):
            if req.dockerfile_text is not None:
                raise UsageError("acrbuild: ACR fetches a git context itself, so a Dockerfile in the cell cannot go with "
                                 "it: commit the Dockerfile and pass -f PATH (relative to the repository)")
            source_location, dockerfile_path, text = req.context, req.dockerfile or "Dockerfile", None
            source = {"type": "git", "url": req.context}
        else:
            packed = archive.pack_build(req.context, req.dockerfile_text, req.dockerfile)
            try:
                text = packed.dockerfile_text
                if not dockerfiles.logical_lines(text):
                    raise UsageError(f"-f/--file: the Dockerfile {req.dockerfile or '(cell)'} has no instructions")
                notes.append(f"Sending context ({_size(packed.size)}) to registry: {w.name}...")
                source_location = archive.upload(self.service(), self.tasks_client(), w.resource_group, w.name, packed)
            finally:
                packed.close()
            dockerfile_path = packed.names["dockerfile"]
            source = {"type": "upload", "relativePath": source_location, "digest": packed.digest}
        run = self._schedule(w, requests.docker_build(req, source_location, dockerfile_path))
        from .handle import AcrRunHandle  # the log reader (and the task-file package it parses step lines with) loads while the run starts

        notes += [f"Queued a build with ID: {run.run_id}", "Waiting for an agent..."]
        return AcrRunHandle(self._link(run.run_id), source=source, dockerfile=text,
                            platform=requests.platform_record(platform), steps=[], notes=notes,
                            timeout=req.timeout, pacing=self.pacing)

    def _submit_task(self, req: TaskRun) -> RunHandle:
        from . import archive, requests

        w = self._check_sku("Run is only available for managed registries.")
        requests.check_timeout(req.timeout)
        plan = req.plan("dryrun", w.login_server)  # TaskFileError with file:line, before anything is uploaded
        levels = {sid: n for n, level in enumerate(plan.levels) for sid in level}
        steps = [StepRecord(s.id, i + 1, extra={"type": s.type, "level": levels[s.id]})
                 for i, s in enumerate(plan.task.steps)]
        notes = [f"task {req.task_name}: {len(steps)} steps in {len(plan.levels)} levels, context {req.context}"]
        context = req.context
        if not context or context.lower() == "/dev/null":
            run_request, source = requests.encoded_task(req, None), {"type": "none"}
        elif is_git_url(context):
            run_request, source = requests.encoded_task(req, context), {"type": "git", "url": context}
        else:
            packed = archive.pack_task(req.context_path or Path(context), req.task_text, req.task_name,
                                       req.values_file, req.values_text)
            try:
                notes.append(f"Sending context ({_size(packed.size)}) to registry: {w.name}...")
                location = archive.upload(self.service(), self.tasks_client(), w.resource_group, w.name, packed)
            finally:
                packed.close()
            run_request = requests.file_task(req, location, packed.names["task"], packed.names.get("values"))
            source = {"type": "upload", "relativePath": location, "digest": packed.digest}
        run = self._schedule(w, run_request)
        from .handle import AcrRunHandle  # as in _submit_build: loads while the run starts

        notes += [f"Queued a run with ID: {run.run_id}", "Waiting for an agent..."]
        return AcrRunHandle(self._link(run.run_id), source=source, dockerfile=None,
                            platform=requests.platform_record(requests.platform(None)), steps=steps, notes=notes,
                            timeout=req.timeout, pacing=self.pacing)

    def cancel(self, cancel_ref: str) -> None:
        self._link(cancel_ref).cancel()

    # -- task resources (tasks.py converts the Task JSON to the SDK's models and back) ---------------
    def task_operations(self):
        from .tasks import TaskOperations

        return TaskOperations(self)

    def create_task(self, resource: dict) -> dict:
        return self.task_operations().create(resource)

    def update_task(self, name: str, patch: dict) -> dict:
        return self.task_operations().update(name, patch)

    def get_task(self, name: str, secrets: bool = False) -> dict:
        ops = self.task_operations()
        return ops.details(name) if secrets else ops.get(name)

    def list_tasks(self) -> list[dict]:
        return self.task_operations().list()

    def delete_task(self, name: str) -> None:
        self.task_operations().delete(name)

    def run_task(self, name: str, overrides: dict | None = None) -> RunHandle:
        """`az acr task run`: a TaskRunRequest, followed as any run (the runner records it)."""
        from . import requests
        from .handle import AcrRunHandle

        self._check_sku("Run is only available for managed registries.")
        timeout = self.task_operations().get(name)["properties"].get("timeout") or acrspec.DEFAULT_TIMEOUT
        run = self.task_operations().schedule(name, overrides)
        return AcrRunHandle(self._link(run.run_id), source={"type": "task", "task": name}, dockerfile=None,
                            platform=requests.platform_record(requests.platform(None)), steps=[],
                            notes=[f"Queued a run with ID: {run.run_id}", "Waiting for an agent..."],
                            timeout=timeout, pacing=self.pacing)

    def task_runs(self, name: str | None = None, top: int | None = None, status: str | None = None) -> list[Run]:
        """`az acr task list-runs [--name]`: newest first."""
        if name is not None:
            self.task_operations().get(name)  # an unknown task is an error, not an empty list
        return self.list_runs(status=status, task=name, top=top)

    # -- history ----------------------------------------------------------------------------------
    def list_runs(self, status: str | None = None, task: str | None = None, top: int | None = None) -> list[Run]:
        """`az acr task list-runs`: newest first, `$filter` on Status/TaskName, `$top` (default 15)."""
        from . import records

        clauses = []
        if task:
            clauses.append(f"TaskName eq '{_odata(task)}'")
        if status:
            canonical = run_status(status)
            if canonical is None:
                raise UsageError(f"--status: {status!r} is not a run status")
            clauses.append(f"Status eq '{canonical}'")
        top = DEFAULT_TOP if top is None else top
        w, svc = self.where(), self.service()
        with svc.translating(f"listing the runs of registry {w.name}", registry=w.name, resource_group=w.resource_group):
            pages = self.tasks_client().runs.list(w.resource_group, w.name, filter=" and ".join(clauses) or None, top=top)
            found = []
            caller = _Once(self.who)
            for run in pages:
                found.append(records.to_run(run, self.describe(), w.login_server, caller=caller,
                                            read=lambda run_id: self._link(run_id).get()))
                if len(found) >= top:
                    break
        return found

    def get_run(self, run_id: str) -> Run:
        from . import records

        return records.to_run(self._link(run_id).get(), self.describe(), self.where().login_server, caller=self.who)

    def run_log(self, run_id: str) -> str:
        """The whole log blob; a run still going is followed to its end."""
        link = self._link(run_id)
        link.get()  # RunNotFound for an unknown ID, before any log link is asked for
        parts: list[str] = []
        link.follow(parts.append, self.pacing, self.pacing.idle_cutoff or acrspec.DEFAULT_TIMEOUT)
        return "".join(parts).replace("\r\n", "\n")


def _read_emulator(path) -> dict:
    from ... import config

    return config.read_emulator_config(path)


def _odata(text: str) -> str:
    return text.replace("'", "''")


class _Once:
    """A value computed on first use only (the caller's principal: one token request per listing)."""

    def __init__(self, fn):
        self.fn, self.done, self.value = fn, False, None

    def __call__(self):
        if not self.done:
            self.value, self.done = self.fn(), True
        return self.value


def _size(n: int) -> str:
    return f"{n / (1 << 20):.3f} MiB"


__all__ = ["AcrTarget", "CONFIG_KEYS", "Pacing"]
