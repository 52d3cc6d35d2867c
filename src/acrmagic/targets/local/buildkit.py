"""Decoding BuildKit's progress trace (the ``moby.buildkit.trace`` aux messages of ``POST /build``).

Each aux message is a base64 protobuf ``StatusResponse`` (moby/buildkit ``control.proto``). We read
the few fields we need with a small reader of the protobuf wire format instead of the protobuf
runtime: a build started from the command line pays for every import, and the runtime's import
alone costs about a fifth of a cached build. The tests check this reader against the protobuf
library itself. Unknown fields are skipped, so newer engines stay readable.

    StatusResponse { repeated Vertex vertexes = 1; repeated VertexLog logs = 3; }
    Vertex         { string digest = 1; string name = 3; bool cached = 4;
                     Timestamp started = 5; Timestamp completed = 6; string error = 7; }
    VertexLog      { string vertex = 1; int64 stream = 3; bytes msg = 4; }
    Timestamp      { int64 seconds = 1; int32 nanos = 2; }
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass

from ...events import Emit, LogEvent, StepEvent
from ...states import STEP_CACHED, STEP_FAILED, STEP_RUNNING, STEP_SUCCEEDED


def _varint(buf: bytes, i: int) -> tuple[int, int]:
    shift = value = 0
    while True:
        byte = buf[i]
        i += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, i
        shift += 7


def protobuf_fields(buf: bytes):
    """(field number, value) pairs of one message: varints as int, length-delimited as bytes."""
    i, end = 0, len(buf)
    while i < end:
        key, i = _varint(buf, i)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, i = _varint(buf, i)
        elif wire == 2:
            size, i = _varint(buf, i)
            value, i = buf[i:i + size], i + size
        elif wire in (1, 5):  # fixed 64 / 32 bits: not used by the fields we read
            size = 8 if wire == 1 else 4
            value, i = buf[i:i + size], i + size
        else:
            raise ValueError(f"unsupported protobuf wire type {wire}")
        yield number, value


def _timestamp(buf: bytes) -> float:
    parts = dict(protobuf_fields(buf))
    return parts.get(1, 0) + parts.get(2, 0) / 1e9


@dataclass
class Vertex:
    digest: str = ""
    name: str = ""
    cached: bool = False
    started: float | None = None
    completed: float | None = None
    error: str = ""


@dataclass
class VertexLog:
    vertex: str = ""
    stream: int = 0
    msg: bytes = b""


def parse_status(data: bytes) -> tuple[list[Vertex], list[VertexLog]]:
    """The vertexes and logs of one StatusResponse."""
    vertexes, logs = [], []
    for number, value in protobuf_fields(data):
        if number == 1:
            v = Vertex()
            for n, x in protobuf_fields(value):
                if n == 1:
                    v.digest = x.decode()
                elif n == 3:
                    v.name = x.decode(errors="replace")
                elif n == 4:
                    v.cached = bool(x)
                elif n == 5:
                    v.started = _timestamp(x)
                elif n == 6:
                    v.completed = _timestamp(x)
                elif n == 7:
                    v.error = x.decode(errors="replace")
            vertexes.append(v)
        elif number == 3:
            log = VertexLog()
            for n, x in protobuf_fields(value):
                if n == 1:
                    log.vertex = x.decode()
                elif n == 3:
                    log.stream = x
                elif n == 4:
                    log.msg = x
            logs.append(log)
    return vertexes, logs


_FROM = re.compile(r"^\[(?:[^\]]+ )?\d+/\d+\] FROM (\S+)")
_EXIT_CODE = re.compile(r"exit code: (\d+)")


def _repository(ref: str) -> str:
    """`docker.io/library/python:3.11-slim` -> `docker.io/library/python` (the trace may drop the tag)."""
    name, _, tag = ref.rpartition(":")
    return name if name and "/" not in tag else ref


class TraceDecoder:
    """Turns trace messages into step events, once per state change, and collects base-image digests."""

    def __init__(self, emit: Emit):
        self.emit = emit
        self.numbers: dict[str, int] = {}  # vertex digest -> step number (#1, #2, ... as BuildKit prints)
        self.names: dict[str, str] = {}
        self.started: set[str] = set()
        self.finished: set[str] = set()
        self.base_images: dict[str, str] = {}  # "docker.io/library/python" -> "sha256:..." (as resolved)
        self.partial: dict[tuple[str, int], str] = {}  # unterminated log text per vertex and stream
        self.failures: list[StepEvent] = []

    def feed(self, aux_b64: str) -> None:
        vertexes, logs = parse_status(base64.b64decode(aux_b64))
        for v in vertexes:
            self._vertex(v)
        for log in logs:
            self._log(log.vertex, log.stream, log.msg.decode("utf-8", errors="replace"))

    def _number(self, digest: str, name: str) -> int:
        if digest not in self.numbers:
            self.numbers[digest] = len(self.numbers) + 1
            self.names[digest] = name
        return self.numbers[digest]

    def _vertex(self, v) -> None:
        number = self._number(v.digest, v.name)
        m = _FROM.match(v.name)
        if m and "@sha256:" in m.group(1):
            ref, digest = m.group(1).split("@", 1)
            self.base_images[_repository(ref)] = digest
        if v.digest in self.finished:
            return
        if v.cached:
            self.finished.add(v.digest)
            self.emit(StepEvent(v.name, STEP_CACHED, number, duration=0.0))
            return
        if v.started is not None and v.digest not in self.started:
            self.started.add(v.digest)
            self.emit(StepEvent(v.name, STEP_RUNNING, number))
        if v.completed is not None:
            self.finished.add(v.digest)
            self._flush(v.digest)
            duration = v.completed - v.started if v.started is not None else None
            if v.error:
                code = _EXIT_CODE.search(v.error)
                event = StepEvent(v.name, STEP_FAILED, number, duration=duration, error=v.error,
                                  exit_code=int(code.group(1)) if code else None)
                self.failures.append(event)
                self.emit(event)
            else:
                self.emit(StepEvent(v.name, STEP_SUCCEEDED, number, duration=duration))

    def _log(self, digest: str, stream: int, text: str) -> None:
        key = (digest, stream)
        text = self.partial.pop(key, "") + text
        *lines, rest = text.replace("\r\n", "\n").split("\n")
        if rest:
            self.partial[key] = rest
        number = self.numbers.get(digest, 0)
        name = self.names.get(digest)
        for line in lines:
            self.emit(LogEvent(line, step=name, number=number, stream="stderr" if stream == 2 else "stdout"))

    def _flush(self, digest: str) -> None:
        for key in [k for k in self.partial if k[0] == digest]:
            self._log(digest, key[1], "\n")

    def base_digest(self, ref: str) -> str | None:
        """The digest the build resolved `ref` (normalized, with tag) to, if the trace said."""
        return self.base_images.get(_repository(ref.split("@")[0]))
