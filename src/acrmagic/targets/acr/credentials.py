"""Who calls ACR: an azure-identity credential, chosen from the target's settings, and the principal
its token names.

    identity None          DefaultAzureCredential (environment, workload identity, managed identity,
                           Azure CLI, Azure Developer CLI, PowerShell, ...), or DeviceCodeCredential
                           where no browser exists (Binder, JupyterHub) or when asked
    identity "system"      ManagedIdentityCredential, the system-assigned identity
    identity CLIENT_ID     ManagedIdentityCredential(client_id=CLIENT_ID), a user-assigned identity
    an emulator config     ManagedIdentityCredential against the emulator's token endpoint (App
                           Service protocol: IDENTITY_ENDPOINT + IDENTITY_HEADER); with device_code,
                           DeviceCodeCredential against the emulator's authority (its device-code login)

The emulator's endpoint and header are read from its start-up JSON and kept in memory only. azure-
identity (1.27, through MSAL's ManagedIdentityClient) reads IDENTITY_ENDPOINT/IDENTITY_HEADER from
os.environ twice: when the credential is built (to pick App Service) and again on every token request
(msal.managed_identity._obtain_token; without them MSAL would go to IMDS). So `_AppServiceIdentity`
sets them in this process's environment only while it builds the credential and while a token is
fetched, under a lock, and restores what was there before: they are never written to disk, never in
any argv, and absent from the environment that child processes inherit except during that one
loopback request (tokens are cached for their lifetime).
"""

from __future__ import annotations

import contextlib
import os
import threading

from ...errors import AuthenticationFailed

#: the ARM token scope (the emulator accepts it too)
MANAGEMENT_SCOPE = "https://management.azure.com/.default"
_ENV_LOCK = threading.Lock()
_APP_SERVICE_VARS = ("IDENTITY_ENDPOINT", "IDENTITY_HEADER", "IDENTITY_SERVER_THUMBPRINT", "IMDS_ENDPOINT",
                     "MSI_ENDPOINT", "MSI_SECRET")


def no_browser() -> bool:
    """A hosted notebook (Binder, JupyterHub): no browser on this machine for an interactive login."""
    return any(os.environ.get(v) for v in ("BINDER_SERVICE_HOST", "BINDER_LAUNCH_HOST", "JUPYTERHUB_API_URL",
                                            "JUPYTERHUB_SERVICE_PREFIX"))


@contextlib.contextmanager
def _app_service_environment(endpoint: str, header: str):
    """IDENTITY_ENDPOINT/IDENTITY_HEADER set (and the variables that would make azure-identity or MSAL
    pick another managed-identity source unset) for the duration of the block only."""
    with _ENV_LOCK:
        saved = {k: os.environ.get(k) for k in _APP_SERVICE_VARS}
        for k in _APP_SERVICE_VARS:
            os.environ.pop(k, None)
        os.environ["IDENTITY_ENDPOINT"], os.environ["IDENTITY_HEADER"] = endpoint, header
        try:
            yield
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v


class _AppServiceIdentity:
    """azure-identity's ManagedIdentityCredential speaking the App Service protocol to one endpoint,
    without leaving that endpoint's secret header in the process environment (see the module doc)."""

    def __init__(self, endpoint: str, header: str, client_id: str | None):
        from azure.identity import ManagedIdentityCredential

        self._endpoint, self._header = endpoint, header
        with _app_service_environment(endpoint, header):
            self._inner = ManagedIdentityCredential(client_id=client_id)

    def __repr__(self) -> str:  # never the header
        return f"<managed identity at {self._endpoint}>"

    def get_token(self, *scopes, **kwargs):
        with _app_service_environment(self._endpoint, self._header):
            return self._inner.get_token(*scopes, **kwargs)

    def get_token_info(self, *scopes, options=None):
        with _app_service_environment(self._endpoint, self._header):
            return self._inner.get_token_info(*scopes, options=options)

    def close(self) -> None:
        self._inner.close()


