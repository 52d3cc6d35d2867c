"""Decoding BuildKit trace messages into step events."""

from __future__ import annotations

import base64

from acrmagic.backends.buildkit import StatusResponse, TraceDecoder
from acrmagic.events import LogEvent, StepEvent


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
