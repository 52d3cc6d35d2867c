"""What every Azure Resource Manager answer shares: the error body, api-version rules, resource ids,
timestamps, and ARM's case-insensitive literal path segments."""

from __future__ import annotations

import re
from datetime import datetime, timezone

from starlette.responses import JSONResponse

from ..errors import ArmError

PROVIDER = "Microsoft.ContainerRegistry"
REGISTRY_TYPE = f"{PROVIDER}/registries"
RUN_TYPE = f"{REGISTRY_TYPE}/runs"

#: the tasks/runs api-versions: azure-mgmt-containerregistrytasks and the multi-API packages' 2019 one
TASKS_API_VERSIONS = ("2019-06-01-preview", "2025-03-01-preview")
#: registry GET is served for any dated version from this one on (the SDKs and az move it often)
OLDEST_REGISTRY_API = "2017-10-01"
_API_VERSION = re.compile(r"^\d{4}-\d{2}-\d{2}(-preview)?$")


def error_response(error: ArmError) -> JSONResponse:
    """ARM's error body: ``{"error": {"code": ..., "message": ..., "target"?}}``."""
    body = {"code": error.code, "message": error.message}
    if error.target:
        body["target"] = error.target
    return JSONResponse({"error": body}, status_code=error.status, headers=error.headers)


def not_found(kind: str, name: str, where: str = "") -> ArmError:
    if kind == "resource group":
        return ArmError(404, "ResourceGroupNotFound", f"Resource group '{name}' could not be found.")
    if kind == "subscription":
        return ArmError(404, "SubscriptionNotFound", f"The subscription '{name}' could not be found.")
    return ArmError(404, "ResourceNotFound", f"The Resource '{kind}/{name}'{where} was not found.")


def check_name(name: str, pattern, kind: str, code: str, target: str) -> str:
    """A child resource's name (a task, a taskRun) as the API's pattern takes it, or ARM's 400."""
    if not isinstance(name, str) or not pattern.fullmatch(name):
        raise bad_request(f"The {kind} name '{name}' is invalid: 5 to 50 characters of letters, digits, '-' and '_'.",
                          code, target=target)
    return name


def bad_request(message: str, code: str = "InvalidRequestContent", target: str | None = None) -> ArmError:
    return ArmError(400, code, message, target=target)


def check_api_version(value: str | None, allowed: tuple[str, ...] | None = None, resource: str = "registries") -> str:
    """The request's api-version, or ArmError(400) when it is missing or not served here.
    ``allowed=None`` accepts any dated version from OLDEST_REGISTRY_API on."""
    if not value:
        raise ArmError(400, "MissingApiVersionParameter",
                       "The api-version query parameter (?api-version=) is required for all requests.")
    if not _API_VERSION.match(value):
        raise ArmError(400, "InvalidApiVersionParameter",
                       f"The api-version '{value}' is invalid. The supported versions are listed by the provider.")
    if allowed is not None and value not in allowed:
        raise ArmError(400, "NoRegisteredProviderFound",
                       f"No registered resource provider found for API version '{value}' and type '{resource}'. "
                       f"The supported api-versions are '{', '.join(allowed)}'.")
    if allowed is None and value[:10] < OLDEST_REGISTRY_API:
        raise ArmError(400, "NoRegisteredProviderFound",
                       f"No registered resource provider found for API version '{value}' and type '{resource}'. "
                       f"The supported api-versions are '{OLDEST_REGISTRY_API}' and later.")
    return value


def registry_id(subscription: str, resource_group: str, name: str) -> str:
    return f"/subscriptions/{subscription}/resourceGroups/{resource_group}/providers/{REGISTRY_TYPE}/{name}"


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


def timestamp(moment: datetime | None) -> str | None:
    """ARM's ISO 8601 form, in UTC with a Z."""
    return None if moment is None else moment.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


# ARM treats the literal segments of a path case-insensitively (`resourcegroups` works as well as
# `resourceGroups`); names are compared case-insensitively anyway, so folding these is harmless.
_CANONICAL = {s.lower(): s for s in (
    "subscriptions", "resourceGroups", "providers", PROVIDER, "registries", "runs", "listBuildSourceUploadUrl",
    "scheduleRun", "listLogSasUrl", "cancel", "resources", "tenants", "metadata", "endpoints", "operationStatuses",
    "taskRuns", "tasks", "listDetails", "Microsoft.Resources", "deployments", "validate")}


class CanonicalPathMiddleware:
    """ASGI middleware before routing: literal ARM path segments in their canonical casing, and runs
    of slashes folded (`az cloud register --endpoint-resource-manager https://host/` asks for
    `//metadata/endpoints`)."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http":
            parts = [p for p in scope["path"].split("/") if p]
            fixed = "/" + "/".join(_CANONICAL.get(p.lower(), p) for p in parts)
            if fixed != scope["path"]:
                scope = dict(scope, path=fixed, raw_path=fixed.encode())
        await self.app(scope, receive, send)
