"""The scheduler on the real engine and registry: a commit runs that commit within the poll interval,
timers on an injected clock, two schedulers on one store fire once, a restart neither loses nor
doubles a run, one broken trigger does not stop the others, and runs of a task never overlap."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from datetime import datetime, timedelta

import pytest

import acrmagic.tasks as tasks
from acrmagic.runs.model import Run
from acrmagic.runs.store import RunStore
from acrmagic.states import SUCCEEDED
from acrmagic.tasks.scheduler import Scheduler, SchedulerLock
from acrmagic.tasks.store import TaskStore
from conftest import wait_for

GIT = ["git", "-c", "user.email=t@example.com", "-c", "user.name=t"]
pytestmark = pytest.mark.engine


class Repo:
    def __init__(self, root, files):
        self.bare, self.work = root / "repo.git", root / "work"
        subprocess.run(["git", "init", "-q", "--bare", str(self.bare)], check=True)
        subprocess.run(["git", "init", "-q", "-b", "main", str(self.work)], check=True)
        self.commit(files)

    @property
    def url(self) -> str:
        return f"file://{self.bare}"

    def commit(self, files: dict[str, str]) -> str:
        for name, text in files.items():
            (self.work / name).write_text(text)
        subprocess.run([*GIT, "-C", str(self.work), "add", "."], check=True)
        subprocess.run([*GIT, "-C", str(self.work), "commit", "-qm", "change"], check=True)
        subprocess.run(["git", "-C", str(self.work), "push", "-q", str(self.bare), "main"], check=True,
                       capture_output=True)
        return subprocess.run(["git", "-C", str(self.work), "rev-parse", "HEAD"], capture_output=True,
                              text=True).stdout.strip()


@pytest.fixture
def repo(tmp_path):
    return Repo(tmp_path, {"Dockerfile": "FROM busybox\nRUN echo one > /v\n"})


def test_a_commit_runs_exactly_that_commit_within_the_poll_interval(repo):
    tasks.create("from-commit", context=repo.url, file="Dockerfile", image=["commit-test:{{.Run.ID}}"])
    scheduler = Scheduler(poll_interval=0.2)
    stop = threading.Event()
    thread = threading.Thread(target=scheduler.serve, args=(stop,), daemon=True)
    thread.start()
    try:
        sha = repo.commit({"Dockerfile": "FROM busybox\nRUN echo two > /v\n"})
        pushed = time.monotonic()
        while not RunStore().list(task="from-commit") and time.monotonic() - pushed < 10:
            time.sleep(0.05)
        assert time.monotonic() - pushed < 2  # within the poll interval (and the time to record the run)
        assert scheduler.wait_idle(120)
    finally:
        stop.set()
        scheduler.wake()
        thread.join(60)
    [run] = RunStore().list(task="from-commit")
    assert run.status == SUCCEEDED and run.run_type == "AutoBuild" and run.trigger == "Commit"
    assert run.trigger_details["commitId"] == sha and run.trigger_details["branchName"] == "main"
    assert run.trigger_details["eventType"] == "commit" and run.trigger_details["repositoryUrl"] == repo.url
    assert run.source["commit"] == sha and run.source["branch"] == "main" and run.source["repository"] == repo.url
    assert "echo two" in run.dockerfile
    assert not scheduler.lock.held


def test_runs_of_one_task_never_overlap(repo):
    tasks.create("no-overlap", context=repo.url, file="Dockerfile", image=["overlap-test:{{.Run.ID}}"])
    scheduler = Scheduler()
    repo.commit({"Dockerfile": "FROM busybox\nRUN echo a\n"})
    assert len(scheduler.tick().fired) == 1
    repo.commit({"Dockerfile": "FROM busybox\nRUN echo b\n"})
    second = scheduler.tick()  # the first run is still going: the second fire waits in the outbox
    assert len(second.fired) == 1 and second.started == []
    assert scheduler.wait_idle(120)
    first, later = sorted(RunStore().list(task="no-overlap"), key=lambda r: r.run_id)
    assert later.start_time >= first.finish_time
    assert {first.status, later.status} == {SUCCEEDED}
    scheduler.close()


def test_timer_on_an_injected_clock_catches_up_once(home):
    tasks.create("nightly-job", cmd="busybox echo nightly", schedule=["nightly:0 2 * * *"])
    next_at = datetime.fromisoformat(TaskStore().state("nightly-job")["timers"]["nightly"]["next"])
    clock = [next_at - timedelta(minutes=1)]
    scheduler = Scheduler(clock=lambda: clock[0])
    assert scheduler.tick().fired == []
    clock[0] = next_at + timedelta(days=3, hours=5)  # down for three days
    fired = scheduler.tick().fired
    assert [f.payload for f in fired] == [{"timerTriggerName": "nightly",
                                           "scheduledOccurrence": (next_at + timedelta(days=3)).isoformat()}]
    assert scheduler.wait_idle(60)
    assert scheduler.tick().fired == []
    [run] = RunStore().list(task="nightly-job")
    assert run.trigger == "Timer" and run.run_type == "AutoRun" and run.status == SUCCEEDED
    assert run.to_dict()["timerTrigger"]["timerTriggerName"] == "nightly"
    scheduler.close()


def test_two_schedulers_on_one_store_fire_once(repo):
    tasks.create("two-sched", context=repo.url, file="Dockerfile", image=["twosched-test:{{.Run.ID}}"])
    first, second = Scheduler(TaskStore()), Scheduler(TaskStore())
    repo.commit({"Dockerfile": "FROM busybox\nRUN echo twice?\n"})
    results = []
    threads = [threading.Thread(target=lambda s=s: results.append(s.tick())) for s in (first, second)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(r.standby for r in results) == [False, True]
    assert sum(len(r.fired) for r in results) == 1
    for s in (first, second):
        s.wait_idle(120)
        s.close()
    assert len(RunStore().list(task="two-sched")) == 1


def test_the_lock_holds_across_processes(home):
    holder = subprocess.Popen([sys.executable, "-c", (
        "import sys, time; from pathlib import Path; from acrmagic.tasks.scheduler import SchedulerLock; "
        f"l = SchedulerLock(Path({str(home)!r})); assert l.acquire(); print('held', flush=True); time.sleep(30)")],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        lock = SchedulerLock(home)
        assert not lock.acquire() and lock.holder() == str(holder.pid)
        assert Scheduler().tick().standby
    finally:
        holder.kill()
        holder.wait()
    assert SchedulerLock(home).acquire()  # the dead holder's lock is free


def test_a_restart_neither_loses_nor_doubles(repo):
    tasks.create("restarts", context=repo.url, file="Dockerfile", image=["restart-test:{{.Run.ID}}"])
    crashed = Scheduler()
    sha = repo.commit({"Dockerfile": "FROM busybox\nRUN echo restart\n"})
    assert crashed.lock.acquire()
    assert len(crashed.check().fired) == 1  # fired, then the process "dies" before starting the run
    crashed.lock.release()
    again = Scheduler()
    assert len(again.tick().started) == 1  # not lost
    assert again.wait_idle(120)
    assert again.tick().fired == []  # not doubled: the commit was seen with the fire
    [run] = RunStore().list(task="restarts")
    assert run.trigger_details["commitId"] == sha
    again.close()


def test_a_fire_whose_run_was_recorded_before_a_crash_is_linked_not_rerun(home):
    tasks.create("linked-run", cmd="busybox true", schedule=["0 2 * * *"])
    store = TaskStore()
    payload = {"timerTriggerName": "t1", "scheduledOccurrence": "2030-01-01T02:00:00+00:00"}
    fire = store.fire("linked-run", "Timer", payload, lambda s: None)
    recorded = RunStore().create(Run(run_id="", task="linked-run", trigger="Timer", trigger_details=payload,
                                     status=SUCCEEDED))
    scheduler = Scheduler(store)
    assert scheduler.tick().started == []
    assert store.fires("linked-run")[0].run_id == recorded.run_id and store.open_fires() == []
    assert fire.id == store.fires("linked-run")[0].id
    assert len(RunStore().list(task="linked-run")) == 1
    scheduler.close()


def test_a_broken_trigger_does_not_stop_the_others(tmp_path):
    good, bad = Repo(tmp_path / "good", {"Dockerfile": "FROM busybox\n"}), Repo(tmp_path / "bad", {"Dockerfile": "FROM busybox\n"})
    tasks.create("good-task", context=good.url, file="Dockerfile", image=["good-test:{{.Run.ID}}"])
    tasks.create("bad-task", context=bad.url, file="Dockerfile", image=["bad-test:{{.Run.ID}}"])
    subprocess.run(["rm", "-rf", str(bad.bare)], check=True)  # the repository goes away
    good.commit({"Dockerfile": "FROM busybox\nRUN echo fine\n"})
    scheduler = Scheduler()
    result = scheduler.tick()
    assert [f.task for f in result.fired] == ["good-task"]
    assert "cannot be read" in result.errors["bad-task"]["commit"]
    assert "cannot be read" in tasks.show("bad-task").state["errors"]["commit"]
    assert "error (commit)" in repr(tasks.show("bad-task"))
    assert scheduler.wait_idle(120)
    assert RunStore().list(task="good-task")[0].status == SUCCEEDED
    scheduler.close()


def test_a_scheduler_killed_with_sigkill_leaves_nothing_once_it_restarts(tmp_path, home):
    """The restarted scheduler itself (no other run on the engine) removes the killed one's step and helper
    containers, volumes and source checkout, says so in one line, and the run is recorded Error."""
    import os
    import signal
    import socket

    import docker

    from acrmagic.owner import process_start

    client = docker.from_env()
    repo = Repo(tmp_path, {"task.yaml": "version: v1.1.0\nsteps:\n  - id: long\n    cmd: busybox sleep 120\n"})
    tasks.create("killed-sched", context=f"{repo.url}#main", file="task.yaml")
    argv = [sys.executable, "-m", "acrmagic", "scheduler", "--poll-interval", "0.2"]
    first = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env={**os.environ})
    second = None
    try:
        time.sleep(1)  # its baseline: the head now
        repo.commit({"task.yaml": "version: v1.1.0\nsteps:\n  - id: long\n    cmd: busybox sleep 121\n"})
        # what the first process owns, by its owner label (other stores' runs on this engine have run IDs like
        # ours), listed as the engine lists it: docker-py's list inspects each, racing another run's removal
        owned = {"label": f"org.acrmagic.owner={socket.gethostname()}:{first.pid}:{process_start(first.pid)}"}

        def started():
            runs = RunStore().list(task="killed-sched")
            return runs and client.api.containers(all=True, filters=owned) and runs[0]
        run = wait_for(started, 90, "the task's step container")
        checkout_root = home / "checkouts"
        assert [p for owner in checkout_root.iterdir() for p in owner.iterdir()]  # its checkout, while it runs
        os.kill(first.pid, signal.SIGKILL)
        first.wait(10)
        assert client.api.containers(all=True, filters=owned)  # a killed process cleans nothing

        log = tmp_path / "second.log"
        with open(log, "w") as out:
            second = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env={**os.environ})
        line = wait_for(lambda: next((x for x in log.read_text().splitlines() if "no longer exist" in x), None),
                        60, "the restarted scheduler's clean-up line")
        assert "acb_" in line and "checkouts" in line
        # gone (a removal another process began at the same moment may still be finishing)
        wait_for(lambda: client.api.containers(all=True, filters=owned) == [], 30, "no containers")
        wait_for(lambda: client.volumes.list(filters=owned) == [], 30, "no volumes")
        assert [p for owner in checkout_root.iterdir() for p in owner.iterdir()] == []
        record = RunStore().get(run.run_id)
        assert record.status == "Error" and "exited before the run finished" in record.error
        time.sleep(1)  # a few ticks: the killed run's fire is settled, never run again
        assert [r.run_id for r in RunStore().list(task="killed-sched")] == [run.run_id]
    finally:
        for proc in (first, second):
            if proc is not None and proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(40)
                except subprocess.TimeoutExpired:
                    proc.kill()
