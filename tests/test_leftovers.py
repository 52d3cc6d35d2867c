"""A run whose process is killed leaves nothing behind: the store records it Error with the reason, and
the next run removes its containers and volumes (found by their owner label) and says so."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time

import docker
import pytest

import acrmagic
from acrmagic.owner import process_start

pytestmark = pytest.mark.engine


def _labelled(client, run_id: str, pid: int, start: str | None = None):
    """What the run of process `pid` made, by its run ID and its owner label (other stores on this engine
    count run IDs the same way, so the run ID alone could name another suite's containers)."""
    owner = f"{socket.gethostname()}:{pid}:{start or process_start(pid)}"
    label = [f"org.acrmagic.run-id={run_id}", f"org.acrmagic.owner={owner}"]
    return (client.containers.list(all=True, filters={"label": label}), client.volumes.list(filters={"label": label}))


def test_a_task_run_killed_with_sigkill_is_recorded_error_and_cleaned_by_the_next_run(make_context, tmp_path):
    client = docker.from_env()
    ctx = make_context({"data.txt": "x\n"})
    task = tmp_path / "task.yaml"
    task.write_text("version: v1.1.0\nsteps:\n  - id: long\n    cmd: busybox sleep 120\n")
    proc = subprocess.Popen([sys.executable, "-m", "acrmagic", "run", "-f", str(task), str(ctx)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ})
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            runs = acrmagic.runs()
            if runs and _labelled(client, runs[0].run_id, proc.pid)[0]:
                break
            time.sleep(0.2)
        else:
            proc.kill()
            pytest.fail(f"the step's container never started: {proc.communicate()}")
        run_id = runs[0].run_id
        owner_start = process_start(proc.pid)  # read while it lives: the label names it
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
    labelled = lambda: _labelled(client, run_id, proc.pid, owner_start)  # noqa: E731
    containers, volumes = labelled()
    assert containers and volumes  # a killed process cleans nothing itself

    listed = subprocess.run([sys.executable, "-m", "acrmagic", "show", run_id, "-o", "json"], capture_output=True,
                            text=True, env={**os.environ})
    record = json.loads(listed.stdout)
    assert record["status"] == "Error"
    assert f"(pid {proc.pid}) exited before the run finished" in record["runErrorMessage"]

    out = subprocess.run([sys.executable, "-m", "acrmagic", "build", "--no-push", str(make_context({
        "Dockerfile": "FROM busybox\n"}))], capture_output=True, text=True, env={**os.environ})
    assert out.returncode == 0, out.stderr
    notes = [line for line in out.stdout.splitlines() if "processes that no longer exist" in line]
    assert len(notes) == 1 and containers[0].name in notes[0]
    assert labelled() == ([], [])
