"""The sign-in authority's device-code login, on the emulator's loopback HTTPS port: what
Microsoft Entra ID's v2.0 endpoints answer to azure-identity's `DeviceCodeCredential` (through MSAL),
so the login a hosted notebook uses (no browser on the kernel's machine) is exercised offline.

    GET  /{tenant}/v2.0/.well-known/openid-configuration   where the endpoints are (MSAL reads it first)
    POST /{tenant}/oauth2/v2.0/devicecode                   a device code, and the user code to enter
    POST /{tenant}/oauth2/v2.0/token                        `authorization_pending` until the code is
                                                            entered, then the tokens (also refresh_token)
    GET  /devicelogin                                       the page where a user enters the code
    POST /devicelogin                                       form field `otc`: sign in as the emulator's user

The flow is OAuth 2.0's device authorization grant (RFC 8628). The access token is one of the emulator's
own (`identity.Issuer`), so the management API accepts it; it names one user principal, with a name as
Entra ID's tokens carry one. Point the credential here with `authority=<management_url>`,
`tenant_id=<tenant_id>`, `disable_instance_discovery=True` and the emulator's CA bundle
(`connection_verify`).
"""

from __future__ import annotations

import base64
import html
import json
import secrets
import threading
import time
import uuid
from dataclasses import dataclass, field
from urllib.parse import parse_qs

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse
from starlette.routing import Route

from .identity import Identity, Issuer

DEVICE_CODE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
USER_NAME, USER_UPN = "Emulated User", "user@acrmagic-emulator.example"
CODE_LIFETIME = 900  # seconds a device code may wait for its user
POLL_INTERVAL = 1  # seconds MSAL waits between token polls (Entra ID says 5; tests need not wait that long)
_USER_CODE_LETTERS = "BCDFGHJKLMNPQRSTVWXZ23456789"  # no vowels, no look-alikes


@dataclass
class _Pending:
    client_id: str
    scope: str
    user_code: str
    expires: float
    approved: bool = False
    last_poll: float = field(default=0.0)


