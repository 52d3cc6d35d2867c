"""The Azure SDK clients for one registry, and every SDK failure turned into one acrmagic line.

    azure-mgmt-containerregistry       registries.get (SKU, login server); generic ARM GETs
                                       (subscriptions, the resources list az uses to find a
                                       registry's resource group)
    azure-mgmt-containerregistrytasks  scheduleRun, the upload URL, runs (api 2025-03-01-preview)
    azure-storage-blob                 context upload, log blob (see archive.py, logblob.py)

A custom management URL (the emulator) means `base_url=` plus the ARM scope and `connection_verify=`
with its CA bundle; nothing else differs from Azure.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass

from ...errors import AuthenticationFailed, CloudError, CloudUnavailable, RunNotFound, UsageError
from . import sdk
from .credentials import MANAGEMENT_SCOPE, auth_failed

#: the ARM Resources API version az 2.91 uses to find a registry's resource group
RESOURCES_API = "2024-11-01"
SUBSCRIPTIONS_API = "2022-12-01"
REGISTRY_TYPE = "Microsoft.ContainerRegistry/registries"
#: SKUs that run ACR Tasks (az's prelude check); "Classic" does not
MANAGED_SKUS = ("Basic", "Standard", "Premium")


@dataclass
class Where:
    """A registry, once found."""

    subscription: str
    resource_group: str
    name: str
    login_server: str
    sku: str


def enum_text(value) -> str | None:
    """An SDK enum member (RunStatus.RUNNING) or a plain string -> its wire text ("Running")."""
    if value is None:
        return None
    return str(getattr(value, "value", value))


class Service:
    def __init__(self, credential, tried: str, *, management_url: str | None, ca_bundle: str | None,
                 emulator: bool):
        self.credential, self.tried, self.emulator = credential, tried, emulator
        self.management_url = management_url.rstrip("/") if management_url else None
        self.ca_bundle = ca_bundle
        self._clients: dict = {}

    # -- clients ----------------------------------------------------------------------------------
    def _kwargs(self) -> dict:
        kw: dict = {}
        if self.management_url:
            kw.update(base_url=self.management_url, credential_scopes=[MANAGEMENT_SCOPE])
        if self.ca_bundle:
            kw["connection_verify"] = self.ca_bundle
        return kw

    def registries_client(self, subscription: str):
        key = ("registries", subscription)
        if key not in self._clients:
            sdk.ready("azure.mgmt.containerregistry")
            from azure.mgmt.containerregistry import ContainerRegistryManagementClient

            self._clients[key] = ContainerRegistryManagementClient(self.credential, subscription, **self._kwargs())
        return self._clients[key]

    def tasks_client(self, subscription: str):
        key = ("tasks", subscription)
        if key not in self._clients:
            sdk.ready("azure.mgmt.containerregistrytasks")
            from azure.mgmt.containerregistrytasks import ContainerRegistryTasksMgmtClient

            self._clients[key] = ContainerRegistryTasksMgmtClient(self.credential, subscription, **self._kwargs())
        return self._clients[key]

    @property
    def endpoint(self) -> str:
        return self.management_url or "Azure Resource Manager (management.azure.com)"

    # -- errors -----------------------------------------------------------------------------------
    @contextlib.contextmanager
    def translating(self, what: str, *, registry: str | None = None, resource_group: str | None = None,
                    run_id: str | None = None):
        """SDK exceptions -> one acrmagic line naming `what` failed and what to do."""
        from azure.core.exceptions import (ClientAuthenticationError, HttpResponseError, ResourceNotFoundError,
                                           ServiceRequestError, ServiceResponseError)

        if self.ca_bundle and not os.path.exists(self.ca_bundle):
            raise CloudUnavailable(f"{what}: the CA bundle {self.ca_bundle} is gone: "
                                   + ("is the emulator still running? start it again and `acrmagic use` its config"
                                      if self.emulator else "give caBundle again")) from None
        try:
            yield
        except ClientAuthenticationError as e:
            if getattr(e, "response", None) is None:  # the credential got no token
                raise auth_failed(self.tried, self.emulator, _first_line(e)) from None
            code, message = _arm_error(e)
            raise AuthenticationFailed(
                f"{what}: {self.endpoint} refused the token of {self.tried} ({code}: {message}); "
                + ("restart the emulator and use its current config" if self.emulator
                   else "check the identity's role on the registry, or `az login` again")) from None
        except ResourceNotFoundError as e:
            code, message = _arm_error(e)
            if run_id and code not in ("ResourceGroupNotFound", "SubscriptionNotFound"):
                raise RunNotFound(f"no run {run_id} in registry {registry}: {message}") from None
            raise _not_found(what, code, message, registry, resource_group) from None
        except (ServiceRequestError, ServiceResponseError) as e:
            raise CloudUnavailable(f"{what}: {self.endpoint} does not answer ({_first_line(e)}); "
                                   + ("is the emulator still running? start it again and `acrmagic use` its config"
                                      if self.emulator else "check the network, proxy and management URL")) from None
        except HttpResponseError as e:
            code, message = _arm_error(e)
            raise CloudError(f"{what}: {code}: {message}", code=code, status=e.status_code) from None
        except OSError as e:  # below azure-core: a CA bundle unreadable, a socket refused outside its retries
            raise CloudUnavailable(f"{what}: {self.endpoint} cannot be reached ({e.strerror or e})") from None

    # -- ARM plumbing -----------------------------------------------------------------------------
    def arm_get(self, path: str, api_version: str, params: dict | None = None) -> dict:
        """A GET on any ARM path (through the registries client's pipeline: auth, retries, CA)."""
        from azure.core.exceptions import ClientAuthenticationError, HttpResponseError, ResourceNotFoundError
        from azure.core.rest import HttpRequest

        client = self.registries_client("00000000-0000-0000-0000-000000000000")
        response = client.send_request(HttpRequest("GET", path, params={**(params or {}), "api-version": api_version}))
        if response.status_code >= 400:
            error = {401: ClientAuthenticationError, 404: ResourceNotFoundError}.get(response.status_code,
                                                                                     HttpResponseError)
            raise error(response=response)
        return response.json()

    def subscriptions(self) -> list[str]:
        with self.translating("listing subscriptions"):
            body = self.arm_get("/subscriptions", SUBSCRIPTIONS_API)
        return [s["subscriptionId"] for s in body.get("value", []) if s.get("state", "Enabled") == "Enabled"]

    def find_resource_group(self, subscription: str, registry: str) -> str | None:
        """As az (§1.0): the ARM resources list filtered to registries, matched by name, any case."""
        with self.translating(f"looking for registry {registry}", registry=registry):
            body = self.arm_get(f"/subscriptions/{subscription}/resources", RESOURCES_API,
                                {"$filter": f"resourceType eq '{REGISTRY_TYPE}'"})
        for item in body.get("value", []):
            if item.get("name", "").lower() == registry.lower():
                parts = item["id"].split("/")
                lowered = [p.lower() for p in parts]
                if "resourcegroups" in lowered:
                    return parts[lowered.index("resourcegroups") + 1]
        return None

    def locate(self, registry: str, resource_group: str | None, subscription: str | None) -> Where:
        """Subscription and resource group (as given, or found as az finds them), then registries.get."""
        subs = [subscription] if subscription else (
            [os.environ["AZURE_SUBSCRIPTION_ID"]] if os.environ.get("AZURE_SUBSCRIPTION_ID") else self.subscriptions())
        if not subs:
            raise UsageError(f"{self.tried} sees no subscription: pass the subscription (acrmagic use --subscription "
                             "ID) or set AZURE_SUBSCRIPTION_ID")
        if resource_group is None:
            found = [(s, rg) for s in subs for rg in [self.find_resource_group(s, registry)] if rg]
            if not found:
                raise CloudError(f"registry {registry} not found in subscription {', '.join(subs)}: check the name "
                                 "(az acr list -o table) or give its resource group and subscription", code="ResourceNotFound",
                                 status=404)
            if len(found) > 1:
                raise UsageError(f"registry {registry} exists in several subscriptions ({', '.join(s for s, _ in found)}): "
                                 "give the subscription")
            subscription, resource_group = found[0]
        else:
            subscription = subs[0]
        with self.translating(f"reading registry {registry}", registry=registry, resource_group=resource_group):
            reg = self.registries_client(subscription).registries.get(resource_group, registry)
        sku = enum_text(reg.sku.name) if reg.sku else None
        return Where(subscription, resource_group, reg.name or registry, reg.login_server, sku or "")


def _first_line(e: Exception) -> str:
    text = str(getattr(e, "message", None) or e).strip()
    return text.splitlines()[0] if text else type(e).__name__


def _arm_error(e) -> tuple[str, str]:
    """The ARM error body's code and message (`{"error": {"code", "message"}}`)."""
    error = getattr(e, "error", None)
    code, message = getattr(error, "code", None), getattr(error, "message", None)
    if not code and getattr(e, "response", None) is not None:
        try:
            body = e.response.json()
            code, message = body["error"]["code"], body["error"]["message"]
        except Exception:  # not an ARM error body (a proxy, an HTML page)
            pass
    status = getattr(e, "status_code", None)
    return code or f"HTTP {status}", " ".join((message or _first_line(e)).split())


def _not_found(what: str, code: str, message: str, registry: str | None, resource_group: str | None) -> CloudError:
    if code == "ResourceGroupNotFound":
        hint = f"resource group {resource_group} not found: check it (az group list -o table) or leave it out to find it"
    elif code == "SubscriptionNotFound":
        hint = "subscription not found: check it (az account list -o table)"
    else:
        hint = f"registry {registry} not found: check the name and resource group (az acr list -o table)"
    return CloudError(f"{what}: {hint} ({code}: {message})", code=code, status=404)
