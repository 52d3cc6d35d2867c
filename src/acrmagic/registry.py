"""A small reader of the registry HTTP API (Distribution v2): manifest digests.

Used to record which digest a base image resolved to, and by tests as a client independent of the
engine to check that what a run says it pushed is really in the registry.
"""

from __future__ import annotations

import requests

MANIFEST_TYPES = ", ".join([
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
])


def manifest_digest(registry: str, repository: str, reference: str, timeout: float = 5) -> str | None:
    """The Docker-Content-Digest of repository:reference, or None when the registry has no such manifest.

    Plain HTTP: only loopback registries are read this way (as Docker treats them as insecure too).
    """
    url = f"http://{registry}/v2/{repository}/manifests/{reference}"
    resp = requests.head(url, headers={"Accept": MANIFEST_TYPES}, timeout=timeout)
    if resp.status_code == 404:
        return None
    resp.raise_for_status()
    return resp.headers.get("Docker-Content-Digest")
