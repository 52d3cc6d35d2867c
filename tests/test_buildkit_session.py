"""The BuildKit session of local builds: its messages (checked against the protobuf library), fsutil's walk
and moby's patterns, and on the real engine: a rebuild sends only what changed, secrets stay out of the
image, its history and the log, `--mount=type=ssh` reaches an agent, and the build cache stays bounded."""

from __future__ import annotations

import hashlib
import os
import re
import signal
import subprocess
import uuid

import pytest
from google.protobuf import descriptor_pb2

import acrmagic
from acrmagic.targets.local import buildcache
from acrmagic.targets.local.engine import connect
from acrmagic.targets.local.session import wire
from acrmagic.targets.local.session.filesync import dockerignore_patterns, go_mode, select, walk
from conftest import protobuf_message, run_in_image

_F = descriptor_pb2.FieldDescriptorProto
_SCHEMA = {  # fsutil's types/stat.proto and types/wire.proto, as field numbers and types
    "Stat": [("path", 1, _F.TYPE_STRING, 1, None), ("mode", 2, _F.TYPE_UINT32, 1, None),
             ("uid", 3, _F.TYPE_UINT32, 1, None), ("gid", 4, _F.TYPE_UINT32, 1, None),
             ("size", 5, _F.TYPE_INT64, 1, None), ("modTime", 6, _F.TYPE_INT64, 1, None),
             ("linkname", 7, _F.TYPE_STRING, 1, None), ("devmajor", 8, _F.TYPE_INT64, 1, None),
             ("devminor", 9, _F.TYPE_INT64, 1, None), ("xattrs", 10, _F.TYPE_MESSAGE, 3, "Stat.XattrsEntry")],
    "Packet": [("type", 1, _F.TYPE_INT32, 1, None), ("stat", 2, _F.TYPE_MESSAGE, 1, "Stat"),
               ("ID", 3, _F.TYPE_UINT32, 1, None), ("data", 4, _F.TYPE_BYTES, 1, None)],
}


Packet = protobuf_message(_SCHEMA, "Packet", maps={"Stat": ("XattrsEntry", _F.TYPE_STRING, _F.TYPE_BYTES)})


def test_packets_we_write_read_back_with_protobuf():
    stat = wire.Stat(path="dir/file é", mode=0o755 | (1 << 23), size=5 << 40, mod_time=-1_000_000_123,
                     linkname="../x", devmajor=8, devminor=1, xattrs={"user.a": b"\x00\xff", "user.b": b""})
    p = Packet.FromString(wire.packet(wire.PACKET_STAT, stat=stat))
    assert p.type == 0 and p.HasField("stat") and p.ID == 0
    s = p.stat
    assert (s.path, s.mode, s.uid, s.gid, s.size, s.modTime, s.linkname, s.devmajor, s.devminor) == (
        "dir/file é", 0o755 | (1 << 23), 0, 0, 5 << 40, -1_000_000_123, "../x", 8, 1)
    assert dict(s.xattrs) == {"user.a": b"\x00\xff", "user.b": b""}
    assert wire.stat_packet(stat) == wire.packet(wire.PACKET_STAT, stat=stat)  # the listing's shortcut
    assert Packet.FromString(wire.stat_packet(wire.Stat(path=""))).HasField("stat")
    end = Packet.FromString(wire.packet(wire.PACKET_STAT))
    assert not end.HasField("stat")  # how the receiver knows the listing ended
    assert Packet.FromString(wire.packet(wire.PACKET_STAT, stat=wire.Stat(path=""))).HasField("stat")
    data = Packet.FromString(wire.data_packet_header(7, 3) + b"abc")
    assert (data.type, data.ID, data.data) == (wire.PACKET_DATA, 7, b"abc")
    assert wire.data_packet_header(7, 3) + b"abc" == wire.packet(wire.PACKET_DATA, id=7, data=b"abc")
    assert Packet.FromString(wire.packet(wire.PACKET_DATA, id=2**32 - 1)).ID == 2**32 - 1


def test_packets_from_the_receiver_are_read_as_protobuf_writes_them():
    assert wire.read_packet(Packet(type=wire.PACKET_REQ, ID=300).SerializeToString()) == (wire.PACKET_REQ, 300, b"")
    assert wire.read_packet(Packet(type=wire.PACKET_FIN).SerializeToString()) == (wire.PACKET_FIN, 0, b"")
    assert wire.read_packet(Packet(type=wire.PACKET_ERR, data=b"no").SerializeToString()) == (wire.PACKET_ERR, 0, b"no")


