"""Decoding BuildKit trace messages into step events.

Messages are encoded with the protobuf library itself (a schema declared here, wire-compatible with
moby/buildkit's control.proto, including fields acrmagic does not read), so the hand-written reader
is checked against an independent implementation of the format.
"""

from __future__ import annotations

import base64

from google.protobuf import descriptor_pb2

from acrmagic.targets.local.buildkit import TraceDecoder, parse_status
from acrmagic.events import LogEvent, StepEvent
from conftest import protobuf_message

_F = descriptor_pb2.FieldDescriptorProto
_SCHEMA = {  # message -> [(field, number, type, label (1 optional, 3 repeated), message type)]
    "Timestamp": [("seconds", 1, _F.TYPE_INT64, 1, None), ("nanos", 2, _F.TYPE_INT32, 1, None)],
    "ProgressGroup": [("id", 1, _F.TYPE_STRING, 1, None), ("name", 2, _F.TYPE_STRING, 1, None)],
    "Vertex": [("digest", 1, _F.TYPE_STRING, 1, None), ("inputs", 2, _F.TYPE_STRING, 3, None),
               ("name", 3, _F.TYPE_STRING, 1, None), ("cached", 4, _F.TYPE_BOOL, 1, None),
               ("started", 5, _F.TYPE_MESSAGE, 1, "Timestamp"), ("completed", 6, _F.TYPE_MESSAGE, 1, "Timestamp"),
               ("error", 7, _F.TYPE_STRING, 1, None), ("progressGroup", 8, _F.TYPE_MESSAGE, 1, "ProgressGroup")],
    "VertexStatus": [("ID", 1, _F.TYPE_STRING, 1, None), ("vertex", 2, _F.TYPE_STRING, 1, None),
                     ("name", 3, _F.TYPE_STRING, 1, None), ("current", 4, _F.TYPE_INT64, 1, None),
                     ("total", 5, _F.TYPE_INT64, 1, None), ("timestamp", 6, _F.TYPE_MESSAGE, 1, "Timestamp")],
    "VertexLog": [("vertex", 1, _F.TYPE_STRING, 1, None), ("timestamp", 2, _F.TYPE_MESSAGE, 1, "Timestamp"),
                  ("stream", 3, _F.TYPE_INT64, 1, None), ("msg", 4, _F.TYPE_BYTES, 1, None)],
    "VertexWarning": [("vertex", 1, _F.TYPE_STRING, 1, None), ("level", 2, _F.TYPE_INT64, 1, None),
                      ("short", 3, _F.TYPE_BYTES, 1, None)],
    "StatusResponse": [("vertexes", 1, _F.TYPE_MESSAGE, 3, "Vertex"),
                       ("statuses", 2, _F.TYPE_MESSAGE, 3, "VertexStatus"),
                       ("logs", 3, _F.TYPE_MESSAGE, 3, "VertexLog"),
                       ("warnings", 4, _F.TYPE_MESSAGE, 3, "VertexWarning")],
}


StatusResponse = protobuf_message(_SCHEMA, "StatusResponse")


def message(vertexes=(), logs=()) -> str:
    msg = StatusResponse()
    for v in vertexes:
        vx = msg.vertexes.add(digest=v["digest"], name=v["name"], cached=v.get("cached", False),
                              error=v.get("error", ""))
        if "started" in v:
            vx.started.seconds = v["started"]
        if "completed" in v:
            vx.completed.seconds = v["completed"]
    for digest, stream, text in logs:
        msg.logs.add(vertex=digest, stream=stream, msg=text.encode())
    return base64.b64encode(msg.SerializeToString()).decode()


def test_states_logs_and_exit_code():
    events = []
    d = TraceDecoder(events.append)
    d.feed(message([{"digest": "a", "name": "[1/2] FROM docker.io/library/busybox@sha256:abc", "cached": True}]))
    d.feed(message([{"digest": "b", "name": "[2/2] RUN false", "started": 10}]))
    d.feed(message([{"digest": "b", "name": "[2/2] RUN false", "started": 10}], logs=[("b", 1, "one\ntw")]))
    d.feed(message(logs=[("b", 2, "o\n")]))
    d.feed(message(logs=[("b", 1, "o-end")]))
    d.feed(message([{"digest": "b", "name": "[2/2] RUN false", "started": 10, "completed": 12,
                     "error": "process \"/bin/sh -c false\" did not complete successfully: exit code: 1"}]))
    steps = [(e.number, e.state) for e in events if isinstance(e, StepEvent)]
    assert steps == [(1, "cached"), (2, "running"), (2, "failed")]
    logs = [(e.text, e.stream) for e in events if isinstance(e, LogEvent)]
    assert logs == [("one", "stdout"), ("o", "stderr"), ("two-end", "stdout")]
    failed = events[-1]
    assert failed.exit_code == 1 and failed.duration == 2
    assert d.base_digest("docker.io/library/busybox:latest") == "sha256:abc"
    assert d.failures == [failed]


def test_repeated_messages_emit_each_state_once():
    events = []
    d = TraceDecoder(events.append)
    v = {"digest": "x", "name": "[1/1] RUN true", "started": 1, "completed": 2}
    for _ in range(3):
        d.feed(message([v]))
    assert [e.state for e in events] == ["running", "succeeded"]
    assert events[-1].line() == "#1 DONE 1.0s"


def test_reader_agrees_with_protobuf_and_skips_unknown_fields():
    msg = StatusResponse()
    v = msg.vertexes.add(digest="sha256:d", name="[1/1] RUN x", cached=False, error="boom", inputs=["a", "b"])
    v.started.seconds, v.started.nanos = 1_700_000_000, 250_000_000
    v.completed.seconds, v.completed.nanos = 1_700_000_003, 750_000_000
    v.progressGroup.id = "pg"
    msg.statuses.add(ID="s", vertex="sha256:d", name="pulling", current=10**12, total=2 * 10**12)
    msg.logs.add(vertex="sha256:d", stream=2, msg="é\n".encode()).timestamp.seconds = 5
    msg.warnings.add(vertex="sha256:d", level=1, short=b"warn")
    vertexes, logs = parse_status(msg.SerializeToString())
    [got] = vertexes
    assert (got.digest, got.name, got.cached, got.error) == ("sha256:d", "[1/1] RUN x", False, "boom")
    assert got.completed - got.started == 3.5
    assert [(entry.vertex, entry.stream, entry.msg) for entry in logs] == [("sha256:d", 2, "é\n".encode())]
