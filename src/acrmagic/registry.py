"""A small reader of the registry HTTP API (Distribution v2): manifest digests, an image's labels.

Used to record which digest a base image resolved to, and by tests as a client independent of the
engine to check that what a run says it pushed is really in the registry. The standard library's
http.client: this is on every build's path, and `requests` alone takes longer to import than a HEAD
takes to answer.
"""

from __future__ import annotations

import http.client
import json
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


def _get_json(registry: str, path: str, accept: str, timeout: float) -> dict | None:
    try:
        conn = http.client.HTTPConnection(registry, timeout=timeout)
        try:
            conn.request("GET", path, headers={"Accept": accept})
            resp = conn.getresponse()
            body = resp.read()
        finally:
            conn.close()
    except (OSError, http.client.HTTPException, ValueError) as e:
        raise RegistryError(f"cannot read {registry}{path}: {e}") from None
    if resp.status == 404:
        return None
    if resp.status >= 400:
        raise RegistryError(f"{registry}{path}: HTTP {resp.status} {resp.reason}", resp.status)
    try:
        return json.loads(body)
    except ValueError:
        raise RegistryError(f"{registry}{path}: the answer is not JSON") from None


def image_labels(registry: str, repository: str, reference: str, timeout: float = 5) -> dict | None:
    """The labels in the image config of repository:reference (for an index: its linux/amd64 image,
    else its first), or None when the registry has no such manifest. Loopback registries only, as above."""
    repo = quote(repository, safe="/")
    manifest = _get_json(registry, f"/v2/{repo}/manifests/{quote(reference, safe=':')}", MANIFEST_TYPES, timeout)
    if manifest is None:
        return None
    if "manifests" in manifest:  # an index: one image of it
        entries = manifest["manifests"] or []
        chosen = next((m for m in entries if (m.get("platform") or {}).get("architecture") == "amd64"), None)
        chosen = chosen or (entries[0] if entries else None)
        if chosen is None:
            return {}
        manifest = _get_json(registry, f"/v2/{repo}/manifests/{chosen['digest']}", MANIFEST_TYPES, timeout) or {}
    config_digest = (manifest.get("config") or {}).get("digest")
    if not config_digest:
        return {}
    config = _get_json(registry, f"/v2/{repo}/blobs/{config_digest}", "*/*", timeout) or {}
    return (config.get("config") or {}).get("Labels") or {}
