"""The management front: Starlette routes for the ARM calls the Azure SDKs and the Azure CLI make
for ACR registries (create, update, delete), quick builds and runs, plus the cloud-discovery,
subscription, tenant and resource-group calls `az cloud register`, `az login --identity` and
`az group create` need. Every call but metadata discovery checks the bearer token.

Answers follow the service's recorded exchanges (tests/data/acr_recorded): a registry created with an
api-version before 2025 answers 201 `provisioningState: Creating` with an Azure-AsyncOperation link
(its operation status is Succeeded at once); newer api-versions answer 200 Succeeded, as recorded.
Everything else is synchronous. A body of the wrong shape is a 400 with ARM's error body, never a 500."""

from __future__ import annotations

import json
import re
import uuid
from urllib.parse import urlencode
from dataclasses import dataclass, field
from typing import Callable

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .arm import (PROVIDER, REGISTRY_TYPE, TASKS_API_VERSIONS, CanonicalPathMiddleware, bad_request,
                  check_api_version, error_response, utc_now)
from ..errors import ArmError
from .authority import DeviceCodeAuthority
from .blobs import Storage, container_name, log_blob_name
from .filters import compile_filter
from .identity import Issuer
from .run_requests import parse_run_request
from .run_driver import RunDriver
from ..acrspec import REGISTRY_NAME
from .sources import ContextPolicy
from .state import ROLE_ASSIGNMENT_MODES, SKUS, Registry, Store, principal

PAGE = 100
P = "/subscriptions/{subscription}/resourceGroups/{resource_group}/providers/" + REGISTRY_TYPE + "/{registry}"
_REMOTE = re.compile(r"^([a-z][a-z0-9+.-]*://|git@)", re.I)
_GROUP = re.compile(r"^[-\w._()]{1,90}$")


@dataclass
class Call:
    request: Request
    claims: dict
    body: object
    status: int = 200                          # a handler may answer 201
    headers: dict = field(default_factory=dict)  # and add headers (Azure-AsyncOperation)

    def param(self, name: str) -> str:
        return self.request.path_params[name]

    @property
    def api_version(self) -> str:
        return self.request.query_params.get("api-version", "")

    def object_body(self) -> dict:
        """The JSON body, which must be an object."""
        if not isinstance(self.body, dict):
            raise bad_request("The request content must be a JSON object.")
        return self.body


