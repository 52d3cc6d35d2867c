"""Task runs: parallel steps against one step (same run), and parse + plan of a 200-step file.

Targets (issue 3): four independent 2-second steps finish in <= 1.3x one step's time; parse + plan of
a 200-step file in <= 50 ms. Prints the figures; asserts nothing. Run with ./dev bench.
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time

os.environ.setdefault("ACRMAGIC_PROGRESS", "none")

import acrmagic  # noqa: E402
from acrmagic.taskfile import RunInfo, load  # noqa: E402

ONE = "version: v1.1.0\nsteps:\n  - cmd: busybox sleep 2\n"
FOUR = "version: v1.1.0\nsteps:\n" + "".join(f"  - id: s{i}\n    cmd: busybox sleep 2\n    when: [\"-\"]\n"
                                            for i in range(4))


def timed_run(task: str, ctx: str) -> float:
    t0 = time.perf_counter()
    acrmagic.run(task, context=ctx, logs=False)
    return time.perf_counter() - t0


def big_task(n: int = 200) -> str:
    lines = ["version: v1.1.0", "stepTimeout: 300", "env: ['STAGE={{ .Values.stage | default \"dev\" }}']", "steps:"]
    for i in range(n):
        when = '["-"]' if i % 10 == 0 else f"[s{i - 1}]"
        kind = (f"build: -t $Registry/app{i}:$ID --build-arg N={i} ." if i % 3 == 0 else
                f"cmd: busybox echo step {i} {{{{ .Run.ID }}}} $Registry")
        lines += [f"  - id: s{i}", f"    {kind}", f"    when: {when}", "    retries: 1", "    env: [\"I=%d\"]" % i]
    lines.append("  - push: [" + ", ".join(f"$Registry/app{i}:$ID" for i in range(0, n, 3)) + "]")
    return "\n".join(lines) + "\n"


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["ACRMAGIC_HOME"] = os.path.join(tmp, "home")
        ctx = os.path.join(tmp, "ctx")
        os.mkdir(ctx)
        timed_run(ONE, ctx)  # warm-up: image present, engine warm
        ones, fours = [], []
        for _ in range(3):
            ones.append(timed_run(ONE, ctx))
            fours.append(timed_run(FOUR, ctx))
    one, four = statistics.median(ones), statistics.median(fours)
    print(f"one 2-second step:          {one:.2f} s (median of 3)")
    print(f"four parallel 2-second steps: {four:.2f} s  ratio {four / one:.2f}x  (target <= 1.3x)")

    text = big_task()
    run = RunInfo(id="cb1", registry="localhost:5000")
    load(text, run)
    samples = []
    for _ in range(20):
        t0 = time.perf_counter()
        plan = load(text, run, set_values={"stage": "prod"})
        samples.append(time.perf_counter() - t0)
    print(f"parse + plan of a {len(plan.task.steps)}-step file: median {statistics.median(samples) * 1000:.1f} ms, "
          f"max {max(samples) * 1000:.1f} ms (target <= 50 ms)")


if __name__ == "__main__":
    main()
