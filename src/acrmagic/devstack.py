"""The local stack: Docker engine, local registry, offline mirror of base images.

`up()` is idempotent: what already answers is reused, what is missing is installed (Debian packages)
and started. On a machine where everything runs it returns in about a second. `down()` stops only
the processes this module started (their PIDs are kept under the stack folder).

Network rules of this project: everything listens on 127.0.0.1, the engine runs without a bridge
(`--bridge=none --iptables=false --ip-masq=false`), so builds and containers use host networking.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

from . import config
from .errors import AcrMagicError

APT_PACKAGES = {  # package -> a file it installs
    "docker.io": "/usr/sbin/dockerd",
    "docker-registry": "/usr/bin/docker-registry",
    "busybox-static": "/bin/busybox",
    "debootstrap": "/usr/sbin/debootstrap",
}
BROWSER_PACKAGES = {"chromium": "/usr/bin/chromium"}  # the browser tests drive Debian's Chromium
DOCKER_CLI = "/usr/bin/docker"  # Debian's client; another docker on PATH may lack BuildKit support
REGISTRIES = {"registry": "127.0.0.1:5000", "mirror": "127.0.0.1:5001"}
STAND_IN_LABEL = "org.acrmagic.offline-stand-in"
DEFAULT_SOCKET = "unix:///var/run/docker.sock"


def stack_dir() -> Path:
    default = "/var/lib/acrmagic-stack" if os.geteuid() == 0 else str(Path.home() / ".local/share/acrmagic-stack")
    path = Path(os.environ.get("ACRMAGIC_STACK_DIR", default))
    path.mkdir(parents=True, exist_ok=True)
    return path


def say(msg: str) -> None:
    print(f"[stack] {msg}", file=sys.stderr, flush=True)


# -- packages --------------------------------------------------------------------------------------

def ensure_packages(extra: dict[str, str] | None = None) -> None:
    wanted = {**APT_PACKAGES, **(extra or {})}
    missing = [pkg for pkg, path in wanted.items() if not Path(path).exists()]
    if not missing:
        return
    if os.geteuid() != 0:
        raise AcrMagicError(f"missing Debian packages {' '.join(missing)}: run `sudo apt-get install {' '.join(missing)}`")
    say(f"installing {' '.join(missing)}")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
    subprocess.run(["apt-get", "install", "-y", "-qq", *missing], check=True, env=env, stdout=subprocess.DEVNULL)


# -- processes we start ----------------------------------------------------------------------------

def _pidfile(name: str) -> Path:
    return stack_dir() / f"{name}.pid"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # a zombie is not alive
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def _spawn(name: str, argv: list[str]) -> int:
    log = open(stack_dir() / f"{name}.log", "ab")
    proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                            start_new_session=True)
    _pidfile(name).write_text(str(proc.pid))
    return proc.pid


def _wait_until(check, what: str, name: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        pid = _started_pid(name)
        if pid is None:
            break
        time.sleep(0.2)
    tail = (stack_dir() / f"{name}.log").read_text(errors="replace").splitlines()[-15:]
    raise AcrMagicError(f"{what} did not come up; its log ({stack_dir() / (name + '.log')}) ends:\n" + "\n".join(tail))


def _started_pid(name: str) -> int | None:
    try:
        pid = int(_pidfile(name).read_text())
    except (OSError, ValueError):
        return None
    return pid if _alive(pid) else None


# -- registries ------------------------------------------------------------------------------------

def registry_answers(addr: str) -> bool:
    try:
        return requests.get(f"http://{addr}/v2/", timeout=1).status_code == 200
    except requests.RequestException:
        return False


def ensure_registry(name: str) -> None:
    addr = REGISTRIES[name]
    if registry_answers(addr):
        return
    root = stack_dir() / name
    root.mkdir(exist_ok=True)
    cfg = root / "config.yml"
    cfg.write_text(
        "version: 0.1\nlog:\n  level: warn\n  accesslog:\n    disabled: true\n"
        f"storage:\n  filesystem:\n    rootdirectory: {root / 'data'}\n  delete:\n    enabled: true\n"
        f"http:\n  addr: {addr}\n"
    )
    say(f"starting {name} (CNCF Distribution) on {addr}")
    _spawn(name, ["/usr/bin/docker-registry", "serve", str(cfg)])
    _wait_until(lambda: registry_answers(addr), f"the {name} on {addr}", name)


# -- engine ----------------------------------------------------------------------------------------

def engine_url() -> str:
    return os.environ.get("DOCKER_HOST") or DEFAULT_SOCKET


def engine_answers() -> bool:
    from .targets.local.engine import connect

    try:
        connect()
        return True
    except AcrMagicError:
        return False


def ensure_engine() -> None:
    if engine_answers():
        return
    if os.environ.get("DOCKER_HOST"):
        raise AcrMagicError(f"the Docker engine at DOCKER_HOST={engine_url()} does not answer; start it or unset DOCKER_HOST")
    say("starting dockerd (no bridge, host networking, offline mirror on 127.0.0.1:5001)")
    argv = ["/usr/sbin/dockerd", "--bridge=none", "--iptables=false", "--ip-masq=false", "--ip6tables=false",
            f"--registry-mirror=http://{REGISTRIES['mirror']}", "--host", DEFAULT_SOCKET,
            "--exec-root", str(stack_dir() / "dockerd-exec"), "--pidfile", str(stack_dir() / "dockerd-own.pid")]
    _spawn("dockerd", argv)
    _wait_until(engine_answers, "dockerd", "dockerd", timeout=90)


# -- offline mirror stand-ins ----------------------------------------------------------------------

def _manifest_exists(addr: str, repo: str, tag: str) -> bool:
    from .registry import manifest_digest

    return manifest_digest(addr, repo, tag) is not None


def _docker(*args: str, **kw) -> subprocess.CompletedProcess:
    env = {**os.environ, "DOCKER_BUILDKIT": "1"}
    return subprocess.run([DOCKER_CLI, *args], check=True, env=env, **kw)


def seed_busybox(mirror: str) -> None:
    if _manifest_exists(mirror, "library/busybox", "latest"):
        return
    say("building the busybox stand-in from Debian's busybox-static")
    with tempfile.TemporaryDirectory() as ctx:
        shutil.copy("/bin/busybox", Path(ctx) / "busybox")
        Path(ctx, "Dockerfile").write_text(
            "FROM scratch\nCOPY busybox /bin/busybox\n"
            'RUN ["/bin/busybox", "mkdir", "-p", "/usr/bin", "/sbin", "/usr/sbin", "/tmp", "/etc", "/root"]\n'
            'RUN ["/bin/busybox", "--install", "-s"]\n'
            f'LABEL {STAND_IN_LABEL}="busybox from Debian busybox-static, for offline use"\n'
            'CMD ["sh"]\n'
        )
        ref = f"{mirror}/library/busybox:latest"
        _docker("build", "--network", "host", "-q", "-t", ref, ctx, stdout=subprocess.DEVNULL)
        _docker("push", ref, stdout=subprocess.DEVNULL)


def _debian_mirror() -> str:
    for source in (Path("/etc/apt/sources.list.d/debian.sources"), Path("/etc/apt/sources.list")):
        if source.exists():
            for line in source.read_text().splitlines():
                parts = line.split()
                if line.startswith("URIs:") and len(parts) > 1:
                    return parts[1]
                if line.startswith("deb ") and len(parts) > 1 and "security" not in line:
                    return parts[1]
    return "http://deb.debian.org/debian"


def seed_python(mirror: str) -> None:
    if _manifest_exists(mirror, "library/python", "3.11-slim"):
        return
    say("building the python:3.11-slim stand-in with debootstrap (about 30-60 s)")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "rootfs"
        subprocess.run(["debootstrap", "--variant=minbase", "--include=python3,python-is-python3",
                        "bookworm", str(root), _debian_mirror()], check=True, stdout=subprocess.DEVNULL)
        shutil.rmtree(root / "var/cache/apt/archives", ignore_errors=True)
        ref = f"{mirror}/library/python:3.11-slim"
        tar = subprocess.Popen(["tar", "-C", str(root), "-c", "."], stdout=subprocess.PIPE)
        _docker("import", "--change", 'CMD ["python3"]',
                "--change", f'LABEL {STAND_IN_LABEL}="Debian bookworm minbase + python3, for offline use"',
                "-", ref, stdin=tar.stdout, stdout=subprocess.DEVNULL)
        tar.wait()
        _docker("push", ref, stdout=subprocess.DEVNULL)


AZURITE = "azurite@3.35.0"  # the newest that runs on Node 20 (decisions.md)
CHECKOUT = Path(__file__).resolve().parents[2]


def ensure_azurite() -> None:
    """Azurite for the ACR emulator's blobs, from npm into the checkout's .cache (where the emulator looks)."""
    prefix = CHECKOUT / ".cache" / "azurite"
    if os.access(prefix / "node_modules" / ".bin" / "azurite-blob", os.X_OK):
        return
    say(f"installing {AZURITE} (npm) into {prefix}")
    subprocess.run(["npm", "install", "--prefix", str(prefix), "--no-audit", "--no-fund", "--loglevel=error",
                    AZURITE], check=True, stdout=subprocess.DEVNULL)


# -- the verbs -------------------------------------------------------------------------------------

def up(browser: bool = False) -> None:
    t0 = time.monotonic()
    ensure_packages(BROWSER_PACKAGES if browser else None)
    ensure_registry("registry")
    ensure_registry("mirror")
    ensure_engine()
    mirror = "localhost:" + REGISTRIES["mirror"].split(":")[1]
    seed_busybox(mirror)
    seed_python(mirror)
    ensure_azurite()
    say(f"ready in {time.monotonic() - t0:.1f}s: engine {engine_url()}, registry {config.LOCAL_REGISTRY}, "
        f"mirror {config.MIRROR_REGISTRY}")


def down() -> None:
    """Stop what `up` started, by PID (dockerd first, so its containers stop before the registries)."""
    for name in ("dockerd", "registry", "mirror"):
        pid = _started_pid(name)
        if pid is None:
            continue
        say(f"stopping {name} (pid {pid})")
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 30
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.2)
        if _alive(pid):
            os.kill(pid, signal.SIGKILL)
        _pidfile(name).unlink(missing_ok=True)


def status() -> dict[str, bool]:
    return {
        "engine": engine_answers(),
        "registry": registry_answers(REGISTRIES["registry"]),
        "mirror": registry_answers(REGISTRIES["mirror"]),
    }