def test_walk_is_fsutils_order_with_go_modes_and_links(tmp_path):
    root = tmp_path / "ctx"
    (root / "a").mkdir(parents=True)
    (root / "a" / "b").write_text("bb")
    (root / "a.txt").write_text("x")
    (root / "B").write_text("upper")  # bytewise: upper case first
    os.symlink("a.txt", root / "link")
    os.link(root / "a.txt", root / "z-hard")
    os.chmod(root / "a" / "b", 0o4750)
    entries = {s.path: s for s, _ in walk(str(root))}
    assert list(entries) == ["B", "a", "a/b", "a.txt", "link", "z-hard"]  # a folder, then what is in it
    assert entries["a"].mode == (1 << 31) | 0o755 and entries["a"].size == 0
    assert entries["a/b"].mode == (1 << 23) | 0o750 and entries["a/b"].size == 2
    assert entries["link"].mode == (1 << 27) | 0o777 and entries["link"].linkname == "a.txt"
    assert entries["z-hard"].linkname == "a.txt" and entries["z-hard"].size == 0  # a second name: a hard link
    assert all(s.uid == 0 and s.gid == 0 for s in entries.values())  # as the docker CLI sends them
    assert entries["a.txt"].mod_time == os.lstat(root / "a.txt").st_mtime_ns
    assert go_mode(0o020644) == (1 << 26) | (1 << 21) | 0o644  # a character device


def test_walk_with_excludes_skips_folders_unless_a_pattern_re_includes_inside(tmp_path):
    for name in ["build/keep.txt", "build/out.bin", "docs/a", "src/x.pyc", "src/y.py"]:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("")
    paths = [s.path for s, _ in walk(str(tmp_path), excludes=["build", "!build/keep.txt", "**/*.pyc", "docs"])]
    assert paths == ["build", "build/keep.txt", "src", "src/y.py"]
    assert [s.path for s, _ in walk(str(tmp_path), followpaths=["src/y.py"])] == ["src", "src/y.py"]
    assert [s.path for s, _ in walk(str(tmp_path), includes=["docs"])] == ["docs", "docs/a"]


@pytest.mark.parametrize("excludes", [None, ["build", "!build/keep.txt", "**/*.pyc", "docs"], ["src/*"]])
@pytest.mark.parametrize("includes, followpaths", [
    (None, None), (None, ["src/y.py"]), (["docs"], None), (None, ["model", "serve.py"]), (["src/*.py"], ["docs/a"]),
    (None, [".dockerignore"]), (["build/keep.txt"], None), (None, ["alias/deep.txt"]), (["nothing-here"], None),
])
def test_a_listing_served_again_is_what_a_walk_with_those_patterns_gives(tmp_path, excludes, includes, followpaths):
    for name in ["build/keep.txt", "build/out.bin", "docs/a", "src/x.pyc", "src/y.py", "model/d1/f.bin",
                 "model/d2/g.bin", "serve.py", "real/deep.txt"]:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(name)
    os.symlink("real", tmp_path / "alias")  # a followpath through a link: its target is served too
    listing = list(walk(str(tmp_path), excludes=excludes))
    fresh = [(s.path, s.linkname, p) for s, p in walk(str(tmp_path), includes, excludes, followpaths)]
    assert [(s.path, s.linkname, p) for s, p in select(listing, str(tmp_path), includes, followpaths)] == fresh


def test_a_hard_link_to_an_entry_left_out_makes_a_fresh_walk(tmp_path):
    (tmp_path / "a.bin").write_text("x")
    os.link(tmp_path / "a.bin", tmp_path / "b.bin")
    listing = list(walk(str(tmp_path)))
    assert [s.linkname for s, _ in listing] == ["", "a.bin"]
    assert select(listing, str(tmp_path), ["b.bin"]) is None  # alone, b.bin is the first name: no link
    assert [s.path for s, _ in select(listing, str(tmp_path), ["*.bin"])] == ["a.bin", "b.bin"]


def test_dockerignore_lines_are_cleaned_as_buildkit_cleans_them():
    assert dockerignore_patterns(["/dist", "./docs", "c/../e", "! keep", "build/"]) == [
        "dist", "docs", "e", "!keep", "build"]


