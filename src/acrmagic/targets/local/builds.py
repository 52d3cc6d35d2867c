"""Images on a Docker engine (see `engine.py`): builds through BuildKit, pushes, cancels.

`POST /build?version=2` naming a BuildKit session (`session/`: BuildKit reads the context and the
Dockerfile through it, only what changed since the last build), or with the packed context as the
request body where there is no session (the engine has none, or a task step's context). No buildx
plugin needed; progress arrives as `moby.buildkit.trace` messages (see `buildkit.py`).
Any engine the docker SDK reaches works: DOCKER_HOST with unix://, tcp:// (+ DOCKER_TLS_VERIFY) or ssh://.
"""

from __future__ import annotations

import http.client
import json
import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable

from ... import refs
from ...context import BuildContext
from ...errors import BuildFailed, EngineError, EngineLost, EngineUnavailable
from ...events import Emit, LogEvent
from ...retry import PushRetry
from .buildkit import TraceDecoder
from .engine import NO_AUTH, Engine, connect, stream_error

if TYPE_CHECKING:
    from .session import BuildSession


#: the label the local stack's offline stand-ins carry (devstack builds them; the library only reads it)
STAND_IN_LABEL = "org.acrmagic.offline-stand-in"

#: every push gets three attempts, with these back-offs between them (acr-builder's push policy)
PUSH_RETRY = PushRetry(3, (0.25, 0.5, 1.0))

_MIRRORS: dict[str, list[str]] = {}  # engine host -> its registry mirrors (asked once in a process)
_NETWORK_MODES: dict[str, str] = {}  # engine host -> "host" (no default bridge) or "default"
_STAND_INS: dict[tuple, str | None] = {}  # (mirror, repository, digest) -> the stand-in label, or None


def new_build_id() -> str:
    return os.urandom(16).hex()


@dataclass
class BuildRequest:
    context: BuildContext | None  # the packed context, sent as the body; None when `session` serves it
    tags: list[str] = field(default_factory=list)
    build_args: dict[str, str] = field(default_factory=dict)
    target: str | None = None
    platform: str | None = None
    no_cache: bool = False
    labels: dict[str, str] = field(default_factory=dict)
    session: "BuildSession | None" = None  # an open session serving `context` and `dockerfile` folders
    dockerfile: str | None = None  # with a session: the Dockerfile's name in the `dockerfile` folder


@dataclass
class BuildResult:
    image_id: str
    base_digest: "Callable[[str], str | None]" = lambda ref: None  # normalized base ref -> digest the build used