def make_credential(identity: str | None, emulator: dict | None, device_code: bool | None):
    """(credential, what it tries: for error messages, e.g. "managed identity (system-assigned)")."""
    import logging

    # azure-identity logs each failed credential as a warning; with no logging configured Python would
    # print those on stderr beside acrmagic's own one line. A configured root logger still gets them.
    logging.getLogger("azure.identity").addHandler(logging.NullHandler())
    client_id = None if identity in (None, "", "system") else identity
    which = f"user-assigned identity {client_id}" if client_id else "system-assigned identity"
    if emulator is not None and device_code:  # the emulator's own authority (emulator/authority.py)
        from azure.identity import DeviceCodeCredential

        return (DeviceCodeCredential(tenant_id=emulator.get("tenant_id"), authority=emulator.get("management_url"),
                                     disable_instance_discovery=True, connection_verify=emulator.get("ca_bundle")),
                f"device code login at the emulator's authority {emulator.get('management_url')}")
    if emulator is not None:
        endpoint, header = emulator.get("identity_endpoint"), emulator.get("identity_header")
        if not endpoint or not header:
            raise AuthenticationFailed("the emulator config names no identity_endpoint/identity_header: point "
                                       "emulatorConfig at the JSON the emulator wrote (--config-file)")
        return _AppServiceIdentity(endpoint, header, client_id), f"the emulator's managed identity ({which}) at {endpoint}"
    if identity:
        from azure.identity import ManagedIdentityCredential

        return ManagedIdentityCredential(client_id=client_id), f"managed identity ({which})"
    if device_code if device_code is not None else no_browser():
        from azure.identity import DeviceCodeCredential

        return DeviceCodeCredential(), "device code login"
    from azure.identity import DefaultAzureCredential

    return (DefaultAzureCredential(),
            "DefaultAzureCredential (environment variables, workload identity, managed identity, Azure CLI, "
            "Azure Developer CLI, Azure PowerShell)")


def login_hint(tried: str, emulator: bool) -> str:
    """What to do when `tried` got no token."""
    if emulator:
        return "is the emulator running, and is emulatorConfig its current start-up JSON?"
    if tried.startswith("managed identity"):
        return "run where that identity is assigned, or drop --identity to use `az login`"
    if tried.startswith("device code"):
        return "complete the device code login in a browser, or `az login` on a machine with one"
    return "run `az login` (or `az login --identity`), set AZURE_CLIENT_ID/AZURE_TENANT_ID/AZURE_CLIENT_SECRET, " \
           "use --identity on an Azure host, or a device code login where no browser exists"


def auth_failed(tried: str, emulator: bool, reason: str) -> AuthenticationFailed:
    reason = " ".join(reason.split("Token request error:")[-1].split())  # MSAL's answer, not its preamble
    if len(reason) > 300:
        reason = reason[:300] + "..."
    return AuthenticationFailed(f"no Azure token from {tried}: {reason}; {login_hint(tried, emulator)}")


def principal(token: str) -> str:
    """The principal a token names: its `upn`, else `appid`, else `oid`. The signature is the
    service's to verify, not ours."""
    import jwt

    try:
        claims = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError:
        return "unknown"
    return str(claims.get("upn") or claims.get("appid") or claims.get("oid") or "unknown")


def principal_name(token: str) -> str:
    """Who a token names, said for a person: a name with the GUID, where the token carries one
    ("Ada Lovelace <ada@contoso.com> (OBJECT_ID)", "app my-builder (APP_ID)", "managed identity
    my-identity (CLIENT_ID)"); a bare GUID only when the token has nothing else."""
    import jwt

    try:
        claims = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError:
        return "unknown"
    login = claims.get("upn") or claims.get("preferred_username") or claims.get("unique_name") or claims.get("email")
    name = claims.get("name")
    if login or name:
        text, guid = (f"{name} <{login}>" if name and login and name != login else login or name), claims.get("oid")
    elif claims.get("xms_mirid") or claims.get("xms_mitype"):  # a managed identity: its resource's name
        mirid = claims.get("xms_mirid") or ""
        kind = "user-assigned" if "userassignedidentities" in mirid.lower() or claims.get("xms_mitype") == \
            "UserAssigned" else "system-assigned"
        text = f"{kind} managed identity" + (f" {mirid.rstrip('/').rsplit('/', 1)[-1]}" if mirid else "")
        guid = claims.get("appid") or claims.get("oid")
    elif claims.get("app_displayname"):
        text, guid = f"app {claims['app_displayname']}", claims.get("appid") or claims.get("oid")
    else:
        return principal(token)
    return f"{text} ({guid})" if guid else text
