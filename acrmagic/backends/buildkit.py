"""Decoding BuildKit's progress trace (the ``moby.buildkit.trace`` aux messages of ``POST /build``).

Each aux message is a base64 protobuf ``StatusResponse`` (moby/buildkit ``control.proto``). The schema
below is the subset we read, declared in Python and compiled at import by the protobuf runtime: no
generated code to keep in step with a protoc version. Unknown fields are skipped by protobuf, so the
subset stays wire-compatible with newer engines.
"""

from __future__ import annotations

import base64
import re

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

from ..events import CACHED, FAILED, RUNNING, SUCCEEDED, Emit, LogEvent, StepEvent

_F = descriptor_pb2.FieldDescriptorProto
_SCHEMA = {  # message -> [(field name, number, type, label, message type)]
    "Timestamp": [("seconds", 1, _F.TYPE_INT64, 1, None), ("nanos", 2, _F.TYPE_INT32, 1, None)],
    "Vertex": [("digest", 1, _F.TYPE_STRING, 1, None), ("inputs", 2, _F.TYPE_STRING, 3, None),
               ("name", 3, _F.TYPE_STRING, 1, None), ("cached", 4, _F.TYPE_BOOL, 1, None),
               ("started", 5, _F.TYPE_MESSAGE, 1, "Timestamp"), ("completed", 6, _F.TYPE_MESSAGE, 1, "Timestamp"),
               ("error", 7, _F.TYPE_STRING, 1, None)],
    "VertexStatus": [("ID", 1, _F.TYPE_STRING, 1, None), ("vertex", 2, _F.TYPE_STRING, 1, None),
                     ("name", 3, _F.TYPE_STRING, 1, None), ("current", 4, _F.TYPE_INT64, 1, None),
                     ("total", 5, _F.TYPE_INT64, 1, None)],
    "VertexLog": [("vertex", 1, _F.TYPE_STRING, 1, None), ("stream", 3, _F.TYPE_INT64, 1, None),
                  ("msg", 4, _F.TYPE_BYTES, 1, None)],
    "StatusResponse": [("vertexes", 1, _F.TYPE_MESSAGE, 3, "Vertex"), ("statuses", 2, _F.TYPE_MESSAGE, 3, "VertexStatus"),
                       ("logs", 3, _F.TYPE_MESSAGE, 3, "VertexLog")],
}


def _compile():
    fdp = descriptor_pb2.FileDescriptorProto(name="acrmagic_buildkit_trace.proto", package="acrmagic.buildkit",
                                             syntax="proto3")
    for msg_name, fields in _SCHEMA.items():
        msg = fdp.message_type.add(name=msg_name)
        for name, number, ftype, label, type_name in fields:
            f = msg.field.add(name=name, number=number, type=ftype, label=label)
            if type_name:
                f.type_name = f".acrmagic.buildkit.{type_name}"
    pool = descriptor_pool.DescriptorPool()
    pool.Add(fdp)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("acrmagic.buildkit.StatusResponse"))


StatusResponse = _compile()

_FROM = re.compile(r"^\[(?:[^\]]+ )?\d+/\d+\] FROM (\S+)")
_EXIT_CODE = re.compile(r"exit code: (\d+)")


def _repository(ref: str) -> str:
    """`docker.io/library/python:3.11-slim` -> `docker.io/library/python` (the trace may drop the tag)."""
    name, _, tag = ref.rpartition(":")
    return name if name and "/" not in tag else ref


def _seconds(ts) -> float:
    return ts.seconds + ts.nanos / 1e9


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
        msg = StatusResponse.FromString(base64.b64decode(aux_b64))
        for v in msg.vertexes:
            self._vertex(v)
        for log in msg.logs:
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
            self.emit(StepEvent(v.name, CACHED, number, duration=0.0))
            return
        if v.HasField("started") and v.digest not in self.started:
            self.started.add(v.digest)
            self.emit(StepEvent(v.name, RUNNING, number))
        if v.HasField("completed"):
            self.finished.add(v.digest)
            self._flush(v.digest)
            duration = _seconds(v.completed) - _seconds(v.started) if v.HasField("started") else None
            if v.error:
                code = _EXIT_CODE.search(v.error)
                event = StepEvent(v.name, FAILED, number, duration=duration, error=v.error,
                                  exit_code=int(code.group(1)) if code else None)
                self.failures.append(event)
                self.emit(event)
            else:
                self.emit(StepEvent(v.name, SUCCEEDED, number, duration=duration))

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
