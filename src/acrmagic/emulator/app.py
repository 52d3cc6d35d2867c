"""The management front: Starlette routes for the ARM calls the Azure SDKs and the Azure CLI make
for ACR quick builds and runs, plus the cloud-discovery, subscription and tenant calls `az cloud
register` and `az login --identity` need. Every call but metadata discovery checks the bearer token.
Answers are synchronous (200, `provisioningState: Succeeded`, no LRO headers)."""

from __future__ import annotations

import json
import re
import uuid
from urllib.parse import urlencode
from dataclasses import dataclass
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
from .scheduler import Scheduler
from .state import Registry, Store

PAGE = 100
P = "/subscriptions/{subscription}/resourceGroups/{resource_group}/providers/" + REGISTRY_TYPE + "/{registry}"
_REMOTE = re.compile(r"^([a-z][a-z0-9+.-]*://|git@)", re.I)


@dataclass
class Call:
    request: Request
    claims: dict
    body: object

    def param(self, name: str) -> str:
        return self.request.path_params[name]


class ArmApp:
    def __init__(self, store: Store, storage: Storage, scheduler: Scheduler, issuer: Issuer, base_url: str):
        self.store, self.storage, self.scheduler, self.issuer = store, storage, scheduler, issuer
        self.base_url = base_url.rstrip("/")
        from .tasks_api import TasksApi

        self.tasks = TasksApi(self)  # the task resources and their runs (tasks_api.py)

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
                result = await run_in_threadpool(handler, Call(request, claims, body))
            except ArmError as e:
                response = error_response(e)
                response.headers.update(headers)
                return response
            if result is None:
                return Response(status_code=200, headers=headers)
            return JSONResponse(result, headers=headers)
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

    def resource_group(self, call: Call) -> dict:
        sub = call.param("subscription")
        rg = self.store.check_resource_group(sub, call.param("resource_group"))
        location = next(r.location for r in self.store.registries if r.resource_group == rg)
        return {"id": f"/subscriptions/{sub}/resourceGroups/{rg}", "name": rg, "type": "Microsoft.Resources/resourceGroups",
                "location": location, "properties": {"provisioningState": "Succeeded"}}

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
                out.append({"id": reg.id, "name": reg.name, "type": REGISTRY_TYPE, "location": reg.location,
                            "sku": {"name": reg.sku, "tier": reg.sku}, "tags": {}})
        return {"value": out}

    def registry_list(self, call: Call) -> dict:
        sub = call.param("subscription")
        rg = call.request.path_params.get("resource_group")
        if rg:
            self.store.check_resource_group(sub, rg)
        else:
            self.store.check_subscription(sub)
        return {"value": [r.to_json() for r in self.store.registries if r.subscription.lower() == sub.lower()
                          and (rg is None or r.resource_group.lower() == rg.lower())]}

    # -- registry, uploads, runs ------------------------------------------------------------------
    def registry_get(self, call: Call) -> dict:
        return self.registry(call).to_json()

    def upload_url(self, call: Call) -> dict:
        reg = self.tasks_registry(call)
        relative = f"source/{utc_now():%Y%m%d}0000/{uuid.uuid4()}.tar.gz"
        url = self.storage.upload_url(container_name(reg.id), relative)
        self.store.add_upload(reg, relative)
        return {"uploadUrl": url, "relativePath": relative}

    def schedule_run(self, call: Call) -> dict:
        reg = self.tasks_registry(call)
        if isinstance(call.body, dict) and call.body.get("type") == "TaskRunRequest":
            return self.tasks.schedule(reg, call.body, call.claims)
        job = parse_run_request(call.body)
        source = job.source_location
        if source is not None:
            if _REMOTE.match(source):
                raise bad_request(f"The emulator works offline and cannot fetch the source location '{source}'. "
                                  f"Upload the source with 'GetBuildSourceUploadUrl' and pass its relativePath.",
                                  "SourceLocationNotFound", target="sourceLocation")
            if not (self.store.is_upload(reg, source) and self.storage.exists(container_name(reg.id), source)):
                raise bad_request(f"The provided source location '{source}' is invalid or doesn't exists. Please use "
                                  f"'GetBuildSourceUploadUrl' to get a valid location to upload the source.",
                                  "SourceLocationNotFound", target="sourceLocation")
        return self.scheduler.submit(reg, job, call.claims)

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
        body = call.body if isinstance(call.body, dict) else {}
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
        self.scheduler.cancel(self.store.run(reg, call.param("run_id")))
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
            Route("/subscriptions/{subscription}/resourceGroups/{resource_group}", e(self.resource_group)),
            Route("/subscriptions/{subscription}/resourceGroups/{resource_group}/providers/" + REGISTRY_TYPE,
                  e(self.registry_list)),
            Route(P, e(self.registry_get)),
            Route(P + "/listBuildSourceUploadUrl", e(self.upload_url, tv), methods=["POST"]),
            Route(P + "/scheduleRun", e(self.schedule_run, tv), methods=["POST"]),
            Route(P + "/runs", e(self.runs_list, tv)),
            Route(P + "/runs/{run_id}", e(self.run_get, tv)),
            Route(P + "/runs/{run_id}", e(self.run_update, tv), methods=["PATCH"]),
            Route(P + "/runs/{run_id}/listLogSasUrl", e(self.log_sas, tv), methods=["POST"]),
            Route(P + "/runs/{run_id}/cancel", e(self.cancel, tv), methods=["POST"]),
            *self.tasks.routes(),
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
