"""The gRPC services a build session offers the engine (grpclib handlers over our own messages)."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import subprocess

from grpclib.const import Cardinality, Handler, Status
from grpclib.encoding.base import CodecBase
from grpclib.exceptions import GRPCError

from . import filesync, wire

_CHUNK = 1 << 20  # bytes of a file per DATA packet: well under gRPC's 4 MiB message limit
_BATCH = 256 << 10  # bytes of STAT packets sent in one write

DIFF_COPY = "/moby.filesync.v1.FileSync/DiffCopy"
CREDENTIALS = "/moby.filesync.v1.Auth/Credentials"
GET_SECRET = "/moby.buildkit.secrets.v1.Secrets/GetSecret"
CHECK_AGENT = "/moby.sshforward.v1.SSH/CheckAgent"
FORWARD_AGENT = "/moby.sshforward.v1.SSH/ForwardAgent"
HEALTH = "/grpc.health.v1.Health/Check"


class RawCodec(CodecBase):
    """Messages pass as bytes: wire.py writes and reads them."""

    __content_subtype__ = "proto"

    def encode(self, message, message_type) -> bytes:
        return message

    def decode(self, data: bytes, message_type) -> bytes:
        return data


def methods(session) -> list[str]:
    out = [HEALTH, DIFF_COPY, CREDENTIALS, GET_SECRET]
    if session.ssh_agent:
        out += [CHECK_AGENT, FORWARD_AGENT]
    return out


class _Services:
    def __init__(self, session):
        self.session = session

    def __mapping__(self):
        s = self.session
        mapping = {
            HEALTH: Handler(self.health, Cardinality.UNARY_UNARY, bytes, bytes),
            DIFF_COPY: Handler(self.diff_copy, Cardinality.STREAM_STREAM, bytes, bytes),
            CREDENTIALS: Handler(self.credentials, Cardinality.UNARY_UNARY, bytes, bytes),
            GET_SECRET: Handler(self.get_secret, Cardinality.UNARY_UNARY, bytes, bytes),
        }
        if s.ssh_agent:
            mapping[CHECK_AGENT] = Handler(self.check_agent, Cardinality.UNARY_UNARY, bytes, bytes)
            mapping[FORWARD_AGENT] = Handler(self.forward_agent, Cardinality.STREAM_STREAM, bytes, bytes)
        return mapping

    async def health(self, stream) -> None:
        await stream.recv_message()
        await stream.send_message(wire.uint_field(1, 1))  # SERVING

    # -- files ----------------------------------------------------------------------------------------------------
    async def diff_copy(self, stream) -> None:
        md = stream.metadata
        name = md.get("dir-name", "")
        synced = self.session.dirs.get(name)
        if synced is None:
            raise GRPCError(Status.NOT_FOUND, f"no access allowed to dir {name!r}")
        self.session.served.requests.append(name)
        excludes = md.getall("exclude-patterns", None)
        includes = md.getall("include-patterns", None)
        followpaths = md.getall("followpaths", None)
        entries = _entries(synced, includes, excludes, followpaths)
        wanted: asyncio.Queue = asyncio.Queue()

        async def read_requests():
            while True:
                message = await stream.recv_message()
                if message is None:
                    wanted.put_nowait(None)
                    return
                kind, ident, data = wire.read_packet(message)
                if kind == wire.PACKET_REQ:
                    wanted.put_nowait(ident)
                elif kind == wire.PACKET_FIN:
                    wanted.put_nowait(None)
                    return
                elif kind == wire.PACKET_ERR:
                    why = data.decode(errors="replace")
                    wanted.put_nowait(GRPCError(Status.UNKNOWN, f"error from receiver: {why}"))
                    return

        reader = asyncio.ensure_future(read_requests())
        try:
            files: dict[int, object] = {}
            batch = bytearray()
            await stream.send_initial_metadata()
            for index, (stat, source) in enumerate(entries):
                if filesync.is_regular(stat.mode):
                    files[index] = source
                batch += _framed(wire.stat_packet(stat))
                if len(batch) >= _BATCH:
                    await _send_framed(stream, batch)
                    batch = bytearray()
            batch += _framed(wire.packet(wire.PACKET_STAT))
            await _send_framed(stream, batch)
            while True:
                ident = await wanted.get()
                if ident is None:
                    break
                if isinstance(ident, Exception):
                    raise ident
                source = files.pop(ident, None)
                if source is None:
                    raise GRPCError(Status.INVALID_ARGUMENT, f"invalid file id {ident}")
                await self._send_file(stream, ident, source)
            await stream.send_message(wire.packet(wire.PACKET_FIN))
        finally:
            reader.cancel()

    async def _send_file(self, stream, ident: int, source) -> None:
        served = self.session.served
        served.files += 1
        if isinstance(source, bytes):  # a file held in memory (an inline Dockerfile)
            if source:
                await stream.send_message(wire.packet(wire.PACKET_DATA, id=ident, data=source))
                served.bytes += len(source)
        else:
            try:
                f = open(source, "rb", buffering=0)
            except OSError:
                f = None  # gone since the walk: an empty file, as fsutil sends it
            if f is not None:
                with f:
                    while True:
                        chunk = f.read(_CHUNK)
                        if not chunk:
                            break
                        await stream.send_message(wire.data_packet_header(ident, len(chunk)) + chunk)
                        served.bytes += len(chunk)
        await stream.send_message(wire.packet(wire.PACKET_DATA, id=ident))

    # -- registry logins -----------------------------------------------------------------------------------------
    async def credentials(self, stream) -> None:
        host = wire.read_string(await stream.recv_message())
        user, secret = await asyncio.get_running_loop().run_in_executor(None, registry_login, host)
        await stream.send_message(wire.bytes_field(1, user) + wire.bytes_field(2, secret))

    # -- secrets -------------------------------------------------------------------------------------------------
    async def get_secret(self, stream) -> None:
        ident = wire.read_string(await stream.recv_message())
        value = self.session.secrets.get(ident)
        if value is None:
            raise GRPCError(Status.NOT_FOUND, f"secret {ident} not found")
        await stream.send_message(wire.bytes_field(1, value))

    # -- ssh agent -----------------------------------------------------------------------------------------------
    async def check_agent(self, stream) -> None:
        ident = wire.read_string(await stream.recv_message())
        if ident not in ("", "default"):
            raise GRPCError(Status.NOT_FOUND, f"unset ssh forward key {ident}")
        await stream.send_message(b"")

    async def forward_agent(self, stream) -> None:
        reader, writer = await asyncio.open_unix_connection(self.session.ssh_agent)

        async def to_agent():
            while True:
                message = await stream.recv_message()
                if message is None:
                    break
                writer.write(wire.read_bytes(message))
                await writer.drain()
            writer.write_eof()

        up = asyncio.ensure_future(to_agent())
        try:
            while True:
                data = await reader.read(32 << 10)
                if not data:
                    break
                await stream.send_message(wire.bytes_field(1, data))
        finally:
            up.cancel()
            writer.close()


def _framed(message: bytes) -> bytes:
    """One gRPC message as it travels: not compressed, its length, its bytes."""
    return b"\0" + len(message).to_bytes(4, "big") + message


async def _send_framed(stream, data: bytearray) -> None:
    """Several framed messages in one write: a listing of thousands of entries would otherwise pay
    grpclib's per-message cost thousands of times. (grpclib's own send_message does the same, one at a time.)"""
    await stream._stream.send_data(bytes(data))


def _entries(synced, includes, excludes, followpaths):
    """(Stat, source) of each entry: a path to read, or the bytes of a file held in memory."""
    if synced.root is None:
        import time

        names = set(synced.files)
        if includes is not None or followpaths:
            names &= set((includes or []) + (followpaths or []))
        now = time.time_ns()  # always newer: BuildKit never keeps an earlier text of the same size
        return [(wire.Stat(path=n, mode=0o644, size=len(synced.files[n]), mod_time=now), synced.files[n])
                for n in sorted(names)]
    if synced.listing is not None and synced.listing[0] == (excludes or []):
        # the walk made for the run record, with the same excludes: what this request names is taken from it
        # (BuildKit asks twice or more in one build: for the .dockerignore, then the paths COPY names)
        chosen = filesync.select(synced.listing[1], synced.root, includes, followpaths)
        if chosen is not None:
            return chosen
    return list(filesync.walk(synced.root, includes, excludes, followpaths))


def registry_login(host: str) -> tuple[str, str]:
    """The docker CLI's login for `host` (~/.docker/config.json: `auths`, `credHelpers`, `credsStore`),
    or none. A helper gets the host on its standard input, never on its command line."""
    config_dir = os.environ.get("DOCKER_CONFIG") or os.path.expanduser("~/.docker")
    try:
        with open(os.path.join(config_dir, "config.json"), encoding="utf-8") as f:
            config = json.load(f)
    except (OSError, ValueError):
        return "", ""
    keys = [host, f"https://{host}", f"http://{host}"]
    if host in ("registry-1.docker.io", "docker.io", "index.docker.io"):
        keys = ["https://index.docker.io/v1/", "index.docker.io", "docker.io"] + keys
    helper = next((config["credHelpers"][k] for k in keys if k in (config.get("credHelpers") or {})),
                  config.get("credsStore"))
    if helper and isinstance(helper, str) and helper.replace("-", "").isalnum():
        try:
            out = subprocess.run([f"docker-credential-{helper}", "get"], input=keys[0].encode(), capture_output=True,
                                 timeout=30)
            if out.returncode == 0:
                found = json.loads(out.stdout)
                return found.get("Username", ""), found.get("Secret", "")
        except (OSError, ValueError, subprocess.SubprocessError):
            pass
    for k in keys:
        entry = (config.get("auths") or {}).get(k) or {}
        if entry.get("auth"):
            try:
                user, _, secret = base64.b64decode(entry["auth"]).decode().partition(":")
                return user, secret
            except ValueError:
                return "", ""
    return "", ""


def handlers(session) -> list:
    return [_Services(session)]
