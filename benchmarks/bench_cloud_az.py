"""Cloud mode, start to Succeeded: `acrmagic build` against the real `az acr build` (azure-cli 2.91.0),
both through the emulator, on a small context. Prints medians, spreads and ratios; asserts nothing.

Each sample is a new process that uploads the context, schedules a quick build, follows its log to
the end and exits once the run is Succeeded; the time is from launch to exit. The two commands are
measured in turns (az, acrmagic, az, ...) so that load from other work on the machine falls on both
alike. az is given the resource group (-g: no ARM search, its fastest way); acrmagic reads it from the
emulator's start-up JSON. Both build without pushing and tag `benchcloudaz:<which>` (removed at the end,
with the build-cache records the emulator's builds made).

Target (issue 17): acrmagic <= 0.4x az.

azure-cli comes from PyPI into a virtualenv of its own, the one tests/test_az_cli.py uses (cached under
.cache/az-venv); it runs with a clean environment of its own (its config dir in a temporary folder, the
emulator's CA through REQUESTS_CA_BUNDLE, its managed identity through IDENTITY_ENDPOINT/HEADER).
Run with ./dev bench (the local stack must be up: the emulator's runs build on the local engine).
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench_cloud import Emulator  # the emulator, started once, with a reader of its run resources

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
from az_cli_tool import AZ_VERSION, az_env as az_cli_env, install_az  # noqa: E402 -- the tests' azure-cli

N = int(os.environ.get("BENCH_N", "7"))
ACRMAGIC = Path(sys.executable).with_name("acrmagic")
CLOUD = "acrmagic-emulator"
REPO = "benchcloudaz"


def spread(samples: list[float]) -> str:
    q = statistics.quantiles(samples, n=4)
    return f"IQR {q[0] * 1000:.0f}-{q[2] * 1000:.0f} ms, min {min(samples) * 1000:.0f}, max {max(samples) * 1000:.0f}"


def main() -> None:
    from acrmagic.targets.local import buildcache
    from acrmagic.targets.local.engine import connect

    az = install_az()
    engine = connect()
    before, started = buildcache.records(engine), buildcache.engine_now(engine)
    windows: list = []
    with tempfile.TemporaryDirectory(prefix="acrmagic-bench-cloud-az-") as tmp_name:
        tmp = Path(tmp_name)
        ctx = tmp / "ctx"
        ctx.mkdir()
        (ctx / "Dockerfile").write_text(f"FROM busybox\nRUN echo {REPO}\n")
        (ctx / "app.txt").write_text("hello\n")
        emu = Emulator(tmp)
        try:
            az_env = az_cli_env(az, emu.info, tmp / "az")
            for args in (["cloud", "register", "-n", CLOUD, "--endpoint-resource-manager", emu.info["management_url"]],
                         ["cloud", "set", "-n", CLOUD], ["login", "--identity"]):
                subprocess.run([str(az), *args], env=az_env, check=True, capture_output=True, cwd=tmp)
            user_env = {k: v for k, v in os.environ.items() if not k.startswith(("IDENTITY_", "ACRMAGIC_"))}
            cli_env = {**user_env, "ACRMAGIC_TARGET": f"emulator:{emu.config}", "ACRMAGIC_HOME": str(tmp / "home"),
                       "ACRMAGIC_PROGRESS": "none"}

            def timed(argv: list[str], env: dict) -> float:
                start = buildcache.engine_now(engine)
                t0 = time.perf_counter()
                proc = subprocess.run(argv, env=env, cwd=tmp, capture_output=True, text=True)
                took = time.perf_counter() - t0
                windows.append((start, buildcache.engine_now(engine)))
                if proc.returncode != 0:
                    raise SystemExit(f"{argv[0]} exited {proc.returncode}:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
                return took

            def az_build() -> float:
                return timed([str(az), "acr", "build", "-r", emu.info["registry"], "-g", emu.info["resource_group"],
                              "-t", f"{REPO}:az", "--no-push",
                              str(ctx)], az_env)

            def acrmagic_build() -> float:
                return timed([str(ACRMAGIC), "build", "-t", f"{REPO}:acr", "--no-push", str(ctx)], cli_env)

            fns = [az_build, acrmagic_build]
            for fn in fns:  # warm-up: page cache, byte-code, the engine's build cache
                fn()
            samples: list[list[float]] = [[] for _ in fns]
            for _ in range(N):
                for fn, out in zip(fns, samples):
                    out.append(fn())
        finally:
            emu.stop()
            login = emu.info["login_server"]
            subprocess.run(["/usr/bin/docker", "rmi", "-f", f"{login}/{REPO}:az", f"{login}/{REPO}:acr"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            buildcache.remove(engine, buildcache.made_by_session_builds(engine, before, started, [REPO], windows))
    az_s, acr_s = samples
    az_m, acr_m = statistics.median(az_s), statistics.median(acr_s)
    ratios = [a / b for a, b in zip(acr_s, az_s)]
    print(f"cloud mode, small context, start to Succeeded (process exit), {N} alternated pairs:")
    print(f"  az acr build (azure-cli {AZ_VERSION})  median {az_m * 1000:7.1f} ms  ({spread(az_s)})  (baseline)")
    print(f"  acrmagic build                median {acr_m * 1000:7.1f} ms  ({spread(acr_s)})  "
          f"ratio {acr_m / az_m:.2f}x  (target <= 0.4x)")
    print(f"  per-pair ratios: median {statistics.median(ratios):.2f}x, {min(ratios):.2f}-{max(ratios):.2f}x")


if __name__ == "__main__":
    main()
