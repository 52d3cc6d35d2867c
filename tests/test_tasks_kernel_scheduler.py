"""The scheduler inside a kernel: one thread, refused while another scheduler holds the store, stopped cleanly."""

from __future__ import annotations

import pytest

from acrmagic.errors import UsageError
from acrmagic.tasks.kernel_scheduler import BackgroundScheduler
from acrmagic.tasks.scheduler_lock import SchedulerLock


def test_start_status_stop(home):
    kernel = BackgroundScheduler()
    assert kernel.status() == "scheduler: not running" and kernel.stop() == "scheduler: not running"
    assert kernel.start(poll_interval=0.05) == "scheduler started (polling every 0.05s)"
    try:
        assert kernel.running and kernel.start(poll_interval=0.05) == kernel.status()  # a second start: its status
        assert kernel.status() == "scheduler: running, polling every 0.05s; active runs: none"
    finally:
        assert kernel.stop(grace=1) == "scheduler stopped"
    assert not kernel.running and not kernel.scheduler.lock.held


def test_another_scheduler_on_the_store_is_named_and_nothing_starts(home):
    other = SchedulerLock(home)
    assert other.acquire()
    try:
        kernel = BackgroundScheduler()
        with pytest.raises(UsageError, match=r"another scheduler \(pid \d+\) is active on this store"):
            kernel.start()
        assert not kernel.running and kernel.scheduler is None
    finally:
        other.release()
