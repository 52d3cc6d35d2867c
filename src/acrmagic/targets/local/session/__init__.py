"""A BuildKit session for local builds: what the docker CLI opens beside `POST /build`.

    POST /session (Upgrade: h2c) -> 101 -> the engine speaks HTTP/2 to us as a gRPC client, and we serve:
      moby.filesync.v1.FileSync/DiffCopy     the context and the Dockerfile, only what changed (filesync.py)
      moby.filesync.v1.Auth/Credentials      registry logins from the docker CLI's config (attachables.py)
      moby.buildkit.secrets.v1.Secrets/GetSecret     `RUN --mount=type=secret` values, from memory only
      moby.sshforward.v1.SSH/CheckAgent, /ForwardAgent    `RUN --mount=type=ssh`, where SSH_AUTH_SOCK exists
      grpc.health.v1.Health/Check            BuildKit drops a session that stops answering this (every second)
    then `POST /build?remote=client-session&session=ID` names it.

gRPC and HTTP/2 are grpclib's (with h2); the hijack and the messages (wire.py) are the glue written
here. The server runs on an asyncio loop in a thread of its own while the caller streams the build.
As the docker CLI does, the build is posted as soon as the engine has taken the session (its 101):
the engine holds what it sends on the connection until the server, still starting in its thread
(the first build of a process imports grpclib, h2 and asyncio there), reads it.
An engine that refuses the upgrade (no session support) gets `None` from `open_session`, and the
caller sends the packed context as before.
"""

from __future__ import annotations

import hashlib
import os
import socket
import threading
from dataclasses import dataclass, field

from ....errors import EngineUnavailable

#: the headers the engine reads the session from (moby/buildkit session/session.go)
_H_ID, _H_NAME, _H_KEY, _H_METHOD = ("X-Docker-Expose-Session-Uuid", "X-Docker-Expose-Session-Name",
                                     "X-Docker-Expose-Session-Sharedkey", "X-Docker-Expose-Session-Grpc-Method")


@dataclass
class SyncedDir:
    """A folder BuildKit may read (`root`), or a few files held in memory (`files`: an inline Dockerfile)."""

    root: str | None = None
    files: dict[str, bytes] = field(default_factory=dict)
    listing: tuple | None = None  # (excludes, [(Stat, path)]): the walk made for the run record, served from


@dataclass
class Served:
    """What the session sent: the tests and benchmarks count it."""

    files: int = 0
    bytes: int = 0
    requests: list[str] = field(default_factory=list)  # dir-name of each DiffCopy, in order


def shared_key(root: str) -> str:
    """Names the folder to the engine across builds, so BuildKit keeps one copy of it to diff against
    (the docker CLI: a hash of the folder's path and the machine)."""
    return hashlib.sha256(f"acrmagic:{socket.gethostname()}:{os.path.realpath(root)}".encode()).hexdigest()


def import_server() -> None:
    """Import what serving takes (asyncio, grpclib with h2: the larger part of a fresh process's start-up),
    so that a caller can have it done in a thread while it walks the folder and records the run."""
    import asyncio  # noqa: F401
    import logging  # noqa: F401

    from grpclib.server import Server  # noqa: F401

    from . import attachables  # noqa: F401


