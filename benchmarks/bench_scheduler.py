"""The scheduler: one tick over 500 tasks (network waits excluded: branch heads and digests answered
at once), and the detection latency from a commit push to its run's start at the default poll interval.

Target (issue 9): one tick with 500 tasks <= 50 ms. Prints the figures; asserts nothing. Run with ./dev bench.
"""

from __future__ import annotations

import os
import random
import statistics
import subprocess
import tempfile
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

os.environ.setdefault("ACRMAGIC_PROGRESS", "none")

from acrmagic.runs.store import RunStore  # noqa: E402
from acrmagic.tasks import definition, timer  # noqa: E402
from acrmagic.tasks.base_image import DigestChecker  # noqa: E402
from acrmagic.tasks.scheduler import DEFAULT_POLL_INTERVAL, Scheduler  # noqa: E402
from acrmagic.tasks.store import TaskStore  # noqa: E402

HEAD = "a" * 40
DIGEST = "sha256:" + "b" * 64
GIT = ["git", "-c", "user.email=b@example.com", "-c", "user.name=b"]


class InstantDigests(DigestChecker):
    """Every image at its recorded digest, answered without a registry (the network wait excluded)."""

    def _fetch(self, image):
        return DIGEST


def fill(store: TaskStore, n: int) -> None:
    """n tasks as users would have them: git contexts with commit triggers, base images, two timers each."""
    now = datetime.now(timezone.utc)
    for i in range(n):
        flags = {"context": f"https://example.invalid/org/repo{i % 50}.git#main", "file": "Dockerfile",
                 "image": [f"app{i}:{{{{.Run.ID}}}}"], "schedule": ["0 2 * * *", f"nightly:{i % 60} 3 * * *"]}
        resource, _ = definition.build(f"task-{i:04d}", flags, now=now.isoformat())
        store.create(resource, {"commit": {"last": HEAD}, "timers": timer.fresh_state(
            definition.timer_triggers(resource), now),
            "base": {"watch": {"docker.io/library/python:3.11-slim": DIGEST, f"localhost:5000/base{i % 20}:1": DIGEST},
                     "outputs": [f"localhost:5000/app{i}:latest"], "fired": {}}})


def bench_tick(n: int = 500, ticks: int = 30) -> list[float]:
    with tempfile.TemporaryDirectory() as home:
        store = TaskStore(home)
        fill(store, n)
        scheduler = Scheduler(store, heads=lambda repo, branch, token: HEAD, digests=InstantDigests())
        scheduler.tick()  # warm: connections opened, modules imported
        times = []
        for _ in range(ticks):
            t0 = time.perf_counter()
            result = scheduler.tick()
            times.append((time.perf_counter() - t0) * 1000)
            assert not result.fired and not result.errors
        scheduler.close()
        return times


def bench_latency(trials: int = 3, poll: float = DEFAULT_POLL_INTERVAL) -> list[float]:
    """Push a commit at a random moment of the poll cycle; seconds until the run is recorded (started)."""
    from acrmagic import tasks

    with tempfile.TemporaryDirectory() as tmp:
        os.environ["ACRMAGIC_HOME"] = str(Path(tmp) / "home")
        bare, work = Path(tmp) / "repo.git", Path(tmp) / "work"
        subprocess.run(["git", "init", "-q", "--bare", str(bare)], check=True)
        subprocess.run(["git", "init", "-q", "-b", "main", str(work)], check=True)

        def commit(text: str) -> None:
            (work / "Dockerfile").write_text(text)
            subprocess.run([*GIT, "-C", str(work), "add", "."], check=True)
            subprocess.run([*GIT, "-C", str(work), "commit", "-qm", "c"], check=False, capture_output=True)
            subprocess.run(["git", "-C", str(work), "push", "-q", str(bare), "main"], check=True, capture_output=True)
        commit("FROM busybox\n")
        tasks.create("latency", context=f"file://{bare}", file="Dockerfile", image=["latency:{{.Run.ID}}"])
        scheduler = Scheduler(poll_interval=poll)
        stop = threading.Event()
        thread = threading.Thread(target=scheduler.serve, args=(stop,), daemon=True)
        thread.start()
        out = []
        try:
            for i in range(trials):
                time.sleep(random.uniform(0, poll))
                before = len(RunStore().list(task="latency"))
                commit(f"FROM busybox\nRUN echo {i}\n")
                pushed = time.monotonic()
                while len(RunStore().list(task="latency")) == before:
                    time.sleep(0.01)
                out.append(time.monotonic() - pushed)
                scheduler.wait_idle(120)
        finally:
            stop.set()
            scheduler.wake()
            thread.join(60)
        return out


def main() -> None:
    times = bench_tick()
    print(f"scheduler tick, 500 tasks (commit + base-image + 2 timers each, network excluded): "
          f"median {statistics.median(times):.1f} ms, max {max(times):.1f} ms (target <= 50 ms)")
    latencies = bench_latency()
    print(f"commit push -> run start at the default poll interval ({DEFAULT_POLL_INTERVAL:g}s), {len(latencies)} "
          f"pushes at random moments: " + ", ".join(f"{s:.2f}s" for s in latencies)
          + f"; mean {statistics.mean(latencies):.2f}s (expected about half the interval, at most the interval)")


if __name__ == "__main__":
    main()
