"""Azurite (the Azure Storage emulator, npm `azurite@3.35.0`) as a child process serving blobs over
HTTPS on loopback, started and stopped by PID."""

from __future__ import annotations

import ctypes
import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

from ..errors import EmulatorError

ENV_VAR = "ACRMAGIC_AZURITE"
INSTALL = "npm install --prefix .cache/azurite azurite@3.35.0"
_CACHE_BIN = Path(".cache/azurite/node_modules/.bin/azurite-blob")
#: the source checkout this package runs from (an editable install), whose .cache the set-up fills
_CHECKOUT = Path(__file__).resolve().parents[3]
#: Azurite's well-known development account (public, documented by Microsoft; not a secret)
ACCOUNT = "devstoreaccount1"
ACCOUNT_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="


def find_azurite() -> str:
    """The azurite-blob executable: $ACRMAGIC_AZURITE, then .cache/azurite (here or in the checkout), then PATH."""
    configured = os.environ.get(ENV_VAR)
    if configured:
        if os.access(configured, os.X_OK):
            return configured
        raise EmulatorError(f"{ENV_VAR}={configured} is not an executable azurite-blob")
    for candidate in (Path.cwd() / _CACHE_BIN, _CHECKOUT / _CACHE_BIN):
        if os.access(candidate, os.X_OK):
            return str(candidate)
    found = shutil.which("azurite-blob")
    if found:
        return found
    raise EmulatorError(f"Azurite not found: set {ENV_VAR} to an azurite-blob executable, or run `{INSTALL}`")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _die_with_parent() -> None:
    # Linux: Azurite gets SIGTERM if the emulator dies without stopping it (e.g. SIGKILL)
    PR_SET_PDEATHSIG = 1
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


class Azurite:
    def __init__(self, location: Path, cert: Path, key: Path, port: int | None = None):
        self.location, self.cert, self.key = location, cert, key
        self.port = port or free_port()
        self.process: subprocess.Popen | None = None

    @property
    def endpoint(self) -> str:
        return f"https://127.0.0.1:{self.port}/{ACCOUNT}"

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    def start(self, timeout: float = 20) -> None:
        self.location.mkdir(parents=True, exist_ok=True)
        log = open(self.location / "azurite.log", "wb")
        # --disableTelemetry: without it Azurite phones home; --skipApiVersionCheck: azure-storage-blob
        # sends a newer x-ms-version than 3.35 knows
        argv = [find_azurite(), "--blobHost", "127.0.0.1", "--blobPort", str(self.port),
                "--location", str(self.location), "--cert", str(self.cert), "--key", str(self.key),
                "--skipApiVersionCheck", "--disableTelemetry", "--disableProductStyleUrl", "--silent"]
        try:
            self.process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                            preexec_fn=_die_with_parent if os.name == "posix" else None)
        except OSError as e:
            raise EmulatorError(f"cannot start Azurite ({argv[0]}): {e}") from None
        finally:
            log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                tail = (self.location / "azurite.log").read_text(errors="replace").strip().splitlines()[-1:]
                raise EmulatorError(f"Azurite exited with status {self.process.returncode}: {' '.join(tail)}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise EmulatorError(f"Azurite did not listen on 127.0.0.1:{self.port} within {timeout:.0f} s")

    def stop(self, timeout: float = 5) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout)