# -- on the engine ---------------------------------------------------------------------------------------------------

@pytest.fixture
def own_cache(own_build_cache):
    return own_build_cache


def _built(run, images: list[str]):
    """Note the image a run built (a rebuild under the same tag leaves the earlier one untagged)."""
    images.extend(re.findall(r"^image (sha256:[0-9a-f]{64})$", run.log(), re.M))
    return run


def _sent(run) -> tuple[int, int]:
    [line] = [x for x in run.log().splitlines() if "through the build session" in x]
    files, size = re.search(r"sent (\d+) changed files \((\d+) bytes\)", line).groups()
    return int(files), int(size)


@pytest.mark.engine
def test_a_rebuild_after_one_edit_sends_only_the_edited_file(make_context, engine, own_cache):
    weights = os.urandom(3 << 20)
    ctx = make_context({"serve.py": "print('v1')\n", ".dockerignore": "*.tmp\n", "scratch.tmp": "x" * 1000})
    (ctx / "model").mkdir()
    (ctx / "model" / "weights.bin").write_bytes(weights)
    dockerfile = "FROM busybox\nCOPY model/ /model/\nCOPY serve.py /app/serve.py\n"
    repo = f"session-{uuid.uuid4().hex[:8]}"
    own_cache.append(f"localhost:5000/{repo}:1")
    first = _built(acrmagic.build(dockerfile, image=f"{repo}:1", context=str(ctx), push=False), own_cache)
    files, size = _sent(first)
    assert size >= len(weights) and size < len(weights) + 2000  # the .tmp file is excluded: never sent
    again = _built(acrmagic.build(dockerfile, image=f"{repo}:1", context=str(ctx), push=False), own_cache)
    assert _sent(again)[1] == len(dockerfile)
    (ctx / "serve.py").write_text("print('version two')\n")
    edited = _built(acrmagic.build(dockerfile, image=f"{repo}:1", context=str(ctx), push=False), own_cache)
    # the edited file, and the inline Dockerfile (BuildKit is sent each cell body anew): nothing else
    assert _sent(edited) == (2, len("print('version two')\n") + len(dockerfile))
    image = f"localhost:5000/{repo}:1"
    assert run_in_image(engine, image, "cat", "/app/serve.py") == "print('version two')\n"
    digest = run_in_image(engine, image, "sha256sum", "/model/weights.bin").split()[0]
    assert digest == hashlib.sha256(weights).hexdigest()
    (ctx / "Dockerfile").write_text(dockerfile)  # a Dockerfile file: unchanged, it is not sent again either
    _built(acrmagic.build(image=f"{repo}:1", context=str(ctx), push=False), own_cache)
    assert _sent(_built(acrmagic.build(image=f"{repo}:1", context=str(ctx), push=False), own_cache)) == (0, 0)


@pytest.mark.engine
def test_build_cache_grows_by_the_edit_not_by_the_context(make_context, own_cache):
    ctx = make_context({"serve.py": "v0\n"})
    (ctx / "model").mkdir()
    (ctx / "model" / "weights.bin").write_bytes(os.urandom(8 << 20))
    dockerfile = "FROM busybox\nCOPY model/ /model/\nCOPY serve.py /app/serve.py\n"
    repo = f"cachegrowth-{uuid.uuid4().hex[:8]}"
    own_cache.append(f"localhost:5000/{repo}:1")
    engine = connect()
    before, since = buildcache.records(engine), buildcache.engine_now(engine)
    _built(acrmagic.build(dockerfile, image=f"{repo}:1", context=str(ctx), push=False), own_cache)
    after_first = sum(r["Size"] for r in buildcache.created_since(engine, before, since).values())
    assert after_first >= 8 << 20  # the context's copy, and the layer COPY made of it
    for i in range(3):
        (ctx / "serve.py").write_text(f"edit {i}\n" * 100)
        _built(acrmagic.build(dockerfile, image=f"{repo}:1", context=str(ctx), push=False), own_cache)
    grown = sum(r["Size"] for r in buildcache.created_since(engine, before, since).values()) - after_first
    assert grown < 1 << 20, f"three one-file edits grew the build cache by {grown} bytes"


