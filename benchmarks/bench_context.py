"""Big build contexts (inference images carry model weights): `acrmagic build --no-push` against `docker
build` (BuildKit, its session) on the same folder in the same run, alternated, wall time and peak
RSS of each whole client process, and `acrmagic.build` called in this process (where a notebook's kernel
builds: no interpreter start-up or imports in its time; no RSS of its own):

- cached rebuild: nothing changed;
- edit-rebuild: one small `serve.py` edited before each build, with `COPY model/` earlier in the Dockerfile;
- the floor of any fresh CPython process that serves a BuildKit session: the interpreter importing
  asyncio, grpclib and h2 (no build), plus the in-process build, per pair against docker;
- build-cache growth per edit-rebuild (the records the engine made), against the bytes that changed;
- packing alone (acrmagic's tar.gz packer against plain `tarfile` + gzip, as `az acr build` packs).

Contexts are generated in a temporary folder (deterministic random bytes) and removed at the end, with
the images and the build-cache records the builds made (by ID: never a broad prune). The docker CLI's
RSS is the client's only. Prints figures; asserts nothing. Targets (issue 17): both rebuilds <= 1.5x
docker, RSS flat, cache growth per edit-rebuild <= 2x the changed bytes. Run with ./dev bench (the
stack must be up), or `.venv/bin/python benchmarks/bench_context.py [--quick]` (300 MB only).
"""

from __future__ import annotations

import os
import random
import re
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

from acrmagic.targets.local import buildcache
from acrmagic.targets.local.engine import connect

DOCKER = "/usr/bin/docker"
CONTEXTS = {"300MB-4000": (300 << 20, 4000), "1GB-10000": (1 << 30, 10000)}
RUNS = 5
DOCKERFILE = "FROM busybox\nCOPY model/ /model/\nCOPY serve.py /app/serve.py\n"
TAG = "acrmagic-bench-ctx"


def generate(root: Path, total: int, count: int, seed: int = 7) -> None:
    """`count` files of random bytes summing to `total` under model/, 100 to a folder, sizes varied
    (seeded), plus serve.py and the Dockerfile."""
    rng = random.Random(seed)
    weights = [rng.random() + 0.05 for _ in range(count)]
    scale = total / sum(weights)
    sizes = [int(w * scale) for w in weights]
    sizes[-1] += total - sum(sizes)
    for i, size in enumerate(sizes):
        folder = root / "model" / f"d{i // 100:03d}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"f{i:05d}.bin").write_bytes(rng.randbytes(size))
    (root / "serve.py").write_text("print('serving')\n")
    (root / "Dockerfile").write_text(DOCKERFILE)


