"""The views: lines per second through the run view at <= 10 updates/s, latency from a log line leaving
the engine to the widget state, and the first render of a 10,000-run history. Prints; asserts nothing.

Targets (issue 4): p95 latency <= 250 ms; first render of a 10,000-run history <= 300 ms in the kernel.
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time

os.environ["ACRMAGIC_HOME"] = tempfile.mkdtemp(prefix="acrmagic-bench-views-")

from acrmagic.events import LogEvent, StepEvent  # noqa: E402
from acrmagic.runs.model import Run  # noqa: E402
from acrmagic.runs.store import RunStore  # noqa: E402
from acrmagic.views.run_view import RunView  # noqa: E402


def throughput(lines: int = 200_000) -> None:
    view = RunView()
    sent = []
    view.comm.send = lambda *a, **k: sent.append(1)
    run = RunStore().create(Run(run_id=""))
    view.start(run)
    view.event(StepEvent("RUN make", "running", 1), "")
    sent.clear()
    t0 = time.perf_counter()
    for i in range(lines):
        view.event(LogEvent(f"compiling module {i}", step="RUN make", number=1), f"#1 compiling module {i}")
    took = time.perf_counter() - t0
    print(f"run view: {lines / took:,.0f} lines/s into the view, {len(sent)} updates in {took:.2f}s "
          f"({len(sent) / took:.1f}/s; limit 10/s)")


class TimedView(RunView):
    """Records, at each flush, how old every newly sent log line is (the line carries its print time)."""

    def __init__(self, **kw):
        super().__init__(**kw)
        self.latencies: list[float] = []
        self.seen: set[str] = set()

    def flush(self, force: bool = False) -> None:
        before = self._last_flush
        super().flush(force)
        if self._last_flush == before:
            return
        now = time.time()
        for step in self.steps:
            for line in step["tail"]:
                if line.startswith("t=") and line not in self.seen:
                    self.seen.add(line)
                    self.latencies.append(now - float(line[2:]))


def latency() -> None:
    import acrmagic

    with tempfile.TemporaryDirectory() as ctx:
        view = TimedView()
        script = "import time\nfor i in range(100):\n    print(f't={time.time():.6f}', flush=True)\n    time.sleep(0.05)\n"
        open(os.path.join(ctx, "emit.py"), "w").write(script)
        acrmagic.build("FROM python:3.11-slim\nCOPY emit.py /\nRUN python3 /emit.py\n", context=ctx, no_cache=True,
                       observer=view)
    lat = sorted(view.latencies)
    p95 = lat[int(len(lat) * 0.95) - 1]
    print(f"engine -> widget state latency over {len(lat)} lines: median {statistics.median(lat) * 1000:.0f} ms, "
          f"p95 {p95 * 1000:.0f} ms (target p95 <= 250 ms)")


def history_render(n: int = 10_000) -> None:
    from acrmagic.views.history import History

    store = RunStore()
    existing = store.count()
    for _ in range(n - existing):
        run = store.create(Run(run_id=""))
        run.status = "Succeeded"
        store.save(run)
    samples = []
    for _ in range(5):
        t0 = time.perf_counter()
        h = History()  # reads the store of ACRMAGIC_HOME through the public API
        samples.append(time.perf_counter() - t0)
    assert h.table.total == n
    print(f"history of {n:,} runs, first render (query + first page + widget state): median "
          f"{statistics.median(samples) * 1000:.0f} ms (target <= 300 ms)")


if __name__ == "__main__":
    throughput()
    latency()
    history_render()