class EngineBuilder:
    def __init__(self, engine: Engine | None = None):
        self.engine = engine or connect()

    @property
    def network_mode(self) -> str:
        """`host` when the engine has no default bridge (as this project starts it), else `default`."""
        if self.engine.host not in _NETWORK_MODES:  # asked once per engine in a process
            nets = self.engine.call("GET", "/networks", {"filters": json.dumps({"name": ["bridge"]})})
            _NETWORK_MODES[self.engine.host] = "default" if any(n.get("Name") == "bridge" for n in nets) else "host"
        return _NETWORK_MODES[self.engine.host]

    # -- build -------------------------------------------------------------------------------------
    def build(self, request: BuildRequest, emit: Emit, build_id: str) -> BuildResult:
        """Build; `build_id` (see `new_build_id`) is how `cancel` names this build, from any process.
        On KeyboardInterrupt, cancel the engine's work and re-raise."""
        params = {"version": "2", "buildid": build_id, "networkmode": self.network_mode, "rm": "1", "forcerm": "1"}
        if request.session is not None:
            params.update(remote="client-session", session=request.session.id, dockerfile=request.dockerfile)
            body, headers = None, None
        else:
            params["dockerfile"] = request.context.dockerfile
            body, headers = request.context.tar, {"Content-Type": "application/x-tar"}
        if request.tags:
            params["t"] = request.tags
        if request.build_args:
            params["buildargs"] = json.dumps(request.build_args)
        if request.labels:
            params["labels"] = json.dumps(request.labels)
        if request.target:
            params["target"] = request.target
        if request.platform:
            params["platform"] = request.platform
        if request.no_cache:
            params["nocache"] = "1"
        decoder = TraceDecoder(emit)
        image_id, error = None, None
        try:
            for ev in self.engine.stream("POST", "/build", params, body=body, headers=headers):
                if ev.get("id") == "moby.buildkit.trace":
                    decoder.feed(ev["aux"])
                elif ev.get("id") == "moby.image.id":
                    image_id = ev["aux"]["ID"]
                elif "errorDetail" in ev or "error" in ev:
                    error = stream_error(ev)
        except KeyboardInterrupt:
            self.cancel(build_id)
            raise
        except EngineError as e:
            raise BuildFailed(e.message) from None
        except (OSError, EngineUnavailable) as e:
            raise self.lost("the build", e) from None
        except (http.client.HTTPException, ValueError) as e:  # a stream cut mid-message, if the engine is gone
            if self.engine_gone():
                raise self.lost("the build", e) from None
            raise
        if not error and not image_id and self.engine_gone():
            raise self.lost("the build", None)  # the stream ended because the engine stopped or died
        if error or not image_id:
            code = decoder.failures[0].exit_code if decoder.failures else None
            raise BuildFailed(error or "the engine finished the build without an image", exit_code=code)
        return BuildResult(image_id=image_id, base_digest=decoder.base_digest)

    def engine_gone(self) -> bool:
        """Whether the engine no longer answers (asked once a stream broke or ended without its outcome)."""
        try:
            self.engine.call("GET", "/version", timeout=5)
        except (OSError, EngineUnavailable, http.client.HTTPException, ValueError):
            return True
        except EngineError:
            return False
        return False

    def lost(self, what: str, cause: Exception | None) -> EngineLost:
        gone = cause is None or isinstance(cause, EngineUnavailable)
        why = "the engine stopped answering" if gone else (str(cause) or type(cause).__name__)
        return EngineLost(f"lost the connection to the Docker engine at {self.engine.host} during {what} ({why})")

    def cancel(self, build_id: str) -> None:
        try:
            self.engine.call("POST", "/build/cancel", {"id": build_id}, timeout=10)
        except (EngineError, EngineUnavailable, OSError):
            pass  # the build may be gone already

    # -- push --------------------------------------------------------------------------------------
    def push(self, ref: str, emit: Emit) -> str:
        repo, _, tag = ref.rpartition(":")
        digest = None
        try:
            for ev in self.engine.stream("POST", f"/images/{repo}/push", {"tag": tag},
                                         headers={"X-Registry-Auth": NO_AUTH}):
                if "error" in ev or "errorDetail" in ev:
                    raise BuildFailed(f"push of {ref} failed: {stream_error(ev)}")
                status = ev.get("status", "")
                if status in ("Pushed", "Layer already exists") or status.startswith("Mounted from"):
                    emit(LogEvent(f"push {ref}: {ev.get('id', '')} {status}"))
                digest = (ev.get("aux") or {}).get("Digest") or digest
        except EngineError as e:
            raise BuildFailed(f"push of {ref} failed: {e.message}") from None
        except (OSError, EngineUnavailable) as e:
            raise self.lost(f"the push of {ref}", e) from None
        except (http.client.HTTPException, ValueError) as e:  # a stream cut mid-message, if the engine is gone
            if self.engine_gone():
                raise self.lost(f"the push of {ref}", e) from None
            raise
        if not digest and self.engine_gone():
            raise self.lost(f"the push of {ref}", None)
        if not digest:
            raise BuildFailed(f"push of {ref} failed: the registry returned no digest")
        return digest

    def _mirrors(self) -> list[str]:
        """The engine's registry mirrors: asked once per engine in a process (`/info` is one of the
        engine's slower answers, and a build asked it twice: for the base's digest and its labels)."""
        if self.engine.host not in _MIRRORS:
            _MIRRORS[self.engine.host] = (self.engine.call("GET", "/info").get("RegistryConfig") or {}).get("Mirrors") or []
        return _MIRRORS[self.engine.host]

    def _loopback_hosts(self, ref: refs.ImageRef) -> list[str]:
        """Where to read `ref` from: for docker.io images the engine's loopback mirrors, else its own
        registry when that is on loopback. Other registries are not asked: this machine talks to loopback only."""
        if ref.registry == refs.DOCKER_HUB:
            hosts = [m.split("://", 1)[-1].rstrip("/") for m in self._mirrors()]
        else:
            hosts = [ref.registry]
        return [h for h in hosts if h.split(":")[0] in ("localhost", "127.0.0.1")]

    def resolve_base_digest(self, image: str) -> str | None:
        """Read the digest from a loopback registry (see `_loopback_hosts`)."""
        from ...registry import manifest_digest

        ref = refs.parse(image)
        for host in self._loopback_hosts(ref):
            try:
                digest = manifest_digest(host, ref.repository, ref.reference)
            except OSError:  # the registry is down or refuses: the record says "unknown", the build goes on
                continue
            if digest:
                return digest
        return None

    def stand_in(self, image: str, digest: str | None) -> str | None:
        """What an offline stand-in says it is (its `org.acrmagic.offline-stand-in` label), when the base
        image is a Docker Hub name the engine read from a loopback mirror holding a stand-in; None for a
        real image. (An image built on a stand-in inherits the label, but is not a stand-in itself.)"""
        from ...registry import image_labels

        ref = refs.parse(image)
        if ref.registry != refs.DOCKER_HUB:
            return None
        for host in self._loopback_hosts(ref):
            key = (host, ref.repository, digest)
            if digest and key in _STAND_INS:  # a digest's labels never change
                return _STAND_INS[key]
            try:
                labels = image_labels(host, ref.repository, digest or ref.reference)
            except OSError:
                continue
            if labels is not None:
                if digest:
                    _STAND_INS[key] = labels.get(STAND_IN_LABEL)
                return labels.get(STAND_IN_LABEL)
        return None
