"""The few protobuf messages a BuildKit session exchanges, written and read by hand.

Field numbers and types follow tonistiigi/fsutil (types/wire.proto, types/stat.proto) and moby/buildkit
(session/secrets, session/auth, session/sshforward, grpc.health.v1). A hand-written codec instead of the
protobuf runtime: every local build opens a session, and the runtime's import would cost more than a
cached build's transfer. The tests check these bytes against the protobuf library itself.

    Packet  { PacketType type = 1; Stat stat = 2; uint32 ID = 3; bytes data = 4; }
            PacketType: STAT = 0, REQ = 1, DATA = 2, FIN = 3, ERR = 4
    Stat    { string path = 1; uint32 mode = 2; uint32 uid = 3; uint32 gid = 4; int64 size = 5;
              int64 modTime = 6; string linkname = 7; int64 devmajor = 8; int64 devminor = 9;
              map<string, bytes> xattrs = 10; }
    GetSecretRequest { string ID = 1; map<string,string> annotations = 2; }  GetSecretResponse { bytes data = 1; }
    CredentialsRequest { string Host = 1; }  CredentialsResponse { string Username = 1; string Secret = 2; }
    CheckAgentRequest { string ID = 1; }  BytesMessage { bytes data = 1; }
    HealthCheckResponse { ServingStatus status = 1; }  (SERVING = 1)
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..buildkit import protobuf_fields

PACKET_STAT, PACKET_REQ, PACKET_DATA, PACKET_FIN, PACKET_ERR = range(5)


_SMALL = [bytes((n,)) for n in range(0x80)]


def varint(value: int) -> bytes:
    if 0 <= value < 0x80:
        return _SMALL[value]
    value &= (1 << 64) - 1  # negative int64: ten bytes of two's complement, as protobuf writes it
    out = []
    while value >= 0x80:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _key(number: int, wire: int) -> bytes:
    return varint(number << 3 | wire)


def uint_field(number: int, value: int) -> bytes:
    return _key(number, 0) + varint(value) if value else b""


def bytes_field(number: int, value: bytes | str, always: bool = False) -> bytes:
    if isinstance(value, str):
        value = value.encode("utf-8", "surrogateescape")
    if not value and not always:
        return b""
    return _key(number, 2) + varint(len(value)) + value


@dataclass
class Stat:
    path: str
    mode: int = 0  # Go's os.FileMode bits, as fsutil sends them
    uid: int = 0
    gid: int = 0
    size: int = 0
    mod_time: int = 0  # nanoseconds
    linkname: str = ""
    devmajor: int = 0
    devminor: int = 0
    xattrs: dict[str, bytes] = field(default_factory=dict)

    def encode(self) -> bytes:
        # written out field by field (keys as bytes), joined once: a listing encodes thousands per build
        path = self.path.encode("utf-8", "surrogateescape")
        out = [b"\x0a", varint(len(path)), path] if path else []
        if self.mode:
            out += (b"\x10", varint(self.mode))
        if self.uid:
            out += (b"\x18", varint(self.uid))
        if self.gid:
            out += (b"\x20", varint(self.gid))
        if self.size:
            out += (b"\x28", varint(self.size))
        if self.mod_time:
            out += (b"\x30", varint(self.mod_time))
        if self.linkname:
            out.append(bytes_field(7, self.linkname))
        if self.devmajor:
            out += (b"\x40", varint(self.devmajor))
        if self.devminor:
            out += (b"\x48", varint(self.devminor))
        for name, value in sorted(self.xattrs.items()):
            out.append(bytes_field(10, bytes_field(1, name) + bytes_field(2, value), always=True))
        return b"".join(out)


def packet(kind: int, *, stat: Stat | None = None, id: int = 0, data: bytes = b"") -> bytes:
    """One Packet. The last STAT of a walk carries no stat at all (the receiver reads that as the end)."""
    out = uint_field(1, kind)
    if stat is not None:
        out += bytes_field(2, stat.encode(), always=True)
    return out + uint_field(3, id) + bytes_field(4, data)


def stat_packet(stat: Stat) -> bytes:
    """`packet(PACKET_STAT, stat=stat)`, for a listing's thousands of entries: its type is protobuf's
    default (not written) and it has no ID or data, so it is the stat field alone."""
    return bytes_field(2, stat.encode(), always=True)


def data_packet_header(id: int, size: int) -> bytes:
    """The bytes of a DATA packet that come before its `size` bytes of data (the data is written after,
    without another copy)."""
    return uint_field(1, PACKET_DATA) + uint_field(3, id) + _key(4, 2) + varint(size)


def read_packet(buf: bytes) -> tuple[int, int, bytes]:
    """(type, ID, data) of a Packet the receiver sent (REQ, FIN or ERR: never with a stat)."""
    kind, ident, data = 0, 0, b""
    for number, value in protobuf_fields(buf):
        if number == 1:
            kind = value
        elif number == 3:
            ident = value
        elif number == 4:
            data = bytes(value)
    return kind, ident, data


def read_string(buf: bytes, number: int = 1) -> str:
    """A string field of a request (a secret's ID, a registry host, an agent's ID)."""
    for n, value in protobuf_fields(buf):
        if n == number and isinstance(value, (bytes, memoryview)):
            return bytes(value).decode("utf-8", "replace")
    return ""


def read_bytes(buf: bytes, number: int = 1) -> bytes:
    for n, value in protobuf_fields(buf):
        if n == number and isinstance(value, (bytes, memoryview)):
            return bytes(value)
    return b""
