"""The local stack: Docker engine, local registry, offline mirror of base images.

`up()` is idempotent: what already answers is reused, what is missing is installed (Debian packages)
and started. On a machine where everything runs it returns in about a second. `down()` stops only
the processes this module started (their PIDs are kept under the stack folder).

Network rules of this project: everything listens on 127.0.0.1, the engine runs without a bridge
(`--bridge=none --iptables=false --ip-masq=false`), so builds and containers use host networking.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import signal
import ssl
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

from . import config
from .errors import AcrMagicError
from .registry import image_labels
from .targets.local.builds import STAND_IN_LABEL  # the label the library reads back

APT_PACKAGES = {  # package -> a file it installs
    "docker.io": "/usr/sbin/dockerd",
    "docker-registry": "/usr/bin/docker-registry",
    "busybox-static": "/bin/busybox",
    "debootstrap": "/usr/sbin/debootstrap",
}
BROWSER_PACKAGES = {"chromium": "/usr/bin/chromium"}  # the browser tests drive Debian's Chromium
DOCKER_CLI = "/usr/bin/docker"  # Debian's client; another docker on PATH may lack BuildKit support
REGISTRIES = {"registry": "127.0.0.1:5000", "mirror": "127.0.0.1:5001"}
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


#: what the python stand-in holds; bump it when that changes, and `up` rebuilds a mirror's older one
PYTHON_STAND_IN = 2  # 1: python3 only; 2: + pip, venv, no PEP 668 marker, the machine's CAs trusted
STAND_IN_VERSION_LABEL = STAND_IN_LABEL + ".version"
PYTHON_PACKAGES = "python3,python-is-python3,python3-pip,python3-venv,ca-certificates"
HOST_CA_DIR = Path("/usr/local/share/ca-certificates")  # update-ca-certificates' folder of local CAs
_PEM = re.compile(rb"-----BEGIN CERTIFICATE-----\s+(.*?)\s+-----END CERTIFICATE-----", re.S)


def host_ca_bundle() -> Path:
    """The CA bundle this machine's OpenSSL trusts (Debian: /etc/ssl/certs/ca-certificates.crt)."""
    paths = ssl.get_default_verify_paths()
    for candidate in (os.environ.get("SSL_CERT_FILE"), paths.cafile, paths.openssl_cafile,
                      "/etc/ssl/certs/ca-certificates.crt"):
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    raise AcrMagicError("no CA bundle found on this machine (SSL_CERT_FILE, /etc/ssl/certs/ca-certificates.crt)")


def _certificates(pem: bytes) -> list[bytes]:
    """The certificates of a PEM bundle, each as its base64 body without white space (to compare them)."""
    return [re.sub(rb"\s", b"", m.group(1)) for m in _PEM.finditer(pem)]


def python_stand_in_version() -> str:
    """The stand-in's recipe version and the machine's CA bundle: a change of either calls for a rebuild."""
    cas = hashlib.sha256(b"".join(sorted(_certificates(host_ca_bundle().read_bytes())))).hexdigest()[:16]
    return f"{PYTHON_STAND_IN}-cas-{cas}"


def seed_python(mirror: str) -> None:
    """`python:3.11-slim` on the mirror: Debian bookworm's python3 (3.11) with pip and venv, without
    Debian's PEP 668 marker (so `pip install` works as in the real image), trusting every CA this
    machine trusts (so pip reaches the package index from a build wherever it does from the host).
    An older stand-in (a mirror kept from an earlier set-up) is rebuilt over it; the new one holds
    everything the old one did."""
    want = python_stand_in_version()
    labels = image_labels(mirror, "library/python", "3.11-slim")
    if labels is not None and labels.get(STAND_IN_VERSION_LABEL) == want:
        return
    if labels is not None and STAND_IN_LABEL not in labels:
        return  # a real python image was put there by hand: not ours to replace
    why = "is older than this checkout's" if labels is not None else "is missing"
    say(f"the python:3.11-slim stand-in {why}: building it with debootstrap (about 1-2 min)")
    ref = f"{mirror}/library/python:3.11-slim"
    build_python_stand_in(ref, want)
    _docker("push", ref, stdout=subprocess.DEVNULL)
    # the engine's own copy (a task's cmd step uses it without pulling) follows the mirror
    _docker("pull", "-q", "python:3.11-slim", stdout=subprocess.DEVNULL)


def build_python_stand_in(ref: str, version: str) -> None:
    """The stand-in as an image `ref` on the engine (not pushed)."""
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "rootfs"
        subprocess.run(["debootstrap", "--variant=minbase", f"--include={PYTHON_PACKAGES}",
                        "bookworm", str(root), _debian_mirror()], check=True, stdout=subprocess.DEVNULL)
        for marker in root.glob("usr/lib/python3*/EXTERNALLY-MANAGED"):
            marker.unlink()  # the official image has none: pip installs system-wide
        _trust_host_cas(root)
        shutil.rmtree(root / "var/cache/apt/archives", ignore_errors=True)
        (root / "var/cache/apt/archives/partial").mkdir(parents=True)
        for lists in (root / "var/lib/apt/lists").glob("*_*"):
            lists.unlink()
        tar = subprocess.Popen(["tar", "-C", str(root), "-c", "."], stdout=subprocess.PIPE)
        bundle = "/etc/ssl/certs/ca-certificates.crt"
        # pip-installed requests/httpx carry certifi's CAs, not the system's: point them at the system bundle,
        # as this machine's own environment does
        _docker("import", "--change", 'CMD ["python3"]', "--change", "ENV LANG=C.UTF-8",
                "--change", f"ENV REQUESTS_CA_BUNDLE={bundle} SSL_CERT_FILE={bundle}",
                "--change", f'LABEL {STAND_IN_LABEL}="Debian bookworm minbase + python3, pip, venv and this '
                            f'machine\'s CAs, for offline use"',
                "--change", f'LABEL {STAND_IN_VERSION_LABEL}="{version}"',
                "-", ref, stdin=tar.stdout, stdout=subprocess.DEVNULL)
        tar.wait()


def _trust_host_cas(root: Path) -> None:
    """Every CA certificate the host trusts, added to the rootfs the way Debian adds local CAs
    (/usr/local/share/ca-certificates + update-ca-certificates), so the image's bundle, OpenSSL,
    Debian's pip and requests trust them, and a later update-ca-certificates in a build keeps them."""
    local = root / HOST_CA_DIR.relative_to("/")
    local.mkdir(parents=True, exist_ok=True)
    if HOST_CA_DIR.is_dir():
        for crt in HOST_CA_DIR.rglob("*.crt"):
            target = local / crt.relative_to(HOST_CA_DIR)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(crt, target)
    subprocess.run(["chroot", str(root), "update-ca-certificates"], check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    bundle = root / "etc/ssl/certs/ca-certificates.crt"
    have = set(_certificates(bundle.read_bytes()))
    host = host_ca_bundle().read_bytes()
    missing = [m.group(0) for m in _PEM.finditer(host) if re.sub(rb"\s", b"", m.group(1)) not in have]
    if missing:  # CAs the host trusts that are in neither Debian's set nor its local folder
        for i, pem in enumerate(missing):
            (local / f"acrmagic-host-{i}.crt").write_bytes(pem + b"\n")
        subprocess.run(["chroot", str(root), "update-ca-certificates"], check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
        have = set(_certificates(bundle.read_bytes()))
    lacking = set(_certificates(host)) - have
    if lacking:
        raise AcrMagicError(f"the python stand-in's CA bundle lacks {len(lacking)} of the host's CAs")


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
