"""Talking to the Docker Engine API: a few calls, as JSON values or streams of JSON messages.

Two transports behind one small class:
- `SocketEngine`, the standard library's http.client over the unix socket or plain tcp. It is the
  default because it costs nothing to import: `acrmagic build` starts in a fresh process every time,
  and importing the docker SDK (with requests) alone takes longer than a cached build.
- `SdkEngine`, the docker SDK, for everything else the SDK reaches (ssh://, tcp with TLS).

A request body is a JSON value (a dict), bytes, a binary file (streamed from where it stands, with its
length: a packed build context is a temporary file, never whole in memory), or an iterable of byte
chunks (sent chunked). Answers come back as JSON (`call`), a stream of JSON messages (`stream`), or raw
bytes as they arrive (`read`: an archive, a container's output). Every part of the project that talks
to the engine (builds, pushes, task steps, the BuildKit session, leftovers) goes through one `Engine`
from `connect()`, so one rule decides the engine's address, TLS and timeouts.
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

Body = Union[dict, bytes, BinaryIO, Iterable[bytes], None]
DEFAULT_TIMEOUT = 30  # seconds a plain call may take; streams (builds, pulls, followed output) have none


class Engine:
    host: str

    def call(self, method: str, path: str, params: dict | None = None, timeout: float | None = DEFAULT_TIMEOUT,
             body: Body = None):
        """One request; the decoded JSON answer (None for an empty body). EngineError for an error answer."""
        raise NotImplementedError

    def stream(self, method: str, path: str, params: dict | None = None, body: Body = None,
               headers: dict | None = None) -> Iterator[dict]:
        """One request whose answer is a stream of JSON messages, yielded as they arrive."""
        raise NotImplementedError

    def read(self, method: str, path: str, params: dict | None = None,
             timeout: float | None = None) -> Iterator[bytes]:
        """One request whose answer is raw bytes (an archive, a container's output), yielded as they arrive."""
        raise NotImplementedError


def _json_body(body: Body, headers: dict | None) -> tuple[Body, dict]:
    """A dict body as JSON, with its content type; any other body as it is."""
    headers = dict(headers or {})
    if isinstance(body, dict):
        headers.setdefault("Content-Type", "application/json")
        return json.dumps(body).encode(), headers
    return body, headers


def stream_error(message: dict) -> str | None:
    """What a streamed message (a build's, a push's, a pull's) says went wrong: `errorDetail.message`, else `error`."""
    return (message.get("errorDetail") or {}).get("message") or message.get("error")


def _error_message(data: bytes, status: int) -> str:
    """The engine's `message` in an error answer (or the answer's text)."""
    try:
        message = json.loads(data).get("message", "")
    except (ValueError, AttributeError):
        message = data.decode(errors="replace").strip()
    return message or f"HTTP {status}"


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

    def connection(self, timeout: float | None) -> http.client.HTTPConnection:
        """A connection of its own to the engine, not yet opened (the BuildKit session upgrades one)."""
        if self.host.startswith("unix://"):
            return _UnixConnection(self.host[len("unix://"):], timeout)
        hostport = self.host.split("://", 1)[1].rstrip("/")
        return http.client.HTTPConnection(hostport, timeout=timeout)

    def _request(self, method, path, params, body, headers, timeout):
        url = path + ("?" + urlencode(params, doseq=True) if params else "")
        body, headers = _json_body(body, headers)
        conn = self.connection(timeout)
        try:
            if body is None or isinstance(body, (bytes, bytearray, memoryview)):
                conn.request(method, url, body=body, headers=headers)
            else:
                _send_streamed(conn, method, url, body, headers)
            resp = conn.getresponse()
        except OSError as e:
            conn.close()
            raise EngineUnavailable(f"cannot reach the Docker engine at {self.host} ({e.strerror or e}): "
                                    f"{START_HINT}") from None
        if resp.status >= 400:
            data = resp.read()
            conn.close()
            raise EngineError(resp.status, _error_message(data, resp.status))
        return conn, resp

    def call(self, method, path, params=None, timeout=DEFAULT_TIMEOUT, body=None):
        conn, resp = self._request(method, path, params, body, None, timeout)
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

    def read(self, method, path, params=None, timeout=None):
        conn, resp = self._request(method, path, params, None, None, timeout)
        try:
            while chunk := resp.read1(1 << 16):
                yield chunk
        finally:
            conn.close()

    def ping(self) -> None:
        """Whether the engine answers at all (`/_ping` answers "OK", not JSON): EngineUnavailable if not."""
        conn, resp = self._request("GET", "/_ping", None, None, None, 10)
        resp.read()
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
    """The docker SDK's transport (ssh://, tcp:// with TLS, and whatever else it learns), through its
    public surface: `APIClient` is a requests Session that knows the engine's address and API version."""

    def __init__(self):
        import docker

        kwargs = docker.utils.kwargs_from_env()
        self.host = kwargs.get("base_url") or DEFAULT_HOST
        try:
            self.api = docker.APIClient(version="auto", timeout=60, **kwargs)
        except docker.errors.DockerException as e:
            reason = str(e).split("(")[0].strip().rstrip(":")
            raise EngineUnavailable(f"cannot reach the Docker engine at {self.host} ({reason}): {START_HINT}") from None

    def _request(self, method, path, params, body, headers, timeout, stream=False):
        import requests

        body, headers = _json_body(body, headers)
        url = f"{self.api.base_url}/v{self.api.api_version}{path}"
        try:
            resp = self.api.request(method, url, params=params, data=body, headers=headers, stream=stream,
                                    timeout=timeout)
        except requests.exceptions.ConnectionError as e:
            raise EngineUnavailable(f"lost the connection to the Docker engine at {self.host}: {e}") from None
        if resp.status_code >= 400:
            data = resp.content
            resp.close()
            raise EngineError(resp.status_code, _error_message(data, resp.status_code))
        return resp

    def call(self, method, path, params=None, timeout=DEFAULT_TIMEOUT, body=None):
        resp = self._request(method, path, params, body, None, timeout)
        return resp.json() if resp.content.strip() else None

    def _chunks(self, resp):
        import requests

        try:
            yield from resp.iter_content(chunk_size=None)  # each chunk as the engine sends it
        except (requests.exceptions.ConnectionError, requests.exceptions.ChunkedEncodingError) as e:  # cut short
            raise EngineUnavailable(f"lost the connection to the Docker engine at {self.host}: {e}") from None
        finally:
            resp.close()

    def stream(self, method, path, params=None, body=None, headers=None):
        from docker.utils.json_stream import json_stream  # messages split across chunks, joined again

        yield from json_stream(self._chunks(self._request(method, path, params, body, headers, None, stream=True)))

    def read(self, method, path, params=None, timeout=None):
        yield from self._chunks(self._request(method, path, params, None, None, timeout, stream=True))


_ANSWERED: dict[str, SocketEngine] = {}  # DOCKER_HOST -> its client, once the engine answered in this process


def connect() -> Engine:
    """The engine DOCKER_HOST names (default: the local unix socket). A plain socket's engine is checked
    to answer the first time a process asks for it; later calls return the same (stateless) client
    without asking again: a build's first request, the leftovers sweep before its run is recorded,
    finds an engine that has gone since. The docker SDK's client checks as it starts, every time."""
    host = os.environ.get("DOCKER_HOST") or DEFAULT_HOST
    tls = os.environ.get("DOCKER_TLS_VERIFY") or os.environ.get("DOCKER_CERT_PATH")
    plain = host.startswith("unix://") or (host.startswith("tcp://") and not tls)
    if os.environ.get("ACRMAGIC_ENGINE_CLIENT") == "sdk" or not plain:
        return SdkEngine()
    if host not in _ANSWERED:
        engine = SocketEngine(host)
        engine.ping()
        _ANSWERED[host] = engine
    return _ANSWERED[host]
