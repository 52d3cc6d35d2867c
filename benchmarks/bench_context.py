"""Big build contexts: a warm cached rebuild of `acrmagic build --no-push` against `docker build`
(BuildKit) on the same folder in the same run, wall time and peak RSS of each whole client process,
and packing alone (acrmagic's tar.gz packer against plain `tarfile` + gzip, as `az acr build` packs).

Contexts are generated in a temporary folder (deterministic random bytes) and removed at the end.
The docker CLI's RSS is the client's only: its daemon does the work. Prints figures; asserts nothing.
Targets (issue 7): rebuild <= 1.0x docker with RSS flat in the context size; packing >= 2x tarfile.
Run with ./dev bench (the stack must be up), or `.venv/bin/python benchmarks/bench_context.py [--quick]`.
"""

from __future__ import annotations

import os
import random
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

DOCKER = "/usr/bin/docker"
CONTEXTS = {"300MB-4000": (300 << 20, 4000), "1GB-10000": (1 << 30, 10000)}
RUNS = 3
DOCKERFILE = "FROM busybox\nCOPY . /ctx\nRUN ls /ctx | wc -l\n"


def generate(root: Path, total: int, count: int, seed: int = 7) -> None:
    """`count` files of random bytes summing to `total`, 100 to a folder, sizes varied (seeded)."""
    rng = random.Random(seed)
    weights = [rng.random() + 0.05 for _ in range(count)]
    scale = total / sum(weights)
    sizes = [int(w * scale) for w in weights]
    sizes[-1] += total - sum(sizes)
    for i, size in enumerate(sizes):
        folder = root / f"d{i // 100:03d}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"f{i:05d}.bin").write_bytes(rng.randbytes(size))
    (root / "Dockerfile").write_text(DOCKERFILE)


def run_measured(argv: list[str], env: dict) -> tuple[float, int]:
    """Wall seconds and peak RSS (bytes) of one process (its own rusage, via wait4)."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode:
        raise SystemExit(f"{argv[:3]} failed: {proc.stderr.read().decode()[-2000:]}")
    return elapsed, usage.ru_maxrss * 1024


def rebuild(ctx: Path, env: dict, runs: int) -> dict:
    docker = [DOCKER, "build", "--network", "host", "-q", "-t", "acrmagic-bench-ctx:cli", str(ctx)]
    acr = [sys.executable, "-m", "acrmagic", "build", "--no-push", "--no-logs", "-t", "acrmagic-bench-ctx:acr", str(ctx)]
    out = {}
    for name, argv in (("docker", docker), ("acrmagic", acr)):
        run_measured(argv, env)  # warm-up: fills the cache
        samples = [run_measured(argv, env) for _ in range(runs)]
        out[name] = (statistics.median(s[0] for s in samples), max(s[1] for s in samples))
    return out


def pack_with_tarfile(ctx: Path, out: Path) -> None:
    with tarfile.open(out, "w:gz") as tar:  # az acr build's packer: tarfile, gzip level 9, one thread
        tar.add(str(ctx), arcname="")


def pack_with_acrmagic(ctx: Path, out: Path) -> None:
    from acrmagic.context import pack_gzip

    with open(out, "wb") as f:
        pack_gzip(ctx, f)


def timed(fn, *args) -> float:
    t0 = time.perf_counter()
    fn(*args)
    return time.perf_counter() - t0


def main() -> None:
    quick = "--quick" in sys.argv  # only the 300 MB context: a faster look
    with tempfile.TemporaryDirectory(prefix="acrmagic-bench-ctx-") as tmp:
        env = {**os.environ, "DOCKER_BUILDKIT": "1", "ACRMAGIC_HOME": str(Path(tmp) / "home"),
               "ACRMAGIC_PROGRESS": "none"}
        for label, (total, count) in CONTEXTS.items():
            if quick and total > 300 << 20:
                continue
            ctx = Path(tmp) / label
            generate(ctx, total, count)
            figures = rebuild(ctx, env, RUNS)
            (d_s, d_rss), (a_s, a_rss) = figures["docker"], figures["acrmagic"]
            print(f"cached rebuild, {label} files ({total >> 20} MiB), median of {RUNS}:")
            print(f"  docker build    {d_s * 1000:8.0f} ms  peak RSS {d_rss >> 20:5d} MiB (client only)")
            print(f"  acrmagic build  {a_s * 1000:8.0f} ms  peak RSS {a_rss >> 20:5d} MiB  "
                  f"time ratio {a_s / d_s:.2f}x")
            if label == "1GB-10000":
                plain = timed(pack_with_tarfile, ctx, Path(tmp) / "plain.tar.gz")
                ours = timed(pack_with_acrmagic, ctx, Path(tmp) / "acrmagic.tar.gz")
                sizes = [(Path(tmp) / n).stat().st_size >> 20 for n in ("plain.tar.gz", "acrmagic.tar.gz")]
                print(f"packing {label} as tar.gz: tarfile+gzip {plain:.1f} s ({sizes[0]} MiB), "
                      f"acrmagic.context.pack_gzip {ours:.1f} s ({sizes[1]} MiB): {plain / ours:.1f}x faster")
                for name in ("plain.tar.gz", "acrmagic.tar.gz"):
                    (Path(tmp) / name).unlink()
            subprocess.run([DOCKER, "rmi", "-f", "acrmagic-bench-ctx:cli", "acrmagic-bench-ctx:acr"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            subprocess.run(["rm", "-rf", str(ctx)], check=True)


if __name__ == "__main__":
    main()
