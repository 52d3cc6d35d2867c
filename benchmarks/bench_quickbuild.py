"""Warm cached rebuild: acrmagic (new process, and in-process) against `docker build` (BuildKit) in the
same run, plus the cost of `%load_ext acrmagic`. Prints medians and ratios; asserts nothing.

Targets: whole process <= 1.3x the Docker CLI, in-process <= 0.7x, extension load ~20 ms (issue 17).
The three are measured in turns (docker, acrmagic, in-process, docker, ...) so that load from
other work on the machine falls on all of them alike. Run with ./dev bench (the stack must be up).

The whole process is the `acrmagic` console script, as a user types it. Two more processes in the same
turns give the floor any fresh CPython process has here: the interpreter alone (`python -I -c pass`)
and the interpreter importing the build session's server stack (asyncio, grpclib, h2), which every
session build needs; that plus the in-process build is as fast as a new process can be.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

N = int(os.environ.get("BENCH_N", "10"))
DOCKER = "/usr/bin/docker"


def median_times(fns, n=N) -> list[list[float]]:
    """The wall times of each function, run in turns after one warm-up each (fills the cache)."""
    for fn in fns:
        fn()
    samples = [[] for _ in fns]
    for _ in range(n):
        for fn, out in zip(fns, samples):
            t0 = time.perf_counter()
            fn()
            out.append(time.perf_counter() - t0)
    return samples


def spread(samples: list[float]) -> str:
    q = statistics.quantiles(samples, n=4)
    return f"IQR {q[0] * 1000:.0f}-{q[2] * 1000:.0f} ms"


def ratios(samples: list[float], baseline: list[float]) -> str:
    """Each round's ratio to the baseline's in the same round: median and range."""
    r = [a / b for a, b in zip(samples, baseline)]
    return f"per round {statistics.median(r):.2f}x ({min(r):.2f}-{max(r):.2f}x)"


def main() -> None:
    from acrmagic.targets.local import buildcache
    from acrmagic.targets.local.engine import connect

    engine = connect()
    before, started = buildcache.records(engine), buildcache.engine_now(engine)
    try:
        measure()
    finally:  # leave the engine as found: the three tags, and the records these builds made
        subprocess.run([DOCKER, "rmi", "-f", "localhost:5000/bench:cli", "localhost:5000/bench:acr",
                        "localhost:5000/bench:api"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        buildcache.remove(engine, buildcache.made_by_session_builds(engine, before, started, windows=WINDOWS))


WINDOWS: list = []  # the engine's clock around each build (its records are made in there)


def bracketed(fn):
    from acrmagic.targets.local import buildcache
    from acrmagic.targets.local.engine import connect

    engine = connect()

    def run():
        start = buildcache.engine_now(engine)
        fn()
        WINDOWS.append((start, buildcache.engine_now(engine)))
    return run


def median_times_bracketed(fns, n=N) -> list[list[float]]:
    """As median_times, with each build's window noted outside the timed part (for the clean-up)."""
    for fn in fns:
        bracketed(fn)()
    return median_times(fns, n)


def measure() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        ctx = Path(tmp) / "ctx"
        ctx.mkdir()
        (ctx / "app.py").write_text("print('hi')\n")
        (ctx / "Dockerfile").write_text("FROM python:3.11-slim\nCOPY app.py /app/\nRUN python3 -c 'print(1)'\n")
        env = {**os.environ, "DOCKER_BUILDKIT": "1", "ACRMAGIC_HOME": str(Path(tmp) / "home"),
               "ACRMAGIC_PROGRESS": "none"}
        os.environ.update({"ACRMAGIC_HOME": env["ACRMAGIC_HOME"], "ACRMAGIC_PROGRESS": "none"})

        def cli():
            subprocess.run([DOCKER, "build", "--network", "host", "-q", "-t", "localhost:5000/bench:cli", str(ctx)],
                           check=True, env=env, stdout=subprocess.DEVNULL)

        script = Path(sys.executable).with_name("acrmagic")  # the console script pip installed
        command = [str(script)] if script.exists() else [sys.executable, "-m", "acrmagic"]

        def whole_process():
            subprocess.run([*command, "build", "--no-push", "--no-logs", "-t", "bench:acr", str(ctx)],
                           check=True, env=env, stdout=subprocess.DEVNULL)

        def interpreter():
            subprocess.run([sys.executable, "-I", "-c", "pass"], check=True)

        def session_stack():
            subprocess.run([sys.executable, "-c", "import asyncio, grpclib.server"], check=True)

        import acrmagic

        def in_process():
            acrmagic.build(image="bench:api", context=str(ctx), push=False, logs=False)

        samples = median_times_bracketed([cli, whole_process, in_process, interpreter, session_stack])
    docker_s, process_s, api_s, python_s, stack_s = (statistics.median(s) for s in samples)
    print(f"warm cached rebuild, median of {N} rounds (spread: interquartile range; ratio per round, median and range):")
    print(f"  docker build (BuildKit CLI)  {docker_s * 1000:7.1f} ms  {spread(samples[0])}  (baseline)")
    print(f"  acrmagic build (new process) {process_s * 1000:7.1f} ms  {spread(samples[1])}  ratio {process_s / docker_s:.2f}x, "
          f"{ratios(samples[1], samples[0])}  (target <= 1.3x)")
    print(f"  acrmagic.build (in process)  {api_s * 1000:7.1f} ms  {spread(samples[2])}  ratio {api_s / docker_s:.2f}x, "
          f"{ratios(samples[2], samples[0])}  (target <= 0.7x)")
    floor = [s + a for s, a in zip(samples[4], samples[2])]  # the stack's process includes the interpreter's start
    print(f"  floor of a fresh CPython process: the interpreter alone {python_s * 1000:.1f} ms; with asyncio + "
          f"grpclib.server imported {stack_s * 1000:.1f} ms; that + the in-process build "
          f"{statistics.median(floor) * 1000:.1f} ms, {ratios(floor, samples[0])}")

    # the load's own imports, read in the same processes: tests/test_imports.py forbids these
    heavy = ("azure", "docker", "yaml", "croniter", "acrmagic.api", "acrmagic.tasks")
    code = ("import time, sys\nfrom IPython.testing.globalipapp import start_ipython\nip = start_ipython()\n"
            "t = time.perf_counter(); ip.run_line_magic('load_ext', 'acrmagic'); dt = time.perf_counter() - t\n"
            f"print(dt, *[m for m in {heavy!r} if any(n == m or n.startswith(m + '.') for n in sys.modules)])")
    loads, imported = [], set()
    for _ in range(5):
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
        loads.append(float(out[0]))
        imported.update(out[1:])
    print(f"%load_ext acrmagic, median of 5 fresh kernels: {statistics.median(loads) * 1000:.1f} ms {spread(loads)} "
          f"(target ~20 ms); imported of {', '.join(heavy)}: {', '.join(sorted(imported)) or 'none'}")

if __name__ == "__main__":
    main()