def run_measured(argv: list[str], env: dict) -> tuple[float, int, str]:
    """Wall seconds, peak RSS (bytes) and stdout of one process (its own rusage, via wait4)."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - t0
    if os.waitstatus_to_exitcode(status):
        raise SystemExit(f"{argv[:3]} failed: {proc.stderr.read().decode()[-2000:]}")
    return elapsed, usage.ru_maxrss * 1024, out.decode()


class Builds:
    """The two clients on one folder, and every image either made (to remove at the end)."""

    def __init__(self, ctx: Path, env: dict, engine, windows: list):
        self.ctx, self.env, self.images, self.engine, self.windows = ctx, env, set(), engine, windows
        self.argv = {
            "docker": [DOCKER, "build", "--network", "host", "-q", "-t", f"{TAG}:cli", str(ctx)],
            "acrmagic": [sys.executable, "-m", "acrmagic", "build", "--no-push", "--no-logs", "-t", f"{TAG}:acr",
                         str(ctx)],
        }
        self.edits = 0

    def build(self, name: str, edit: bool = False) -> tuple[float, int]:
        if edit:
            self.edits += 1
            (self.ctx / "serve.py").write_text(f"print('serving, edit {self.edits}')\n")
        if name == "stack":  # no build: what any fresh CPython process serving a session pays first
            return run_measured([sys.executable, "-c", "import asyncio, grpclib.server"], self.env)[:2]
        start = buildcache.engine_now(self.engine)  # outside the timed part: brackets the build's records
        if name == "in process":
            seconds, rss = self.build_in_process(), 0
        else:
            seconds, rss, out = run_measured(self.argv[name], self.env)
            self.images.update(re.findall(r"sha256:[0-9a-f]{64}", out))
        self.windows.append((start, buildcache.engine_now(self.engine)))
        return seconds, rss

    def build_in_process(self) -> float:
        import acrmagic

        os.environ.update({k: self.env[k] for k in ("ACRMAGIC_HOME", "ACRMAGIC_PROGRESS")})
        t0 = time.perf_counter()
        acrmagic.build(image=f"{TAG}:api", context=str(self.ctx), push=False, logs=False)
        return time.perf_counter() - t0

    def alternate(self, runs: int, edit: bool) -> dict:
        samples = {"docker": [], "acrmagic": [], "in process": [], "stack": []}
        for _ in range(runs):
            for name in samples:
                samples[name].append(self.build(name, edit))
        out = {k: (statistics.median(s[0] for s in v), max(s[1] for s in v)) for k, v in samples.items()}
        out["spread"] = {k: [s[0] for s in v] for k, v in samples.items()}  # each run's seconds, in order
        return out

    def acrmagic_images(self) -> set[str]:
        logs = Path(self.env["ACRMAGIC_HOME"]) / "logs"
        found = set()
        for log in logs.glob("*.log") if logs.is_dir() else []:
            found.update(re.findall(r"^image (sha256:[0-9a-f]{64})$", log.read_text(errors="replace"), re.M))
        return found


def cache_growth(builds: Builds, engine, runs: int) -> float:
    """Bytes the build cache grew by per acrmagic edit-rebuild (the records made in that window)."""
    before, since = buildcache.records(engine), buildcache.engine_now(engine)
    for _ in range(runs):
        builds.build("acrmagic", edit=True)
    made = buildcache.created_since(engine, before, since)
    # others' builds meanwhile are not counted
    ours = set(buildcache.made_by_session_builds(engine, before, since, windows=builds.windows))
    return sum(r["Size"] for i, r in made.items() if i in ours) / runs


def pack_with_tarfile(ctx: Path, out: Path) -> None:
    with tarfile.open(out, "w:gz") as tar:  # az acr build's packer: tarfile, gzip level 9, one thread
        tar.add(str(ctx), arcname="")


def pack_with_acrmagic(ctx: Path, out: Path) -> None:
    from acrmagic.context import select, write_tar_gz  # what an upload packs (targets/acr/archive.py)

    sel = select(ctx, None, None)
    with open(out, "wb") as f:
        write_tar_gz(f, sel.root, sel.files, sel.extra)


def timed(fn, *args) -> float:
    t0 = time.perf_counter()
    fn(*args)
    return time.perf_counter() - t0


def report(what: str, label: str, total: int, figures: dict) -> None:
    (d_s, d_rss), (a_s, a_rss) = figures["docker"], figures["acrmagic"]
    print(f"{what}, {label} files ({total >> 20} MiB), median of {RUNS} (alternated):")
    print(f"  docker build    {d_s * 1000:8.0f} ms  peak RSS {d_rss >> 20:5d} MiB (client only)")
    print(f"  acrmagic build  {a_s * 1000:8.0f} ms  peak RSS {a_rss >> 20:5d} MiB  time ratio {a_s / d_s:.2f}x "
          f"(target <= 1.5x)")
    if "in process" in figures:
        i_s = figures["in process"][0]
        print(f"  acrmagic.build  {i_s * 1000:8.0f} ms  (in process)      time ratio {i_s / d_s:.2f}x")
    runs = figures.get("spread")
    if runs and "stack" in runs:
        floor = [a + b for a, b in zip(runs["stack"], runs["in process"])]
        ratios = [f / d for f, d in zip(floor, runs["docker"])]
        print(f"  floor of a fresh CPython process: interpreter + asyncio/grpclib/h2 imports "
              f"{statistics.median(runs['stack']) * 1000:.0f} ms, + the in-process build "
              f"{statistics.median(floor) * 1000:.0f} ms, per pair {statistics.median(ratios):.2f}x docker")
    if runs:
        for name in ("acrmagic", "in process"):
            ratios = [a / d for a, d in zip(runs[name], runs["docker"])]
            print(f"  spread: docker {min(runs['docker']) * 1000:.0f}-{max(runs['docker']) * 1000:.0f} ms, {name} "
                  f"{min(runs[name]) * 1000:.0f}-{max(runs[name]) * 1000:.0f} ms; per-pair ratio median "
                  f"{statistics.median(ratios):.2f}x ({min(ratios):.2f}-{max(ratios):.2f}x)")


def main() -> None:
    quick = "--quick" in sys.argv
    engine = connect()
    cache_before, started = buildcache.records(engine), buildcache.engine_now(engine)
    builds, windows = None, []
    with tempfile.TemporaryDirectory(prefix="acrmagic-bench-ctx-") as tmp:
        env = {**os.environ, "DOCKER_BUILDKIT": "1", "ACRMAGIC_HOME": str(Path(tmp) / "home"),
               "ACRMAGIC_PROGRESS": "none"}
        try:
            for label, (total, count) in CONTEXTS.items():
                if quick and total > 300 << 20:
                    continue
                ctx = Path(tmp) / label
                generate(ctx, total, count)
                builds = Builds(ctx, env, engine, windows)
                first = {name: builds.build(name)[0] for name in ("docker", "acrmagic", "in process")}  # the cache
                print(f"first build, {label}: docker {first['docker']:.1f} s, acrmagic {first['acrmagic']:.1f} s "
                      f"(then in process {first['in process']:.1f} s)")
                report("cached rebuild", label, total, builds.alternate(RUNS, edit=False))
                report("edit-rebuild (serve.py)", label, total, builds.alternate(RUNS, edit=True))
                changed = len((ctx / "serve.py").read_bytes())
                growth = cache_growth(builds, engine, 3)
                print(f"  build-cache growth per acrmagic edit-rebuild: {growth:.0f} bytes for {changed} changed "
                      f"bytes: the new COPY layer, in whole file-system blocks (before the session: the "
                      f"context's size, {total >> 20} MiB, per build)")
                if label == "1GB-10000":
                    plain = timed(pack_with_tarfile, ctx, Path(tmp) / "plain.tar.gz")
                    ours = timed(pack_with_acrmagic, ctx, Path(tmp) / "acrmagic.tar.gz")
                    sizes = [(Path(tmp) / n).stat().st_size >> 20 for n in ("plain.tar.gz", "acrmagic.tar.gz")]
                    print(f"packing {label} as tar.gz: tarfile+gzip {plain:.1f} s ({sizes[0]} MiB), "
                          f"acrmagic.context.write_tar_gz {ours:.1f} s ({sizes[1]} MiB): {plain / ours:.1f}x faster")
                    for name in ("plain.tar.gz", "acrmagic.tar.gz"):
                        (Path(tmp) / name).unlink()
                _remove_images(builds)
                subprocess.run(["rm", "-rf", str(ctx)], check=True)
        finally:
            if builds is not None:
                _remove_images(builds)
            made = buildcache.made_by_session_builds(engine, cache_before, started, windows=windows)
            freed = buildcache.remove(engine, made)
            print(f"removed the {len(made)} build-cache records these builds made ({freed >> 20} MiB)")


def _remove_images(builds: Builds) -> None:
    refs = [f"{TAG}:cli", f"localhost:5000/{TAG}:acr", f"localhost:5000/{TAG}:api", *builds.images,
            *builds.acrmagic_images()]
    subprocess.run([DOCKER, "rmi", "-f", *refs], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


if __name__ == "__main__":
    main()
