"""The Engine API transports (targets/local/engine.py): the socket client and the docker SDK's give the
same answers, errors and streams, through public surfaces only."""

from __future__ import annotations

import pytest

from acrmagic.errors import EngineError
from acrmagic.targets.local.engine import SdkEngine, SocketEngine, connect

pytestmark = pytest.mark.engine


@pytest.fixture(params=["socket", "sdk"])
def transport(request, monkeypatch):
    if request.param == "sdk":
        monkeypatch.setenv("ACRMAGIC_ENGINE_CLIENT", "sdk")
    else:
        monkeypatch.delenv("ACRMAGIC_ENGINE_CLIENT", raising=False)
    engine = connect()
    assert isinstance(engine, SdkEngine if request.param == "sdk" else SocketEngine)
    return engine


def test_a_call_answers_json_and_an_error_carries_the_engines_message(transport):
    assert transport.call("GET", "/version")["ApiVersion"]
    with pytest.raises(EngineError, match="(?i)no such container") as caught:
        transport.call("GET", "/containers/acrmagic-no-such-container/json")
    assert caught.value.status == 404


def test_a_stream_yields_json_messages_and_read_yields_raw_bytes(transport):
    messages = list(transport.stream("POST", "/images/create", {"fromImage": "busybox:latest"}))
    assert messages and all(isinstance(m, dict) for m in messages)
    assert any("busybox" in m.get("status", "") for m in messages)  # "Status: Image is up to date for busybox..."
    assert b"".join(transport.read("GET", "/_ping")) == b"OK"


def test_a_json_body_is_sent_as_json(transport):
    name = f"acrmagic-engine-test-{type(transport).__name__.lower()}"
    created = transport.call("POST", "/volumes/create", body={"Name": name, "Labels": {"org.acrmagic.test": "1"}})
    try:
        assert created["Name"] == name and created["Labels"] == {"org.acrmagic.test": "1"}
    finally:
        transport.call("DELETE", f"/volumes/{name}", {"force": "1"})
    with pytest.raises(EngineError):
        transport.call("GET", f"/volumes/{name}")
