"""Managed identities and their tokens.

The token endpoint speaks the App Service protocol that azure-identity's ManagedIdentityCredential
uses when IDENTITY_ENDPOINT and IDENTITY_HEADER are set: ``GET <endpoint>?api-version=2019-08-01
&resource=<audience>[&client_id=<id>]`` with the header ``X-IDENTITY-HEADER: <secret>``.

Tokens are JWTs signed RS256 with a key made at start-up; management calls verify signature,
expiry, issuer and audience, and fail with ARM's 401 codes. Identities: one system-assigned identity,
plus the user-assigned identities configured by client id. An unknown client id is refused (400, as
App Service answers for an identity that is not assigned) rather than invented, so a typo in a
client id fails here as it would in Azure.
"""

from __future__ import annotations

import hmac
import secrets
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from starlette.requests import Request
from starlette.responses import JSONResponse

from ..errors import ArmError

#: the resources ARM accepts as audience: what azure-identity asks for (scope minus "/.default")
#: and what the Azure CLI asks for (the cloud's first audience)
MANAGEMENT_AUDIENCES = ("https://management.core.windows.net/", "https://management.core.windows.net",
                        "https://management.azure.com/", "https://management.azure.com")
TOKEN_PATH = "/msi/token"


@dataclass(frozen=True)
class Identity:
    kind: str          # "SystemAssigned" | "UserAssigned"
    client_id: str     # appid claim
    principal_id: str  # oid claim


class Issuer:
    """Issues and verifies the emulator's tokens for one tenant."""

    def __init__(self, tenant_id: str, user_client_ids: list[str] = (), lifetime: int = 3600,
                 extra_audiences: tuple[str, ...] = ()):
        self.tenant_id = tenant_id
        self.issuer = f"https://sts.windows.net/{tenant_id}/"
        self.lifetime = lifetime
        self.audiences = tuple(dict.fromkeys(MANAGEMENT_AUDIENCES + extra_audiences))
        self.header_secret = secrets.token_urlsafe(24)
        self._key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.system = Identity("SystemAssigned", str(uuid.uuid4()), str(uuid.uuid4()))
        # the principal id of a user-assigned identity is stable for its client id
        self.users = {cid.lower(): Identity("UserAssigned", cid, str(uuid.uuid5(uuid.NAMESPACE_URL, cid)))
                      for cid in user_client_ids}

    # -- issuing ------------------------------------------------------------------------------------
    def find(self, client_id: str | None = None, principal_id: str | None = None) -> Identity | None:
        if client_id:
            return self.users.get(client_id.lower()) or (self.system if client_id == self.system.client_id else None)
        if principal_id:
            return next((i for i in [self.system, *self.users.values()] if i.principal_id == principal_id), None)
        return self.system

    def issue(self, identity: Identity, resource: str, lifetime: int | None = None,
              extra: dict | None = None) -> tuple[str, int]:
        """An access token for `resource`; `extra` claims replace the managed-identity ones (a user's
        token: `authority.py`)."""
        now = int(time.time())
        exp = now + (self.lifetime if lifetime is None else lifetime)
        claims = {"aud": resource, "iss": self.issuer, "iat": now, "nbf": now, "exp": exp,
                  "oid": identity.principal_id, "sub": identity.principal_id, "appid": identity.client_id,
                  "tid": self.tenant_id, "idtyp": "app", "xms_mitype": identity.kind}
        if extra:
            claims = {k: v for k, v in claims.items() if k not in ("appid", "xms_mitype")} | extra
        return self.sign(claims), exp

    def sign(self, claims: dict) -> str:
        return jwt.encode(claims, self._key, algorithm="RS256", headers={"kid": "acrmagic-emulator"})

    # -- checking (every management call) -----------------------------------------------------------
    def verify(self, authorization: str | None) -> dict:
        """The token's claims, or an ArmError(401) with ARM's code for what is wrong."""
        if not authorization:
            raise _unauthorized("AuthenticationFailed", "Authentication failed. The 'Authorization' header is missing.")
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise _unauthorized("AuthenticationFailed",
                                "Authentication failed. The 'Authorization' header is provided in an invalid format.")
        try:
            # signature, issuer and audience first (a forged token is invalid whether expired or not)
            claims = jwt.decode(token.strip(), self._key.public_key(), algorithms=["RS256"],
                                audience=list(self.audiences), issuer=self.issuer,
                                options={"verify_exp": False, "require": ["exp", "aud", "iss", "oid"]})
        except jwt.InvalidAudienceError:
            aud = jwt.decode(token.strip(), options={"verify_signature": False}).get("aud")
            raise _unauthorized("InvalidAuthenticationTokenAudience",
                                f"The access token has been obtained for wrong audience or resource '{aud}'. It should "
                                f"exactly match with one of the allowed audiences {', '.join(map(repr, self.audiences))}.")
        except jwt.InvalidIssuerError:
            raise _unauthorized("InvalidAuthenticationTokenTenant",
                                f"The access token is from the wrong issuer. It must match the tenant "
                                f"'{self.issuer}' associated with this subscription.")
        except jwt.InvalidTokenError:
            raise _unauthorized("InvalidAuthenticationToken", "The access token is invalid.")
        now = time.time()
        if claims["exp"] <= now:
            raise _unauthorized("ExpiredAuthenticationToken",
                                f"The access token expiry UTC time '{_utc(claims['exp'])}' is earlier than "
                                f"current UTC time '{_utc(now)}'.")
        return claims

    # -- the endpoint -------------------------------------------------------------------------------
    async def token_endpoint(self, request: Request) -> JSONResponse:
        if not hmac.compare_digest(request.headers.get("x-identity-header", ""), self.header_secret):
            return _mi_error(401, "The X-IDENTITY-HEADER header is missing or does not match IDENTITY_HEADER.")
        q = request.query_params
        resource = q.get("resource")
        if not resource:
            return _mi_error(400, "The 'resource' query parameter is required.")
        identity = self.find(q.get("client_id"), q.get("principal_id") or q.get("object_id"))
        if identity is None:
            return _mi_error(400, "No Managed Identity found for specified ClientId/ResourceId/PrincipalId.")
        token, exp = self.issue(identity, resource)
        return JSONResponse({"access_token": token, "expires_on": str(exp), "resource": resource,
                             "token_type": "Bearer", "client_id": identity.client_id})


def _unauthorized(code: str, message: str) -> ArmError:
    return ArmError(401, code, message, headers={
        "WWW-Authenticate": f'Bearer authorization_uri="https://login.microsoftonline.com/", '
                            f'error="invalid_token", error_description="{message}"'})


def _mi_error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"statusCode": status, "message": message}, status_code=status)


def _utc(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, timezone.utc).strftime("%Y-%m-%d %H:%M:%S")