class BuildSession:
    def __init__(self, dirs: dict[str, SyncedDir], *, name: str, key: str, secrets: dict[str, bytes] | None = None,
                 ssh_agent: str | None = None):
        self.id = os.urandom(16).hex()
        self.name, self.key = name, key
        self.dirs, self.secrets, self.ssh_agent = dirs, dict(secrets or {}), ssh_agent
        self.served = Served()
        self._loop = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._transport = None
        self.failure: BaseException | None = None

    def methods(self) -> list[str]:
        from .attachables import methods

        return methods(self)

    def open(self, engine) -> bool:
        """Hijack a connection to `engine` and start serving on it (the server starts in its thread:
        `failure` says, after the build, if it could not); False if the engine has no session endpoint
        (or is reached through a transport this cannot hijack)."""
        sock = _hijack(engine, {_H_ID: self.id, _H_NAME: self.name, _H_KEY: self.key}, self.methods())
        if sock is None:
            return False
        self._thread = threading.Thread(target=self._serve, args=(sock, self._ready), name="acrmagic-session",
                                        daemon=True)
        self._thread.start()
        return True

    def _serve(self, sock: socket.socket, ready: threading.Event) -> None:
        loop = None
        try:
            import asyncio
            import logging

            from grpclib.server import Server

            from .attachables import RawCodec, handlers

            logging.getLogger("grpclib").addHandler(logging.NullHandler())
            logging.getLogger("grpclib").propagate = False  # a refused request is answered, not printed
            loop = self._loop = asyncio.new_event_loop()
            asyncio.set_event_loop(loop)
            server = Server(handlers(self), codec=RawCodec())
            # grpclib serves a listening socket; this connection is one the engine made for us (hijacked)
            self._transport, _ = loop.run_until_complete(
                loop.connect_accepted_socket(server._protocol_factory, sock=sock))
        except BaseException as e:  # noqa: BLE001 -- kept for the build's outcome (`failure`)
            self.failure = e
            sock.close()  # the engine sees the session end, and the build that names it fails
            if loop is not None:
                loop.close()
            ready.set()
            return
        ready.set()
        try:
            loop.run_forever()
        finally:
            for task in asyncio.all_tasks(loop):
                task.cancel()
            loop.run_until_complete(asyncio.sleep(0))
            loop.close()

    def close(self) -> None:
        """End the session: the engine forgets it, the thread ends."""
        if self._thread is None:
            return
        self._ready.wait(60)  # a server still starting: stopped once it runs
        if self._loop is None or self._loop.is_closed():
            self._thread.join(10)
            self._thread = None
            return

        def stop():
            if self._transport is not None:
                self._transport.close()
            self._loop.call_soon(self._loop.stop)

        try:
            self._loop.call_soon_threadsafe(stop)
        except RuntimeError:  # the loop has ended already
            pass
        self._thread.join(10)
        self._thread = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _hijack(engine, headers: dict[str, str], methods: list[str]) -> socket.socket | None:
    """`POST /session` upgraded to h2c on a connection of our own; the raw socket, or None when the
    engine answers anything but 101 (it has no sessions) or the transport is not a plain socket."""
    from ..engine import SocketEngine

    if not isinstance(engine, SocketEngine):  # ssh:// and TLS go through the docker SDK: no session there
        return None
    conn = engine.connection(None)
    try:
        conn.connect()
    except OSError as e:
        raise EngineUnavailable(f"cannot reach the Docker engine at {engine.host} ({e.strerror or e})") from None
    sock = conn.sock
    lines = ["POST /session HTTP/1.1", "Host: docker", "Upgrade: h2c", "Connection: Upgrade", "Content-Length: 0"]
    lines += [f"{k}: {v}" for k, v in headers.items()] + [f"{_H_METHOD}: {m}" for m in methods]
    try:
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        head = _read_head(sock)
    except OSError:
        sock.close()
        return None
    status = head.split(b"\r\n", 1)[0].split(b" ")
    if len(status) < 2 or status[1] != b"101":
        sock.close()
        return None
    sock.settimeout(None)
    return sock


def _read_head(sock: socket.socket) -> bytes:
    """The response head, and not one byte more: what follows is the engine's HTTP/2 preface."""
    sock.settimeout(30)
    seen = b""
    while True:
        peek = sock.recv(4096, socket.MSG_PEEK)
        if not peek:
            raise ConnectionError("the engine closed the connection")
        end = (seen + peek).find(b"\r\n\r\n")
        if end >= 0:
            take = end + 4 - len(seen)
            seen += sock.recv(take, socket.MSG_WAITALL)
            return seen
        seen += sock.recv(len(peek))