class DeviceCodeAuthority:
    """The device-code endpoints of one tenant's authority; `routes()` for the emulator's HTTPS app."""

    def __init__(self, issuer: Issuer, base_url: str):
        self.issuer, self.base_url = issuer, base_url.rstrip("/")
        self.tenant = issuer.tenant_id
        # one user principal; its object id is stable for the tenant
        self.user = Identity("User", "", str(uuid.uuid5(uuid.NAMESPACE_URL, f"{self.tenant}/{USER_UPN}")))
        self._pending: dict[str, _Pending] = {}  # device code -> its state
        self._refresh: dict[str, tuple[str, str]] = {}  # refresh token -> (client id, scope)
        self._lock = threading.Lock()

    def routes(self) -> list[Route]:
        t = "/{tenant}"
        return [Route(t + "/v2.0/.well-known/openid-configuration", self.openid_configuration),
                Route(t + "/oauth2/v2.0/devicecode", self.device_code, methods=["POST"]),
                Route(t + "/oauth2/v2.0/token", self.token, methods=["POST"]),
                Route("/devicelogin", self.login_page, methods=["GET", "POST"])]

    # -- discovery ---------------------------------------------------------------------------------------
    def _base(self, tenant: str) -> str:
        return f"{self.base_url}/{tenant}"

    async def openid_configuration(self, request: Request) -> JSONResponse:
        tenant = request.path_params["tenant"]
        if tenant not in (self.tenant, "organizations", "common"):
            return _oauth_error(400, "invalid_tenant", f"Tenant '{tenant}' not found.")
        base = self._base(tenant)
        return JSONResponse({
            "issuer": f"{self._base(self.tenant)}/v2.0",
            "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
            "token_endpoint": f"{base}/oauth2/v2.0/token",
            "device_authorization_endpoint": f"{base}/oauth2/v2.0/devicecode",
            "jwks_uri": f"{base}/discovery/v2.0/keys",
            "response_types_supported": ["code", "id_token", "code id_token", "token id_token"],
            "subject_types_supported": ["pairwise"], "id_token_signing_alg_values_supported": ["RS256"],
            "scopes_supported": ["openid", "profile", "email", "offline_access"],
            "tenant_region_scope": None, "cloud_instance_name": "acrmagic-emulator"})

    # -- the device code ---------------------------------------------------------------------------------
    async def device_code(self, request: Request) -> JSONResponse:
        form = await _form(request)
        client_id, scope = form.get("client_id"), form.get("scope", "")
        if not client_id:
            return _oauth_error(400, "invalid_request", "AADSTS900144: The request body must contain the following "
                                                        "parameter: 'client_id'.")
        device = secrets.token_urlsafe(32)
        user_code = "".join(secrets.choice(_USER_CODE_LETTERS) for _ in range(9))
        with self._lock:
            self._pending[device] = _Pending(str(client_id), str(scope), user_code, time.time() + CODE_LIFETIME)
        uri = f"{self.base_url}/devicelogin"
        return JSONResponse({
            "user_code": user_code, "device_code": device, "verification_uri": uri, "expires_in": CODE_LIFETIME,
            "interval": POLL_INTERVAL,
            "message": f"To sign in, use a web browser to open the page {uri} and enter the code {user_code} to "
                       "authenticate."})

    async def login_page(self, request: Request) -> HTMLResponse:
        """What the user's browser shows: a form for the code; posting it signs in the emulator's user."""
        if request.method == "GET":
            return HTMLResponse("<html><body><h1>acrmagic emulator: sign in</h1><form method='post'>"
                                "<label>Code <input name='otc' autocomplete='off'></label> "
                                "<button type='submit'>Next</button></form></body></html>")
        code = str((await _form(request)).get("otc", "")).strip().upper()
        with self._lock:
            pending = next((p for p in self._pending.values() if p.user_code == code and p.expires > time.time()), None)
            if pending is not None:
                pending.approved = True
        if pending is None:
            return HTMLResponse("<html><body><p>That code is not valid or has expired. Go back to the "
                                "application and try again.</p></body></html>", status_code=400)
        return HTMLResponse(f"<html><body><p>You have signed in to {html.escape(pending.client_id)} as "
                            f"{html.escape(USER_NAME)} ({USER_UPN}). You may now close this window.</p></body></html>")

    # -- tokens ------------------------------------------------------------------------------------------
    async def token(self, request: Request) -> JSONResponse:
        form = await _form(request)
        grant = form.get("grant_type")
        if grant == DEVICE_CODE_GRANT:
            with self._lock:
                pending = self._pending.get(str(form.get("device_code", "")))
                if pending is None:
                    return _oauth_error(400, "invalid_grant", "AADSTS70000: The provided value for the "
                                                              "'device_code' is not valid.")
                if pending.expires <= time.time():
                    del self._pending[str(form["device_code"])]
                    return _oauth_error(400, "expired_token", "AADSTS70020: The provided value for the input "
                                                              "parameter 'device_code' is not valid. This device "
                                                              "code has expired.")
                if not pending.approved:
                    return _oauth_error(400, "authorization_pending", "AADSTS70016: OAuth 2.0 device flow error. "
                                                                      "Authorization is pending. Continue polling.")
                del self._pending[str(form["device_code"])]
            return self._tokens(pending.client_id, pending.scope)
        if grant == "refresh_token":
            with self._lock:
                known = self._refresh.pop(str(form.get("refresh_token", "")), None)
            if known is None:
                return _oauth_error(400, "invalid_grant", "AADSTS9002313: Invalid request. The refresh token "
                                                          "is malformed or not valid.")
            return self._tokens(known[0], str(form.get("scope") or known[1]))
        return _oauth_error(400, "unsupported_grant_type", f"AADSTS70003: The app requested an unsupported grant "
                                                           f"type '{grant}'.")

    def _tokens(self, client_id: str, scope: str) -> JSONResponse:
        resources = [s for s in scope.split() if s not in ("openid", "profile", "offline_access", "email")]
        resource = resources[0].removesuffix(".default").rstrip("/") if resources else "https://management.azure.com"
        now = int(time.time())
        who = {"oid": self.user.principal_id, "tid": self.tenant, "name": USER_NAME, "upn": USER_UPN,
               "idtyp": "user"}
        access, exp = self.issuer.issue(self.user, resource, extra=who)
        id_token = self.issuer.sign({
            "aud": client_id, "iss": f"{self._base(self.tenant)}/v2.0", "iat": now, "nbf": now, "exp": exp,
            "sub": self.user.principal_id, "oid": self.user.principal_id, "tid": self.tenant, "name": USER_NAME,
            "preferred_username": USER_UPN, "ver": "2.0"})
        refresh = secrets.token_urlsafe(32)
        with self._lock:
            self._refresh[refresh] = (client_id, scope)
        client_info = base64.urlsafe_b64encode(json.dumps({"uid": self.user.principal_id, "utid": self.tenant})
                                               .encode()).decode().rstrip("=")
        return JSONResponse({"token_type": "Bearer", "scope": scope, "expires_in": exp - now,
                             "ext_expires_in": exp - now, "access_token": access, "refresh_token": refresh,
                             "id_token": id_token, "client_info": client_info})


async def _form(request: Request) -> dict[str, str]:
    """An application/x-www-form-urlencoded body (all these endpoints take), without a multipart parser."""
    return {k: v[-1] for k, v in parse_qs((await request.body()).decode("utf-8", errors="replace")).items()}


def _oauth_error(status: int, error: str, description: str) -> JSONResponse:
    return JSONResponse({"error": error, "error_description": description, "error_codes": [],
                         "timestamp": time.strftime("%Y-%m-%d %H:%M:%SZ", time.gmtime())}, status_code=status)
