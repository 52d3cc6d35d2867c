"""A small reader of the registry HTTP API (Distribution v2): manifest digests.

Used to record which digest a base image resolved to, and by tests as a client independent of the
engine to check that what a run says it pushed is really in the registry. The standard library's
http.client: this is on every build's path, and `requests` alone takes longer to import than a HEAD
takes to answer.
"""

from __future__ import annotations

import http.client
from urllib.parse import quote

from .errors import RegistryError

MANIFEST_TYPES = ", ".join([
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
])


def manifest_digest(registry: str, repository: str, reference: str, timeout: float = 5) -> str | None:
    """The Docker-Content-Digest of repository:reference, or None when the registry has no such manifest.

    Plain HTTP: only loopback registries are read this way (as Docker treats them as insecure too).
    Raises RegistryError (an OSError) when the registry cannot be reached or refuses."""
    path = f"/v2/{quote(repository, safe='/')}/manifests/{quote(reference, safe=':')}"
    try:
        conn = http.client.HTTPConnection(registry, timeout=timeout)
        try:
            conn.request("HEAD", path, headers={"Accept": MANIFEST_TYPES})
            resp = conn.getresponse()
            resp.read()
        finally:
            conn.close()
    except (OSError, http.client.HTTPException, ValueError) as e:  # refused, timed out, a malformed address
        raise RegistryError(f"cannot read {registry}{path}: {e}") from None
    if resp.status == 404:
        return None
    if resp.status >= 400:
        raise RegistryError(f"{registry}{path}: HTTP {resp.status} {resp.reason}", resp.status)
    return resp.getheader("Docker-Content-Digest")
