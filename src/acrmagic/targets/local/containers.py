"""Containers, volumes and images on the engine, as the task steps use them: Engine API calls through the
project's one `Engine` (engine.py), so a step's container reaches the same engine, over the same
transport, as the builds beside it.

What the docker CLI and SDK would add is left out: no TTY (a container's output arrives multiplexed,
8-byte frame headers before each piece, and is read back apart here), no networks created.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from typing import BinaryIO, Iterator
from urllib.parse import quote

from ... import refs
from ...errors import EngineError
from .engine import Engine, stream_error

NOT_FOUND = 404


def _name(text: str) -> str:
    """A name in a request's path, quoted as the docker SDK quotes it: an image or volume name a task file
    gave stays one path segment's worth of text (`?`, `#`, `%` and spaces cannot change the request)."""
    return quote(text, safe="/:")


@dataclass
class ContainerSpec:
    """What `POST /containers/create` is given: the few settings a task step's container uses."""

    image: str
    cmd: list[str] | None = None
    name: str | None = None
    env: list[str] = field(default_factory=list)
    workdir: str | None = None
    entrypoint: str | list[str] | None = None  # a string is split as a shell would (as the docker SDK does)
    user: str | None = None
    privileged: bool = False
    binds: dict[str, str] = field(default_factory=dict)  # volume name or host path -> path in the container
    labels: dict[str, str] = field(default_factory=dict)
    network_mode: str | None = None
    extra_hosts: dict[str, str] = field(default_factory=dict)  # host name -> address

    def body(self) -> dict:
        entrypoint = shlex.split(self.entrypoint) if isinstance(self.entrypoint, str) else self.entrypoint
        host = {"Binds": [f"{source}:{target}:rw" for source, target in self.binds.items()],
                "Privileged": self.privileged, "NetworkMode": self.network_mode or "default"}
        if self.extra_hosts:
            host["ExtraHosts"] = [f"{name}:{address}" for name, address in sorted(self.extra_hosts.items())]
        out = {"Image": self.image, "Env": self.env, "Labels": self.labels, "HostConfig": host}
        for key, value in (("Cmd", self.cmd), ("WorkingDir", self.workdir), ("Entrypoint", entrypoint),
                           ("User", self.user)):
            if value:
                out[key] = value
        return out


def create(engine: Engine, spec: ContainerSpec) -> str:
    """Create (not start) a container; its ID."""
    return engine.call("POST", "/containers/create", {"name": spec.name} if spec.name else None, body=spec.body())["Id"]


def start(engine: Engine, container: str) -> None:
    engine.call("POST", f"/containers/{_name(container)}/start")


def kill(engine: Engine, container: str) -> None:
    engine.call("POST", f"/containers/{_name(container)}/kill")


def remove(engine: Engine, container: str) -> None:
    """Remove a container, running or not, with its anonymous volumes."""
    engine.call("DELETE", f"/containers/{_name(container)}", {"force": "1", "v": "1"})


def exit_code(engine: Engine, container: str) -> int | None:
    """The container's exit code once it has stopped; None while it runs (or has not started)."""
    state = engine.call("GET", f"/containers/{_name(container)}/json")["State"]
    return None if state.get("Status") in ("created", "running", "paused", "restarting") else state["ExitCode"]


def output(engine: Engine, container: str, follow: bool = False) -> Iterator[bytes]:
    """The container's stdout and stderr, in order, as they arrive (followed: until it stops)."""
    params = {"stdout": "1", "stderr": "1", "follow": "1" if follow else "0"}
    yield from demultiplex(engine.read("GET", f"/containers/{_name(container)}/logs", params))


def demultiplex(chunks) -> Iterator[bytes]:
    """A non-TTY container's output stream without its frame headers ([stream, 0, 0, 0, size32be])."""
    buffer = bytearray()
    for chunk in chunks:
        buffer += chunk
        while len(buffer) >= 8:
            size = int.from_bytes(buffer[4:8], "big")
            if len(buffer) < 8 + size:
                break
            if size:
                yield bytes(buffer[8:8 + size])
            del buffer[:8 + size]


def put_archive(engine: Engine, container: str, path: str, tar: bytes | BinaryIO) -> None:
    """Unpack a tar (bytes, or a file streamed from where it stands) at `path` in the container."""
    engine.call("PUT", f"/containers/{_name(container)}/archive", {"path": path}, timeout=None, body=tar)


def get_archive(engine: Engine, container: str, path: str) -> Iterator[bytes]:
    """`path` in the container as a tar, in chunks as they arrive."""
    return engine.read("GET", f"/containers/{_name(container)}/archive", {"path": path})


def create_volume(engine: Engine, name: str, labels: dict[str, str]) -> str:
    return engine.call("POST", "/volumes/create", body={"Name": name, "Labels": labels})["Name"]


def remove_volume(engine: Engine, name: str) -> None:
    engine.call("DELETE", f"/volumes/{_name(name)}", {"force": "1"})


def has_image(engine: Engine, image: str) -> bool:
    try:
        engine.call("GET", f"/images/{_name(image)}/json")
    except EngineError as e:
        if e.status == NOT_FOUND:
            return False
        raise
    return True


def pull(engine: Engine, image: str) -> None:
    """Pull `image` (`:latest` when it names no tag or digest); EngineError with the registry's reason."""
    for message in engine.stream("POST", "/images/create", {"fromImage": refs.with_default_tag(image)}):
        if "error" in message or "errorDetail" in message:
            raise EngineError(500, stream_error(message))