class ArmApp:
    def __init__(self, store: Store, storage: Storage, run_driver: RunDriver, issuer: Issuer, base_url: str,
                 contexts: ContextPolicy | None = None):
        self.store, self.storage, self.run_driver, self.issuer = store, storage, run_driver, issuer
        self.base_url = base_url.rstrip("/")
        self.contexts = contexts or ContextPolicy()
        #: where registries made with PUT push their images (the first configured registry's)
        self.default_login_server = store.registries[0].login_server if store.registries else "localhost:5000"
        from .deployments import DeploymentsApi
        from .task_runs import TaskRunsApi
        from .tasks_api import TasksApi

        self.tasks = TasksApi(self)  # the task resources and their runs (tasks_api.py)
        self.task_runs = TaskRunsApi(self)  # taskRun resources (task_runs.py)
        self.deployments = DeploymentsApi(self)  # templates deploying them (deployments.py)

    # -- plumbing ---------------------------------------------------------------------------------
    def endpoint(self, handler: Callable[[Call], object], api_versions: tuple[str, ...] | None = None,
                 auth: bool = True):
        """An ARM endpoint: token, api-version, JSON body, then the handler in a worker thread (it may
        wait on blob I/O). A handler returns the JSON body, or None for an empty 200."""
        async def endpoint(request: Request) -> Response:
            headers = {"x-ms-request-id": str(uuid.uuid4())}
            try:
                claims = self.issuer.verify(request.headers.get("authorization")) if auth else {}
                check_api_version(request.query_params.get("api-version"), api_versions)
                body = None
                if request.method in ("POST", "PUT", "PATCH"):
                    raw = await request.body()
                    if raw.strip():
                        try:
                            body = json.loads(raw)
                        except ValueError:
                            raise bad_request("The request content was invalid and could not be deserialized.")
                call = Call(request, claims, body)
                try:
                    result = await run_in_threadpool(handler, call)
                except (TypeError, ValueError, AttributeError, KeyError, IndexError) as e:
                    if body is None:
                        raise
                    # a body of a shape no check above foresaw: the caller's mistake, said as ARM says it
                    raise bad_request(f"The request content is not valid: {type(e).__name__}: {e}") from None
            except ArmError as e:
                response = error_response(e)
                response.headers.update(headers)
                return response
            headers.update(call.headers)
            if result is None:
                return Response(status_code=call.status, headers=headers)
            return JSONResponse(result, status_code=call.status, headers=headers)
        return endpoint

    def registry(self, call: Call) -> Registry:
        return self.store.registry(call.param("subscription"), call.param("resource_group"), call.param("registry"))

    def tasks_registry(self, call: Call) -> Registry:
        """The registry, refusing ACR Tasks requests as the service does where they are not allowed."""
        reg = self.registry(call)
        if not reg.tasks:
            raise ArmError(400, "TasksOperationsNotAllowed",
                           f"ACR Tasks requests for the registry {reg.name} and {reg.subscription} are not permitted. "
                           f"Please file an Azure support request at http://aka.ms/azuresupport for assistance.",
                           target="request")
        return reg

    # -- cloud discovery, subscriptions, tenants, resources ---------------------------------------
    def metadata(self, call: Call) -> dict:
        base = self.base_url
        # every URL points back here (loopback): nothing az reads from this may reach the internet
        return {
            "name": "AcrmagicEmulator", "resourceManager": base + "/", "portal": base + "/portal",
            "gallery": base + "/gallery", "media": base + "/media", "graph": base + "/graph/",
            "graphAudience": base + "/graph/", "batch": base + "/batch/", "sqlManagement": base + "/sql/",
            "activeDirectoryDataLake": base + "/datalake/", "microsoftGraphResourceId": base + "/msgraph/",
            "vmImageAliasDoc": base + "/vmimagealiases",
            # az asks the identity endpoint for the first audience
            "authentication": {"loginEndpoint": base + "/login",
                               "audiences": ["https://management.core.windows.net/", "https://management.azure.com/"],
                               "tenant": self.issuer.tenant_id, "identityProvider": "AAD"},
            "suffixes": {"acrLoginServer": "azurecr.io", "storage": "core.windows.net", "keyVaultDns": "vault.azure.net",
                         "sqlServerHostname": "database.windows.net"},
        }

    def subscription_json(self, sub: str) -> dict:
        return {"id": f"/subscriptions/{sub}", "subscriptionId": sub, "tenantId": self.issuer.tenant_id,
                "displayName": "acrmagic emulator", "state": "Enabled", "authorizationSource": "RoleBased",
                "managedByTenants": [], "subscriptionPolicies": {"locationPlacementId": "Public_2014-09-01",
                                                                 "quotaId": "PayAsYouGo_2014-09-01",
                                                                 "spendingLimit": "Off"}}

    def subscriptions(self, call: Call) -> dict:
        subs = [self.subscription_json(s) for s in self.store.subscriptions()]
        return {"value": subs, "count": {"type": "Total", "value": len(subs)}}

    def subscription(self, call: Call) -> dict:
        sub = call.param("subscription")
        self.store.check_subscription(sub)
        return self.subscription_json(next(s for s in self.store.subscriptions() if s.lower() == sub.lower()))

    def tenants(self, call: Call) -> dict:
        tid = self.issuer.tenant_id
        return {"value": [{"id": f"/tenants/{tid}", "tenantId": tid, "tenantCategory": "Home", "countryCode": "US",
                           "displayName": "acrmagic emulator", "defaultDomain": "acrmagic.localhost",
                           "domains": ["acrmagic.localhost"], "tenantType": "AAD"}]}

    def _group_json(self, sub: str, rg: str) -> dict:
        return {"id": f"/subscriptions/{sub}/resourceGroups/{rg}", "name": rg, "type": "Microsoft.Resources/resourceGroups",
                "location": self.store.group_location(sub, rg) or "eastus", "properties": {"provisioningState": "Succeeded"}}

    def resource_group(self, call: Call) -> dict:
        sub = call.param("subscription")
        return self._group_json(sub, self.store.check_resource_group(sub, call.param("resource_group")))

    def resource_group_put(self, call: Call) -> dict:
        """`az group create`: a resource group of a subscription the emulator serves."""
        sub, rg, body = call.param("subscription"), call.param("resource_group"), call.object_body()
        location = body.get("location")
        if not isinstance(location, str) or not location:
            raise bad_request("location is required.", target="location")
        if not _GROUP.match(rg):
            raise bad_request(f"The resource group name '{rg}' is invalid.", "InvalidResourceGroup")
        if self.store.add_group(sub, rg, location):
            call.status = 201
        return self._group_json(sub, self.store.check_resource_group(sub, rg))

    def resources(self, call: Call) -> dict:
        """The ARM resources list `az acr` uses to find a registry's resource group."""
        sub = call.param("subscription")
        self.store.check_subscription(sub)
        wanted = dict((k.lower(), v.lower()) for k, v in
                      re.findall(r"(\w+)\s+eq\s+'([^']*)'", call.request.query_params.get("$filter", ""), re.I))
        out = []
        for reg in self.store.registries:
            fields = {"resourcetype": REGISTRY_TYPE.lower(), "name": reg.name.lower(),
                      "resourcegroup": reg.resource_group.lower(), "location": reg.location.lower()}
            if reg.subscription.lower() == sub.lower() and all(fields.get(k) == v for k, v in wanted.items()):
                out.append(reg.resource_json())
        return {"value": out}

    def registry_list(self, call: Call) -> dict:
        sub = call.param("subscription")
        rg = call.request.path_params.get("resource_group")
        if rg:
            self.store.check_resource_group(sub, rg)
        else:
            self.store.check_subscription(sub)
        return {"value": [r.to_json(call.api_version) for r in self.store.registries
                          if r.subscription.lower() == sub.lower()
                          and (rg is None or r.resource_group.lower() == rg.lower())]}

    # -- registry, uploads, runs ------------------------------------------------------------------
    def registry_get(self, call: Call) -> dict:
        return self.registry(call).to_json(call.api_version)

    def registry_put(self, call: Call) -> dict:
        """`az acr create`: a new registry (201, Creating, an operation to poll, up to the 2025 api-versions;
        200 Succeeded from 2026 ones on, as the service's recorded answers show), or a replaced one's
        settings (200)."""
        sub, rg, name = call.param("subscription"), call.param("resource_group"), call.param("registry")
        body = call.object_body()
        location, sku = body.get("location"), body.get("sku")
        if not isinstance(location, str) or not location.strip():
            raise bad_request("location is required.", target="location")
        if not isinstance(sku, dict) or sku.get("name") not in SKUS:
            raise bad_request(f"sku.name must be one of {', '.join(SKUS)}.", target="sku")
        if not REGISTRY_NAME.fullmatch(name):
            raise bad_request(f"The registry name '{name}' is invalid: 5 to 50 letters and digits.",
                              "InvalidResourceName", target="registryName")
        props = body.get("properties") or {}
        if not isinstance(props, dict):
            raise bad_request("properties must be an object.", target="properties")
        self.store.add_group(sub, rg, location)  # the group is made with the registry (a difference: ARM needs it first)
        reg = self.store.find_registry(sub, rg, name)
        if reg is None:
            if any(r.name.lower() == name.lower() for r in self.store.registries):
                raise ArmError(409, "AlreadyInUse", f"The registry DNS name {name.lower()}.azurecr.io is already in use.")
            by = principal(call.claims)
            reg = Registry(name=name, resource_group=self.store.check_resource_group(sub, rg), subscription=sub,
                           sku=sku["name"], tasks=sku["name"] != "Classic", login_server=self.default_login_server,
                           location=location, created_by=by)
            self._apply_registry(reg, body, call)
            self.store.add_registry(reg)
            if call.api_version[:4] < "2026":
                call.status = 201
                call.headers["Azure-AsyncOperation"] = (f"{self.base_url}{reg.id}/operationStatuses/"
                                                        f"registries-{uuid.uuid4()}?api-version={call.api_version}")
                return reg.to_json(call.api_version, provisioning="Creating")
            return reg.to_json(call.api_version)
        reg.sku = sku["name"]
        reg.location = location
        self._apply_registry(reg, body, call)
        return reg.to_json(call.api_version)

    def registry_patch(self, call: Call) -> dict:
        """`az acr update`: sku, tags and the settings given; what is not given stays."""
        reg, body = self.registry(call), call.object_body()
        sku = body.get("sku")
        if sku is not None:
            if not isinstance(sku, dict) or sku.get("name") not in SKUS:
                raise bad_request(f"sku.name must be one of {', '.join(SKUS)}.", target="sku")
            reg.sku = sku["name"]
        self._apply_registry(reg, body, call)
        return reg.to_json(call.api_version)

    def _apply_registry(self, reg: Registry, body: dict, call: Call) -> None:
        tags, props = body.get("tags"), body.get("properties")
        if tags is not None:
            if not isinstance(tags, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in tags.items()):
                raise bad_request("tags must map names to strings.", target="tags")
            reg.tags = dict(tags)
        if props is None:
            props = {}
        if not isinstance(props, dict):
            raise bad_request("properties must be an object.", target="properties")
        for key, attr in (("adminUserEnabled", "admin_user_enabled"), ("anonymousPullEnabled", "anonymous_pull_enabled")):
            if props.get(key) is not None:
                if not isinstance(props[key], bool):
                    raise bad_request(f"{key} must be true or false.", target=key)
                setattr(reg, attr, props[key])
        if props.get("publicNetworkAccess") is not None:
            if props["publicNetworkAccess"] not in ("Enabled", "Disabled"):
                raise bad_request("publicNetworkAccess must be Enabled or Disabled.", target="publicNetworkAccess")
            reg.public_network_access = props["publicNetworkAccess"]
        if props.get("roleAssignmentMode") is not None:
            if props["roleAssignmentMode"] not in ROLE_ASSIGNMENT_MODES:
                raise bad_request(f"roleAssignmentMode must be one of {', '.join(ROLE_ASSIGNMENT_MODES)}.",
                                  target="roleAssignmentMode")
            reg.role_assignment_mode = props["roleAssignmentMode"]
        reg.modified, reg.modified_by = utc_now(), principal(call.claims)

    def registry_delete(self, call: Call) -> None:
        """`az acr delete`: 200 (204 when there is no such registry, as ARM answers a repeated DELETE);
        its runs are canceled and its tasks, runs and taskRuns forgotten."""
        sub, rg, name = call.param("subscription"), call.param("resource_group"), call.param("registry")
        self.store.check_resource_group(sub, rg)
        reg = self.store.find_registry(sub, rg, name)
        if reg is None:
            call.status = 204
            return None
        for run in self.store.runs(reg):
            if not run.terminal:
                self.run_driver.cancel(run, wait=0)
        if self.tasks.triggers is not None:
            for task in self.store.tasks(reg):
                self.tasks.triggers.forget(reg, task["name"])
        self.store.remove_registry(reg)
        return None

    def operation_status(self, call: Call) -> dict:
        """The registry operation az polls after a 201: the emulator finishes creating at once."""
        self.registry(call)
        return {"status": "Succeeded"}

    def upload_url(self, call: Call) -> dict:
        reg = self.tasks_registry(call)
        relative = f"source/{utc_now():%Y%m%d}0000/{uuid.uuid4()}.tar.gz"
        url = self.storage.upload_url(container_name(reg.id), relative)
        self.store.add_upload(reg, relative)
        return {"uploadUrl": url, "relativePath": relative}

    def schedule_run(self, call: Call) -> dict:
        reg = self.tasks_registry(call)
        return self.submit(reg, call.object_body(), call.claims)

    def submit(self, reg: Registry, body: dict, claims: dict) -> dict:
        """Queue the run a scheduleRun (or taskRun) body asks for; scheduleRun's answer."""
        if body.get("type") == "TaskRunRequest":
            return self.tasks.schedule(reg, body, claims)
        job = parse_run_request(body)
        source = job.source_location
        if source is not None:
            if _REMOTE.match(source):
                # accepted as the service accepts it; the run fetches it (and, offline, fails saying so)
                self.contexts.check(source, target="sourceLocation")
                job.remote_source = source
                job.source_location = None
            elif not (self.store.is_upload(reg, source) and self.storage.exists(container_name(reg.id), source)):
                raise bad_request(f"The provided source location '{source}' is invalid or doesn't exists. Please use "
                                  f"'GetBuildSourceUploadUrl' to get a valid location to upload the source.",
                                  "SourceLocationNotFound", target="sourceLocation")
        return self.run_driver.submit(reg, job, claims)

    def runs_list(self, call: Call) -> dict:
        reg = self.registry(call)
        q = call.request.query_params
        keep = compile_filter(q.get("$filter"))
        runs = [r for r in self.store.runs(reg) if keep(r.filter_fields())]
        if q.get("$top") is not None:
            top = q["$top"]
            if not top.isdigit() or int(top) < 1:
                raise bad_request(f"$top must be a positive whole number, not '{top}'.", "InvalidParameter")
            return {"value": [r.to_json() for r in runs[:int(top)]]}  # no nextLink: `--top` must not page on
        token = q.get("$skipToken", "0")
        skip = int(token) if token.isdigit() else 0
        page = {"value": [r.to_json() for r in runs[skip:skip + PAGE]]}
        if skip + PAGE < len(runs):
            query = urlencode({**{k: v for k, v in q.items() if k != "$skipToken"}, "$skipToken": skip + PAGE})
            page["nextLink"] = f"{self.base_url}{call.request.url.path}?{query}"
        return page

    def run_get(self, call: Call) -> dict:
        return self.store.run(self.registry(call), call.param("run_id")).to_json()

    def run_update(self, call: Call) -> dict:
        run = self.store.run(self.registry(call), call.param("run_id"))
        body = call.object_body()
        if "isArchiveEnabled" in body:
            if not isinstance(body["isArchiveEnabled"], bool):
                raise bad_request("isArchiveEnabled must be true or false.", target="isArchiveEnabled")
            run.is_archive_enabled = body["isArchiveEnabled"]
            run.touch()
        return run.to_json()

    def log_sas(self, call: Call) -> dict:
        reg = self.registry(call)
        run = self.store.run(reg, call.param("run_id"))
        return {"logLink": self.storage.read_url(container_name(reg.id), log_blob_name(run.run_id))}

    def cancel(self, call: Call) -> None:
        reg = self.registry(call)
        self.run_driver.cancel(self.store.run(reg, call.param("run_id")))
        return None

    # -- the application --------------------------------------------------------------------------
    def routes(self) -> list[Route]:
        e, tv = self.endpoint, TASKS_API_VERSIONS
        return [
            Route("/metadata/endpoints", e(self.metadata, auth=False)),
            Route("/subscriptions", e(self.subscriptions)),
            Route("/tenants", e(self.tenants)),
            Route("/subscriptions/{subscription}", e(self.subscription)),
            Route("/subscriptions/{subscription}/resources", e(self.resources)),
            Route("/subscriptions/{subscription}/providers/" + REGISTRY_TYPE, e(self.registry_list)),
            Route("/subscriptions/{subscription}/resourceGroups/{resource_group}", e(self.resource_group),
                  methods=["GET", "HEAD"]),
            Route("/subscriptions/{subscription}/resourceGroups/{resource_group}", e(self.resource_group_put),
                  methods=["PUT"]),
            Route("/subscriptions/{subscription}/resourceGroups/{resource_group}/providers/" + REGISTRY_TYPE,
                  e(self.registry_list)),
            Route(P, e(self.registry_get), methods=["GET"]),
            Route(P, e(self.registry_put), methods=["PUT"]),
            Route(P, e(self.registry_patch), methods=["PATCH"]),
            Route(P, e(self.registry_delete), methods=["DELETE"]),
            Route(P + "/operationStatuses/{operation}", e(self.operation_status)),
            Route(P + "/listBuildSourceUploadUrl", e(self.upload_url, tv), methods=["POST"]),
            Route(P + "/scheduleRun", e(self.schedule_run, tv), methods=["POST"]),
            Route(P + "/runs", e(self.runs_list, tv)),
            Route(P + "/runs/{run_id}", e(self.run_get, tv)),
            Route(P + "/runs/{run_id}", e(self.run_update, tv), methods=["PATCH"]),
            Route(P + "/runs/{run_id}/listLogSasUrl", e(self.log_sas, tv), methods=["POST"]),
            Route(P + "/runs/{run_id}/cancel", e(self.cancel, tv), methods=["POST"]),
            *self.tasks.routes(),
            *self.task_runs.routes(),
            *self.deployments.routes(),
            *DeviceCodeAuthority(self.issuer, self.base_url).routes(),  # the device-code login (authority.py)
        ]

    def app(self) -> Starlette:
        async def http_error(request: Request, exc: HTTPException) -> Response:
            if exc.status_code == 405:
                return error_response(ArmError(405, "MethodNotAllowed",
                                f"The method '{request.method}' is not allowed on '{request.url.path}'."))
            return error_response(ArmError(exc.status_code, "NotFound" if exc.status_code == 404 else "BadRequest",
                                           f"The path '{request.url.path}' is not served by the acrmagic emulator "
                                           f"(provider {PROVIDER})."))

        async def crash(request: Request, exc: Exception) -> Response:
            return error_response(ArmError(500, "InternalServerError", f"The emulator failed: {type(exc).__name__}: {exc}"))

        return Starlette(routes=self.routes(), middleware=[Middleware(CanonicalPathMiddleware)],
                         exception_handlers={HTTPException: http_error, Exception: crash})
