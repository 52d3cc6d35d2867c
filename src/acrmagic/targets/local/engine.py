"""Talking to the Docker Engine API: a few calls, as JSON values or streams of JSON messages.

Two transports behind one small class:
- `SocketEngine`, the standard library's http.client over the unix socket or plain tcp. It is the
  default because it costs nothing to import: `acrmagic build` starts in a fresh process every time,
  and importing the docker SDK (with requests) alone takes longer than a cached build.
- `SdkEngine`, the docker SDK, for everything else the SDK reaches (ssh://, tcp with TLS).

A request body is bytes, a binary file (streamed from where it stands, with its length: a packed
build context is a temporary file, never whole in memory), or an iterable of byte chunks (sent chunked).
"""

from __future__ import annotations

import base64
import http.client
import json
import os
import socket
import stat
from typing import BinaryIO, Iterable, Iterator, Union
from urllib.parse import urlencode

from ...errors import EngineError, EngineUnavailable

DEFAULT_HOST = "unix:///var/run/docker.sock"
START_HINT = "start the local stack with `./dev stack up` (or `acrmagic stack up`), or point DOCKER_HOST at an engine"
NO_AUTH = base64.urlsafe_b64encode(b"{}").decode()  # push: no registry credentials (loopback registries)

Body = Union[bytes, BinaryIO, Iterable[bytes], None]


class Engine:
    host: str

    def call(self, method: str, path: str, params: dict | None = None, timeout: float | None = 30):
        """One request; the decoded JSON answer (None for an empty body)."""
        raise NotImplementedError

    def stream(self, method: str, path: str, params: dict | None = None, body: Body = None,
               headers: dict | None = None) -> Iterator[dict]:
        """One request whose answer is a stream of JSON messages, yielded as they arrive."""
        raise NotImplementedError


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float | None):
        super().__init__("localhost", timeout=timeout)
        self.socket_path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self.socket_path)


class SocketEngine(Engine):
    def __init__(self, host: str):
        self.host = host

    def _connection(self, timeout: float | None) -> http.client.HTTPConnection:
        if self.host.startswith("unix://"):
            return _UnixConnection(self.host[len("unix://"):], timeout)
        hostport = self.host.split("://", 1)[1].rstrip("/")
        return http.client.HTTPConnection(hostport, timeout=timeout)

    def _request(self, method, path, params, body, headers, timeout):
        url = path + ("?" + urlencode(params, doseq=True) if params else "")
        conn = self._connection(timeout)
        try:
            if body is None or isinstance(body, (bytes, bytearray, memoryview)):
                conn.request(method, url, body=body, headers=headers or {})
            else:
                _send_streamed(conn, method, url, body, headers or {})
            resp = conn.getresponse()
        except OSError as e:
            conn.close()
            raise EngineUnavailable(f"cannot reach the Docker engine at {self.host} ({e.strerror or e}): "
                                    f"{START_HINT}") from None
        if resp.status >= 400:
            data = resp.read()
            conn.close()
            try:
                message = json.loads(data).get("message", "")
            except ValueError:
                message = data.decode(errors="replace").strip()
            raise EngineError(resp.status, message or f"HTTP {resp.status}")
        return conn, resp

    def call(self, method, path, params=None, timeout=30):
        conn, resp = self._request(method, path, params, None, None, timeout)
        try:
            data = resp.read()
        finally:
            conn.close()
        return json.loads(data) if data.strip() else None

    def stream(self, method, path, params=None, body=None, headers=None):
        conn, resp = self._request(method, path, params, body, headers, None)
        try:
            for line in resp:  # the engine ends every message with a newline
                if line.strip():
                    yield json.loads(line)
        finally:
            conn.close()


def _send_streamed(conn: http.client.HTTPConnection, method: str, url: str, body, headers: dict) -> None:
    """Send a file body with its length (zero-copy with sendfile where the socket allows), or an
    iterable chunked. An engine that answers before taking the whole body (an error) closes its end:
    its answer is still read by the caller."""
    conn.putrequest(method, url, skip_accept_encoding=True)
    for name, value in headers.items():
        conn.putheader(name, value)
    fileno = _fileno(body)
    if fileno is not None:
        offset = body.tell()
        conn.putheader("Content-Length", str(os.fstat(fileno).st_size - offset))
        conn.endheaders()
        try:
            conn.sock.sendfile(body, offset)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the engine stopped reading: its answer says why
        return
    conn.putheader("Transfer-Encoding", "chunked")
    conn.endheaders()
    try:
        for chunk in (iter(lambda: body.read(1 << 20), b"") if hasattr(body, "read") else body):
            if chunk:
                conn.send(b"%x\r\n" % len(chunk) + bytes(chunk) + b"\r\n")
        conn.send(b"0\r\n\r\n")
    except (BrokenPipeError, ConnectionResetError):
        pass


def _fileno(body) -> int | None:
    """The descriptor of a regular-file body (flushed), for its length and sendfile; else None."""
    try:
        fileno = body.fileno()
    except (AttributeError, OSError, ValueError):  # io.UnsupportedOperation is an OSError
        return None
    if hasattr(body, "flush"):
        body.flush()
    return fileno if stat.S_ISREG(os.fstat(fileno).st_mode) else None


class SdkEngine(Engine):
    """The docker SDK's transport (ssh://, tcp:// with TLS, and whatever else it learns)."""

    def __init__(self):
        import docker

        kwargs = docker.utils.kwargs_from_env()
        self.host = kwargs.get("base_url") or DEFAULT_HOST
        try:
            self.api = docker.APIClient(version="auto", timeout=60, **kwargs)
        except docker.errors.DockerException as e:
            reason = str(e).split("(")[0].strip().rstrip(":")
            raise EngineUnavailable(f"cannot reach the Docker engine at {self.host} ({reason}): {START_HINT}") from None

    def _wrap(self, fn):
        import docker
        import requests

        try:
            return fn()
        except docker.errors.APIError as e:
            raise EngineError(e.status_code or 500, e.explanation or str(e)) from None
        except requests.exceptions.ConnectionError as e:
            raise EngineUnavailable(f"lost the connection to the Docker engine at {self.host}: {e}") from None

    def call(self, method, path, params=None, timeout=30):
        def go():
            r = getattr(self.api, "_" + method.lower())(self.api._url(path), params=params, timeout=timeout)
            self.api._raise_for_status(r)
            return r.json() if r.content.strip() else None
        return self._wrap(go)

    def stream(self, method, path, params=None, body=None, headers=None):
        resp = self._wrap(lambda: getattr(self.api, "_" + method.lower())(
            self.api._url(path), data=body, params=params, headers=headers, stream=True, timeout=None))
        self._wrap(lambda: self.api._raise_for_status(resp))
        try:
            yield from self.api._stream_helper(resp, decode=True)
        finally:
            resp.close()


def connect() -> Engine:
    """The engine DOCKER_HOST names (default: the local unix socket), checked to answer."""
    host = os.environ.get("DOCKER_HOST") or DEFAULT_HOST
    tls = os.environ.get("DOCKER_TLS_VERIFY") or os.environ.get("DOCKER_CERT_PATH")
    plain = host.startswith("unix://") or (host.startswith("tcp://") and not tls)
    if os.environ.get("ACRMAGIC_ENGINE_CLIENT") == "sdk" or not plain:
        return SdkEngine()
    engine = SocketEngine(host)
    conn, resp = engine._request("GET", "/_ping", None, None, None, 10)  # answers "OK", not JSON
    resp.read()
    conn.close()
    return engine