@pytest.mark.engine
def test_a_secret_build_arg_is_a_secret_mount_never_in_history_image_or_log(make_context, engine, own_cache):
    value = f"s3cr3t-{uuid.uuid4().hex}"
    ctx = make_context({})
    repo = f"secret-{uuid.uuid4().hex[:8]}"
    dockerfile = ("FROM busybox\nRUN --mount=type=secret,id=TOKEN sha256sum /run/secrets/TOKEN | cut -c1-64 > /hash "
                  f"&& cat /run/secrets/TOKEN # {repo}\n")
    image = f"localhost:5000/{repo}:1"
    own_cache.append(image)
    run = _built(acrmagic.build(dockerfile, image=f"{repo}:1", context=str(ctx), push=False,
                         secret_build_args={"TOKEN": value}), own_cache)
    assert run_in_image(engine, image, "cat", "/hash").strip() == hashlib.sha256(value.encode()).hexdigest()
    history = subprocess.run(["/usr/bin/docker", "history", "--no-trunc", image], capture_output=True, text=True,
                             check=True).stdout
    assert "TOKEN" in history and value not in history
    saved = subprocess.run(["/usr/bin/docker", "save", image], capture_output=True, check=True).stdout
    assert value.encode() not in saved
    assert value not in run.log()  # the Dockerfile printed it: the log shows it redacted


@pytest.mark.engine
def test_ssh_mount_reaches_the_agent(make_context, engine, own_cache, tmp_path, monkeypatch):
    sock = tmp_path / "agent.sock"
    out = subprocess.run(["ssh-agent", "-s", "-a", str(sock)], capture_output=True, text=True, check=True).stdout
    pid = int(re.search(r"SSH_AGENT_PID=(\d+)", out).group(1))
    try:
        key = tmp_path / "id"
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
        subprocess.run(["ssh-add", "-q", str(key)], env={**os.environ, "SSH_AUTH_SOCK": str(sock)}, check=True,
                       capture_output=True)
        monkeypatch.setenv("SSH_AUTH_SOCK", str(sock))
        ask = ("import os,socket; s=socket.socket(socket.AF_UNIX); s.connect(os.environ['SSH_AUTH_SOCK']); "
               "s.sendall(bytes([0,0,0,1,11])); r=s.recv(9); print('agent', r[4], int.from_bytes(r[5:9], 'big'))")
        repo = f"ssh-{uuid.uuid4().hex[:8]}"
        dockerfile = f"FROM python:3.11-slim\nRUN --mount=type=ssh python3 -c \"{ask}\" > /agent # {repo}\n"
        image = f"localhost:5000/{repo}:1"
        own_cache.append(image)
        _built(acrmagic.build(dockerfile, image=f"{repo}:1", context=str(make_context({})), push=False, no_cache=True),
               own_cache)
        assert run_in_image(engine, image, "cat", "/agent").split() == ["agent", "12", "1"]  # IDENTITIES_ANSWER, 1 key
    finally:
        os.kill(pid, signal.SIGTERM)


def test_a_secret_is_a_build_arg_only_where_the_dockerfile_declares_it():
    from acrmagic.targets.local.quick_build import declared_args

    assert declared_args("FROM busybox\nARG A=1 B\narg c\nRUN echo $D\n") == {"A", "B", "c"}


def test_an_engine_without_sessions_is_told_apart(tmp_path):
    """An engine that answers the upgrade with anything but 101 gets no session (the caller packs a tar)."""
    import socket
    import threading

    from acrmagic.targets.local.engine import SocketEngine
    from acrmagic.targets.local.session import BuildSession, SyncedDir

    path = str(tmp_path / "engine.sock")
    server = socket.socket(socket.AF_UNIX)
    server.bind(path)
    server.listen(1)
    seen = []

    def answer():
        conn, _ = server.accept()
        seen.append(conn.recv(65536))
        conn.sendall(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
        conn.close()

    thread = threading.Thread(target=answer)
    thread.start()
    session = BuildSession({"context": SyncedDir(root=str(tmp_path))}, name="ctx", key="k")
    assert session.open(SocketEngine(f"unix://{path}")) is False
    thread.join(5)
    server.close()
    request = seen[0].decode()
    assert request.startswith("POST /session HTTP/1.1\r\n") and "Upgrade: h2c" in request
    assert f"X-Docker-Expose-Session-Uuid: {session.id}" in request
    assert "X-Docker-Expose-Session-Grpc-Method: /moby.filesync.v1.FileSync/DiffCopy" in request
