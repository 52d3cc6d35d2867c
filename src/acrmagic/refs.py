"""Image references: the one place that knows Docker's grammar of `[registry/]repository[:tag][@digest]`.

A name carries a registry host when its first path component has a `.` or a `:` or is `localhost`
(Docker's rule); otherwise it is a Docker Hub name (`python` is `docker.io/library/python`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from . import acrspec
from .errors import UsageError, quoted

DOCKER_HUB = "docker.io"
#: Docker's limit on a name (registry host and repository path together), distribution/reference's NameTotalLengthMax
NAME_MAX = 255
#: an ACR registry is named by 5-50 letters and digits (its login server adds .azurecr.io)
ACR_NAME = acrspec.REGISTRY_NAME
ACR_SUFFIX = ".azurecr.io"

_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_HOST = r"(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*(?::[0-9]+)?)"
_TAG = r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}"
_DIGEST = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}"
_REFERENCE = re.compile(rf"^(?:(?P<host>{_HOST})/)?(?P<repo>{_COMPONENT}(?:/{_COMPONENT})*)"
                        rf"(?::(?P<tag>{_TAG}))?(?:@(?P<digest>{_DIGEST}))?$")


def has_registry(name: str) -> bool:
    """Does `name` start with a registry host (Docker's rule)?"""
    first, sep, _ = name.partition("/")
    return bool(sep) and ("." in first or ":" in first or first == "localhost")


@dataclass(frozen=True)
class ImageRef:
    registry: str  # host[:port]; docker.io for Docker Hub names
    repository: str  # library/python for official images
    tag: str | None = None
    digest: str | None = None

    @property
    def name(self) -> str:
        return f"{self.registry}/{self.repository}"

    def __str__(self) -> str:
        return self.name + (f":{self.tag}" if self.tag else "") + (f"@{self.digest}" if self.digest else "")

    @property
    def reference(self) -> str:
        """What a registry's manifest endpoint takes: the digest when there is one, else the tag."""
        return self.digest or self.tag or "latest"


def parse(text: str, *, default_registry: str = DOCKER_HUB) -> ImageRef:
    """Split a reference; a name without a registry gets `default_registry` (Docker Hub names get
    `library/` for one-component repositories). Raises ValueError for what Docker would refuse."""
    qualified = text if has_registry(text) else f"{default_registry}/{text}"
    m = _REFERENCE.fullmatch(qualified)
    if not m or not m.group("host"):
        raise ValueError(f"{quoted(text)} is not a valid image reference")
    host, repo = m.group("host"), m.group("repo")
    if len(f"{host}/{repo}") > NAME_MAX:
        raise ValueError(f"{quoted(text)}: an image name is at most {NAME_MAX} characters (registry and repository)")
    if host == DOCKER_HUB and "/" not in repo:
        repo = f"library/{repo}"
    return ImageRef(host, repo, m.group("tag"), m.group("digest"))


def normalize(text: str) -> str:
    """Docker's full form: `python:3.11` -> `docker.io/library/python:3.11`; no tag means `latest`."""
    ref = parse(text)
    if ref.tag is None and ref.digest is None:
        ref = ImageRef(ref.registry, ref.repository, "latest")
    return str(ref)


def qualify(name: str, registry: str) -> str:
    """`name` with `registry` in front when it names none (as `az acr build -t` reads an image name)."""
    return name if has_registry(name) else f"{registry}/{name}"


def with_default_tag(name: str) -> str:
    """`name:latest` when `name` has neither tag nor digest."""
    ref_part = name.rsplit("/", 1)[-1]
    return name if ":" in ref_part or "@" in name else name + ":latest"


def is_acr_name(registry: str) -> bool:
    """`myreg` or `myreg.azurecr.io` (any case): the name of an ACR registry."""
    name = registry[:-len(ACR_SUFFIX)] if registry.lower().endswith(ACR_SUFFIX) else registry
    return bool(ACR_NAME.fullmatch(name)) and name.lower() != "localhost"


def check_registry(text, what: str) -> str:
    """A registry as `-r` / `use` take it: an ACR registry name (5-50 letters and digits, optionally with
    .azurecr.io), or the address of another registry as Docker reads one (`host.domain[:port]`,
    `localhost[:port]`, `host:port`). Anything else is a UsageError: one line naming `what`."""
    if isinstance(text, str) and (is_acr_name(text) or (_HOST_RE.fullmatch(text) and has_registry(text + "/x")
                                                        and not text.lower().endswith(ACR_SUFFIX))):
        return text
    raise UsageError(f"{what}: {quoted(text)} is not a registry: give an ACR registry name (5 to 50 letters and "
                     "digits) or a registry address such as localhost:5000")


_HOST_RE = re.compile(_HOST)

