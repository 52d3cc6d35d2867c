"""What the emulator remembers (in memory, for its lifetime): the registries it serves, the source
uploads it handed out, and the runs with their ACR-shaped ids."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ..runs.store import base36  # ACR's run IDs and the local store's are the same shape
from ..states import TERMINAL
from .arm import RUN_TYPE, REGISTRY_TYPE, not_found, registry_id, timestamp, utc_now

SKUS = ("Basic", "Standard", "Premium", "Classic")


@dataclass
class Registry:
    name: str
    resource_group: str
    subscription: str
    sku: str = "Standard"
    #: False: ACR Tasks requests are refused as the service refuses them (TasksOperationsNotAllowed)
    tasks: bool = True
    login_server: str = "localhost:5000"
    location: str = "eastus"
    created: datetime = field(default_factory=utc_now)

    @property
    def id(self) -> str:
        return registry_id(self.subscription, self.resource_group, self.name)

    def to_json(self) -> dict:
        created = timestamp(self.created)
        return {
            "id": self.id, "name": self.name, "type": REGISTRY_TYPE, "location": self.location, "tags": {},
            "sku": {"name": self.sku, "tier": self.sku},
            "systemData": {"createdBy": "acrmagic-emulator", "createdByType": "Application", "createdAt": created,
                           "lastModifiedBy": "acrmagic-emulator", "lastModifiedByType": "Application",
                           "lastModifiedAt": created},
            "properties": {
                "loginServer": self.login_server, "creationDate": created, "provisioningState": "Succeeded",
                "adminUserEnabled": False, "publicNetworkAccess": "Enabled", "networkRuleBypassOptions": "AzureServices",
                "zoneRedundancy": "Disabled", "anonymousPullEnabled": False, "dataEndpointEnabled": False,
                "dataEndpointHostNames": [], "privateEndpointConnections": [],
                "roleAssignmentMode": "LegacyRegistryPermissions",
                "encryption": {"status": "disabled"},
                "policies": {"quarantinePolicy": {"status": "disabled"},
                             "trustPolicy": {"type": "Notary", "status": "disabled"},
                             "retentionPolicy": {"days": 7, "status": "disabled"},
                             "exportPolicy": {"status": "enabled"}},
            },
        }


@dataclass
class RunRecord:
    registry: Registry
    run_id: str
    run_type: str                       # QuickBuild | QuickRun
    platform: dict
    agent_configuration: dict
    source_registry_auth: str | None = None
    agent_pool_name: str | None = None
    status: str = "Queued"
    create_time: datetime = field(default_factory=utc_now)
    start_time: datetime | None = None
    finish_time: datetime | None = None
    last_updated_time: datetime = field(default_factory=utc_now)
    output_images: list[dict] = field(default_factory=list)
    error_message: str | None = None
    is_archive_enabled: bool = False
    task: str | None = None
    created_by: dict = field(default_factory=dict)  # the caller's token claims, for systemData
    #: what started a task's run: {"sourceTrigger" | "imageUpdateTrigger" | "timerTrigger": payload}
    trigger: dict = field(default_factory=dict)

    @property
    def id(self) -> str:
        return f"{self.registry.id}/runs/{self.run_id}"

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL

    def to_json(self) -> dict:
        props: dict[str, Any] = {
            "runId": self.run_id, "status": self.status, "lastUpdatedTime": timestamp(self.last_updated_time),
            "runType": self.run_type, "createTime": timestamp(self.create_time),
            "startTime": timestamp(self.start_time), "finishTime": timestamp(self.finish_time),
            "outputImages": self.output_images or None, "task": self.task, "platform": self.platform,
            "agentConfiguration": self.agent_configuration, "agentPoolName": self.agent_pool_name,
            "sourceRegistryAuth": self.source_registry_auth, "runErrorMessage": self.error_message,
            "provisioningState": "Succeeded", "isArchiveEnabled": self.is_archive_enabled, **self.trigger,
        }
        by = self.created_by.get("oid") or self.created_by.get("appid") or "unknown"
        created = timestamp(self.create_time)
        return {"id": self.id, "name": self.run_id, "type": RUN_TYPE,
                "systemData": {"createdBy": by, "createdByType": "Application", "createdAt": created,
                               "lastModifiedBy": by, "lastModifiedByType": "Application",
                               "lastModifiedAt": timestamp(self.last_updated_time)},
                "properties": {k: v for k, v in props.items() if v is not None}}

    def filter_fields(self) -> dict[str, Any]:
        """The run as the OData $filter sees it (lower-case field names)."""
        return {"runid": self.run_id, "runtype": self.run_type, "status": self.status,
                "createtime": self.create_time, "finishtime": self.finish_time, "taskname": self.task,
                "agentpoolname": self.agent_pool_name, "isarchiveenabled": self.is_archive_enabled,
                "outputimagemanifests": ", ".join(f"{i['repository']}@{i['digest']}" for i in self.output_images
                                                  if i.get("digest"))}

    def touch(self) -> None:
        self.last_updated_time = utc_now()


class Store:
    """Registries, uploads and runs; safe to use from request handlers and run threads."""

    def __init__(self, registries: list[Registry], run_id_prefix: str = "ca"):
        self.registries = registries
        self.prefix = run_id_prefix
        self._lock = threading.RLock()
        self._uploads: set[tuple[str, str]] = set()
        self._runs: dict[str, dict[str, RunRecord]] = {r.id.lower(): {} for r in registries}
        self._counters: dict[str, int] = {r.id.lower(): 0 for r in registries}
        #: registry id -> task name (lower) -> the Task JSON as stored, secrets included (tasks_api.py shapes answers)
        self._tasks: dict[str, dict[str, dict]] = {r.id.lower(): {} for r in registries}

    # -- lookups (404s in ARM's order: subscription, resource group, resource) --------------------
    def subscriptions(self) -> list[str]:
        return list(dict.fromkeys(r.subscription for r in self.registries))

    def check_subscription(self, subscription: str) -> None:
        if not any(s.lower() == subscription.lower() for s in self.subscriptions()):
            raise not_found("subscription", subscription)

    def resource_groups(self, subscription: str) -> list[str]:
        return list(dict.fromkeys(r.resource_group for r in self.registries
                                  if r.subscription.lower() == subscription.lower()))

    def check_resource_group(self, subscription: str, resource_group: str) -> str:
        self.check_subscription(subscription)
        for rg in self.resource_groups(subscription):
            if rg.lower() == resource_group.lower():
                return rg
        raise not_found("resource group", resource_group)

    def registry(self, subscription: str, resource_group: str, name: str) -> Registry:
        self.check_resource_group(subscription, resource_group)
        for r in self.registries:
            if (r.subscription.lower(), r.resource_group.lower(), r.name.lower()) == \
                    (subscription.lower(), resource_group.lower(), name.lower()):
                return r
        raise not_found(REGISTRY_TYPE, name, f" under resource group '{resource_group}'")

    # -- uploads ----------------------------------------------------------------------------------
    def add_upload(self, registry: Registry, relative_path: str) -> None:
        with self._lock:
            self._uploads.add((registry.id.lower(), relative_path))

    def is_upload(self, registry: Registry, relative_path: str) -> bool:
        with self._lock:
            return (registry.id.lower(), relative_path) in self._uploads

    # -- runs -------------------------------------------------------------------------------------
    def new_run(self, registry: Registry, **fields) -> RunRecord:
        with self._lock:
            key = registry.id.lower()
            self._counters[key] += 1
            run = RunRecord(registry=registry, run_id=self.prefix + base36(self._counters[key]), **fields)
            self._runs[key][run.run_id] = run
            return run

    def run(self, registry: Registry, run_id: str) -> RunRecord:
        with self._lock:
            found = self._runs[registry.id.lower()].get(run_id.lower())
        if found is None:
            raise not_found(f"{REGISTRY_TYPE}/{registry.name}/runs", run_id,
                            f" under resource group '{registry.resource_group}'")
        return found

    def runs(self, registry: Registry) -> list[RunRecord]:
        """Newest first (the CLI's `task logs` takes the first of `$top=1`)."""
        with self._lock:
            return list(reversed(self._runs[registry.id.lower()].values()))  # kept in creation order

    def all_runs(self) -> list[RunRecord]:
        with self._lock:
            return [run for runs in self._runs.values() for run in runs.values()]

    # -- tasks ------------------------------------------------------------------------------------
    def put_task(self, registry: Registry, task: dict) -> bool:
        """Store (create or replace) a task; True when it is new."""
        with self._lock:
            tasks = self._tasks[registry.id.lower()]
            new = task["name"].lower() not in tasks
            tasks[task["name"].lower()] = task
            return new

    def task(self, registry: Registry, name: str) -> dict:
        with self._lock:
            found = self._tasks[registry.id.lower()].get(name.lower())
        if found is None:
            raise not_found(f"{REGISTRY_TYPE}/{registry.name}/tasks", name,
                            f" under resource group '{registry.resource_group}'")
        return found

    def tasks(self, registry: Registry) -> list[dict]:
        with self._lock:
            return sorted(self._tasks[registry.id.lower()].values(), key=lambda t: t["name"].lower())

    def delete_task(self, registry: Registry, name: str) -> bool:
        with self._lock:
            return self._tasks[registry.id.lower()].pop(name.lower(), None) is not None

    def all_tasks(self) -> list[tuple[Registry, dict]]:
        with self._lock:
            return [(r, t) for r in self.registries for t in self._tasks[r.id.lower()].values()]
