"""%%acrbuild in a real Jupyter kernel (a jupyter_client, no browser): a Cancel from the run view and a
kernel interrupt both stop the build while the cell is still executing, and the run is recorded."""

from __future__ import annotations

import json
import os
import queue
import time

import pytest
from jupyter_client.manager import start_new_kernel

from acrmagic.runs.store import RunStore

pytestmark = pytest.mark.engine
SLOW = "%%acrbuild --context . --no-cache\nFROM busybox\nRUN for i in $(seq 60); do echo tick-$i; sleep 1; done\n"


@pytest.fixture
def kernel(home, tmp_path, monkeypatch):
    monkeypatch.delenv("ACRMAGIC_PROGRESS")  # the kernel chooses its view itself: the widget
    km, kc = start_new_kernel(kernel_name="python3", cwd=str(tmp_path), env={**os.environ})
    kc.execute_interactive("%load_ext acrmagic", timeout=60)
    yield km, kc
    kc.stop_channels()
    km.shutdown_kernel(now=True)


def run_and(kernel, action) -> tuple[dict, float]:
    """Execute SLOW; once the view's log shows tick-2, do `action(comm_id)`; return the error and the time
    the cell took after the action."""
    km, kc = kernel
    msg_id = kc.execute(SLOW)
    view, acted, error, t_act = None, False, None, None
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            msg = kc.get_iopub_msg(timeout=0.5)
        except queue.Empty:
            continue
        kind, content = msg["msg_type"], msg["content"]
        if kind == "comm_open" and "cancel_requested" in json.dumps(content["data"].get("state", {})):
            view = content["comm_id"]
        if kind == "comm_msg" and content["comm_id"] == view and not acted and "tick-2" in json.dumps(content["data"]):
            action(view)
            acted, t_act = True, time.monotonic()
        if kind == "error":
            error = content
        if kind == "status" and msg["parent_header"].get("msg_id") == msg_id and content["execution_state"] == "idle":
            return error, time.monotonic() - t_act
    raise AssertionError("the cell did not finish")


def test_cancel_from_the_view_while_the_cell_executes(kernel, home):
    km, kc = kernel
    message = {"method": "update", "state": {"cancel_requested": True}, "buffer_paths": []}
    error, took = run_and(kernel, lambda comm: kc.shell_channel.send(
        kc.session.msg("comm_msg", {"comm_id": comm, "data": message})))
    assert error["ename"] == "RunCanceled" and took < 15
    assert RunStore(home).list(top=1)[0].status == "Canceled"


def test_kernel_interrupt_cancels_the_build(kernel, home):
    km, kc = kernel
    error, took = run_and(kernel, lambda comm: km.interrupt_kernel())
    assert error["ename"] == "RunCanceled" and "interrupt" in error["evalue"] and took < 15
    run = RunStore(home).list(top=1)[0]
    assert run.status == "Canceled" and "tick-2" in run.log()
