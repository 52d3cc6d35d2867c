"""Containers, volumes and images through the project's engine client (targets/local/containers.py):
what a task step's container needs, on the real engine, over both transports."""

from __future__ import annotations

import io
import tarfile
import time
import uuid

import pytest

from acrmagic.errors import EngineError
from acrmagic.targets.local import containers
from acrmagic.targets.local.containers import ContainerSpec, demultiplex
from acrmagic.targets.local.engine import connect


def _frame(stream: int, data: bytes) -> bytes:
    return bytes([stream, 0, 0, 0]) + len(data).to_bytes(4, "big") + data


def test_demultiplex_drops_the_frame_headers_even_when_chunks_split_them():
    raw = _frame(1, b"out\n") + _frame(2, b"err\n") + _frame(1, b"") + _frame(1, b"x" * 70_000)
    chunks = [raw[i:i + 5] for i in range(0, len(raw), 5)]
    assert b"".join(demultiplex(chunks)) == b"out\nerr\n" + b"x" * 70_000
    assert list(demultiplex([_frame(1, b"a"), _frame(2, b"b")])) == [b"a", b"b"]


def test_a_spec_is_what_the_engine_api_takes():
    body = ContainerSpec("busybox", ["sh", "-c", "true"], entrypoint="/bin/env -i", binds={"vol": "/workspace"},
                         extra_hosts={"web": "127.0.0.1"}, network_mode="host", env=["A=1"], workdir="/w").body()
    assert body["Entrypoint"] == ["/bin/env", "-i"] and body["Cmd"] == ["sh", "-c", "true"]
    assert body["HostConfig"] == {"Binds": ["vol:/workspace:rw"], "Privileged": False, "NetworkMode": "host",
                                  "ExtraHosts": ["web:127.0.0.1"]}
    assert body["Env"] == ["A=1"] and body["WorkingDir"] == "/w"
    assert "User" not in body and ContainerSpec("busybox").body()["HostConfig"]["NetworkMode"] == "default"


def _tar(name: str, data: bytes) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        info = tarfile.TarInfo(name)
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


@pytest.mark.engine
@pytest.mark.parametrize("client", ["socket", "sdk"])
def test_a_container_with_a_volume_runs_and_is_removed(client, monkeypatch):
    if client == "sdk":
        monkeypatch.setenv("ACRMAGIC_ENGINE_CLIENT", "sdk")
    engine = connect()
    name = f"acrmagic-containers-test-{uuid.uuid4().hex[:8]}"
    labels = {"org.acrmagic.test": name}
    assert containers.has_image(engine, "busybox") and not containers.has_image(engine, "acrmagic-no-such-image:1")
    with pytest.raises(EngineError, match="busybox/json\\?x=#: invalid reference format"):
        containers.has_image(engine, "busybox/json?x=#")  # a task file's text stays one name in the path
    volume = containers.create_volume(engine, name, labels)
    container = None
    try:
        container = containers.create(engine, ContainerSpec(
            "busybox", ["sh", "-c", "cat /data/in.txt; echo to-stderr >&2; echo made > /data/out.txt; exit 3"],
            name=name, binds={volume: "/data"}, labels=labels, network_mode="none"))
        containers.put_archive(engine, container, "/data", _tar("in.txt", b"from the tar\n"))
        assert containers.exit_code(engine, container) is None  # created, not started
        containers.start(engine, container)
        deadline = time.monotonic() + 60
        while (code := containers.exit_code(engine, container)) is None and time.monotonic() < deadline:
            time.sleep(0.1)
        assert code == 3
        # stdout and stderr, each whole (the engine keeps no order between the two streams)
        assert sorted(b"".join(containers.output(engine, container)).splitlines()) == [b"from the tar", b"to-stderr"]
        assert sorted(b"".join(containers.output(engine, container, follow=True)).splitlines()) == [
            b"from the tar", b"to-stderr"]
        archive = b"".join(containers.get_archive(engine, container, "/data/out.txt"))
        with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
            assert tar.extractfile("out.txt").read() == b"made\n"
        with pytest.raises(EngineError) as missing:
            b"".join(containers.get_archive(engine, container, "/data/nothing-here"))
        assert missing.value.status == containers.NOT_FOUND
    finally:
        if container is not None:
            containers.remove(engine, container)
        containers.remove_volume(engine, volume)
    with pytest.raises(EngineError):
        containers.exit_code(engine, name)
    assert not [v for v in engine.call("GET", "/volumes")["Volumes"] or [] if v["Name"] == name]


@pytest.mark.engine
def test_a_pull_that_fails_says_why():
    with pytest.raises(EngineError, match="acrmagic-no-such-repo"):
        containers.pull(connect(), "localhost:5000/acrmagic-no-such-repo:1")
