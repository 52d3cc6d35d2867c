"""The offline stand-ins the local stack puts on the mirror behave like the images they stand for."""

from __future__ import annotations

import pytest

from acrmagic import devstack
from acrmagic.registry import image_labels

MIRROR = "localhost:5001"


@pytest.mark.engine
def test_the_python_stand_in_on_the_mirror_is_this_checkouts(engine):
    labels = image_labels(MIRROR, "library/python", "3.11-slim")
    assert labels[devstack.STAND_IN_VERSION_LABEL] == devstack.python_stand_in_version()
    assert "offline" in labels[devstack.STAND_IN_LABEL]


@pytest.mark.engine
def test_pip_venv_and_the_machines_cas_work_in_the_python_stand_in(engine):
    script = ("set -e; pip --version; python -m venv /tmp/venv; /tmp/venv/bin/python -m pip --version; "
              "ls /usr/lib/python3*/EXTERNALLY-MANAGED 2>/dev/null && echo MARKED; "
              "pip download -q --no-deps -d /tmp/dl six && ls /tmp/dl; cat /etc/ssl/certs/ca-certificates.crt")
    out = engine.containers.run("python:3.11-slim", ["sh", "-c", script], remove=True, network_mode="host").decode()
    assert "pip " in out and "/tmp/venv/lib/python3.11/site-packages/pip" in out
    assert "MARKED" not in out  # no PEP 668 marker: pip installs as in the official image
    assert ".whl" in out  # pip reached the package index from inside the image
    in_image = set(devstack._certificates(out.encode()))
    assert set(devstack._certificates(devstack.host_ca_bundle().read_bytes())) <= in_image


@pytest.mark.parametrize("labels, rebuilt", [
    (None, True),  # a new mirror
    ({devstack.STAND_IN_LABEL: "Debian bookworm minbase + python3, for offline use"}, True),  # an older stand-in
    ({devstack.STAND_IN_LABEL: "x", devstack.STAND_IN_VERSION_LABEL: "1-cas-0"}, True),
    ({devstack.STAND_IN_LABEL: "x", devstack.STAND_IN_VERSION_LABEL: "current"}, False),
    ({"maintainer": "someone"}, False),  # a real image put there by hand is not ours to replace
])
def test_an_outdated_or_missing_stand_in_is_rebuilt_and_pushed(monkeypatch, labels, rebuilt):
    done = []
    monkeypatch.setattr(devstack, "python_stand_in_version", lambda: "current")
    monkeypatch.setattr(devstack, "image_labels", lambda *a, **k: labels)
    monkeypatch.setattr(devstack, "build_python_stand_in", lambda ref, version: done.append(("build", ref, version)))
    monkeypatch.setattr(devstack, "_docker", lambda *args, **kw: done.append(args[:2]))
    devstack.seed_python("localhost:5001")
    expected = [("build", "localhost:5001/library/python:3.11-slim", "current"),
                ("push", "localhost:5001/library/python:3.11-slim"), ("pull", "-q")]
    assert done == (expected if rebuilt else [])


def test_a_change_of_the_machines_cas_changes_the_stand_ins_version(monkeypatch, tmp_path):
    bundle = tmp_path / "ca.crt"
    one = b"-----BEGIN CERTIFICATE-----\nAAAA\nBBBB\n-----END CERTIFICATE-----\n"
    two = b"-----BEGIN CERTIFICATE-----\nCCCC\n-----END CERTIFICATE-----\n"
    monkeypatch.setattr(devstack, "host_ca_bundle", lambda: bundle)
    bundle.write_bytes(one)
    first = devstack.python_stand_in_version()
    bundle.write_bytes(one.replace(b"\n", b"\r\n"))  # the same certificate, written otherwise
    assert devstack.python_stand_in_version() == first
    bundle.write_bytes(one + two)
    assert devstack.python_stand_in_version() != first
    assert first.startswith(f"{devstack.PYTHON_STAND_IN}-cas-")
