"""Shared fixtures. Engine tests use the real Docker engine and the real registry on localhost:5000,
which `./dev test` starts; they fail (not skip) when those are missing."""

from __future__ import annotations

import os
import sys
import textwrap
import time
from pathlib import Path

import docker
import pytest
import requests

HYGIENE = Path(__file__).parent / "hygiene"
sys.path.insert(0, str(HYGIENE))
import session_builds  # noqa: E402  (tests/hygiene: how the session marks and removes what it builds)

#: the emulator process and its `emulator` / `clients` fixtures, for the emulator's test files; the
#: session's clean-up of what it built (also loaded by the notebooks' nbval run: `dev test`)
pytest_plugins = ["emulator_harness", "session_plugin"]

REGISTRY = "localhost:5000"
ACCEPT = ("application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.manifest.v1+json, "
          "application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.oci.image.index.v1+json")


@pytest.fixture(autouse=True)
def home(tmp_path, monkeypatch) -> Path:
    """Every test gets its own ACRMAGIC_HOME, plain progress output."""
    path = tmp_path / "acrmagic-home"
    monkeypatch.setenv("ACRMAGIC_HOME", str(path))
    monkeypatch.setenv("ACRMAGIC_PROGRESS", "plain")
    monkeypatch.delenv("ACRMAGIC_REGISTRY", raising=False)
    return path


@pytest.fixture
def make_context(tmp_path):
    """make_context({"Dockerfile": "...", "a.txt": "..."}) -> a folder holding those files."""
    counter = iter(range(1000))

    def make(files: dict[str, str]) -> Path:
        root = tmp_path / f"ctx{next(counter)}"
        for name, text in files.items():
            path = root / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(textwrap.dedent(text))
        root.mkdir(exist_ok=True)
        return root

    return make


@pytest.fixture(scope="session")
def ip():
    """The one InteractiveShell of the test session (IPython keeps a single global one), acrmagic loaded."""
    from IPython import get_ipython
    from IPython.testing.globalipapp import start_ipython

    shell = start_ipython() or get_ipython()
    shell.run_line_magic("load_ext", "acrmagic")
    return shell


@pytest.fixture
def own_build_cache():
    """A list to add the test's image references and IDs to: after the test they are removed, and so are
    the build-cache records its session builds made (by ID; see acrmagic.targets.local.buildcache) while
    one of this test's builds ran (the windows session_builds notes), RUN layers when their command holds
    the repository name of a listed reference."""
    import subprocess
    from datetime import datetime, timezone

    from acrmagic.targets.local import buildcache
    from acrmagic.targets.local.engine import connect

    engine = connect()
    session, started = os.environ[session_builds.SESSION_ENV], time.time()
    before, since = buildcache.records(engine), buildcache.engine_now(engine)
    images: list[str] = []
    yield images
    for ref in images:  # tags first, then the IDs the runs built (earlier builds under a tag: untagged now)
        subprocess.run(["/usr/bin/docker", "rmi", "-f", "--", ref], capture_output=True)
    markers = [ref.split("/")[-1].split(":")[0] for ref in images if not ref.startswith("sha256:")]
    windows = [(datetime.fromtimestamp(a, timezone.utc), datetime.fromtimestamp(b, timezone.utc))
               for a, b in session_builds.windows(session) if a >= started - session_builds.SLACK]
    buildcache.remove(engine, buildcache.made_by_session_builds(engine, before, since, markers, windows=windows))


@pytest.fixture(scope="session")
def engine():
    client = docker.from_env()
    client.ping()
    yield client
    client.close()


def docker_build(*args: str, stdin: bytes = b"") -> None:
    """`docker build ARGS` with BuildKit, marked as this session's build (its label on the image, its
    window noted for the cache records), for the tests that compare acrmagic with the docker CLI."""
    import subprocess

    session = os.environ[session_builds.SESSION_ENV]
    start = time.time()
    try:
        subprocess.run(["/usr/bin/docker", "build", "--label", f"{session_builds.LABEL}={session}", *args],
                       check=True, input=stdin, stdout=subprocess.DEVNULL, env={**os.environ, "DOCKER_BUILDKIT": "1"})
    finally:
        session_builds.note_build(session, start, time.time())


def wait_for(predicate, timeout: float = 60, what: str = "a condition", interval: float = 0.1):
    """Poll `predicate` until it returns something true (returned), or fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = predicate()
        if found:
            return found
        time.sleep(interval)
    raise AssertionError(f"timed out waiting for {what}")


def registry_digest(repository: str, tag: str, registry: str = REGISTRY) -> str | None:
    """Read a manifest digest straight from the registry's HTTP API (independent of acrmagic)."""
    resp = requests.head(f"http://{registry}/v2/{repository}/manifests/{tag}", headers={"Accept": ACCEPT}, timeout=5)
    return resp.headers["Docker-Content-Digest"] if resp.status_code == 200 else None


def run_in_image(engine, image: str, *cmd: str) -> str:
    """Run a command in an image (host network, removed after) and return its output."""
    out = engine.containers.run(image, list(cmd), remove=True, network_mode="host")
    return out.decode()


def protobuf_message(schema: dict, name: str, maps: dict | None = None):
    """A message class built by the protobuf library from a schema written as field tables:
    {message: [(field, number, type, label (1 optional, 3 repeated), message type or None)]}, and
    `maps` {message: (entry name, key type, value type)} for map fields. Tests encode and decode with
    it, so acrmagic's hand-written wire readers are checked against an independent implementation."""
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

    fdp = descriptor_pb2.FileDescriptorProto(name=f"{name.lower()}_test.proto", package="t", syntax="proto3")
    for msg_name, fields in schema.items():
        msg = fdp.message_type.add(name=msg_name)
        if msg_name in (maps or {}):
            entry_name, key_type, value_type = maps[msg_name]
            entry = msg.nested_type.add(name=entry_name)
            entry.options.map_entry = True
            entry.field.add(name="key", number=1, type=key_type, label=1)
            entry.field.add(name="value", number=2, type=value_type, label=1)
        for field_name, number, ftype, label, type_name in fields:
            f = msg.field.add(name=field_name, number=number, type=ftype, label=label)
            if type_name:
                f.type_name = f".t.{type_name}"
    pool = descriptor_pool.DescriptorPool()
    pool.Add(fdp)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName(f"t.{name}"))
