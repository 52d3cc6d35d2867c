"""The real azure-cli for the tests (test_az_cli.py) and the benchmark against it (benchmarks/bench_cloud_az.py):
installed once into a virtualenv of its own under .cache/, and run with an environment built from nothing
(no AZURE_* of the user's, no proxy, no ~/.azure) that trusts and logs in to one emulator. No pytest here: the
benchmark imports it too."""

from __future__ import annotations

import fcntl
import shutil
import subprocess
import sys
from pathlib import Path

AZ_VERSION = "2.91.0"
ROOT = Path(__file__).resolve().parents[1]
AZ_VENV = ROOT / ".cache" / "az-venv" / f"azure-cli-{AZ_VERSION}"


def install_az() -> Path:
    """The az executable of azure-cli AZ_VERSION, installed once (a stamp written last marks it whole)."""
    az, stamp = AZ_VENV / "bin" / "az", AZ_VENV / ".installed"
    AZ_VENV.parent.mkdir(parents=True, exist_ok=True)
    with open(AZ_VENV.parent / f".azure-cli-{AZ_VERSION}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # two test runs at once install it once
        if stamp.exists() and stamp.read_text().strip() == AZ_VERSION and az.exists():
            return az
        print(f"installing azure-cli {AZ_VERSION} into {AZ_VENV} (once)...", file=sys.stderr, flush=True)
        shutil.rmtree(AZ_VENV, ignore_errors=True)  # a half-made one (an interrupted install)
        python3 = shutil.which("python3") or sys.executable
        subprocess.run([python3, "-m", "venv", str(AZ_VENV)], check=True, capture_output=True, timeout=120)
        pip = subprocess.run([str(AZ_VENV / "bin" / "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check",
                              f"azure-cli=={AZ_VERSION}"], capture_output=True, text=True, timeout=1200)
        if pip.returncode != 0:
            errors = [line for line in pip.stderr.splitlines() if "is ignored: it is neither" not in line]
            raise AssertionError(f"pip install azure-cli=={AZ_VERSION} failed:\n" + "\n".join(errors[-30:]))
        stamp.write_text(AZ_VERSION + "\n")
        return az


def az_env(executable: Path, emulator_info: dict, folder: Path) -> dict:
    """az's whole environment: its home, temporary files and configuration in `folder` (made here), the
    emulator's CA bundle and loopback identity endpoint (`az login --identity`)."""
    (folder / "home").mkdir(parents=True)
    (folder / "tmp").mkdir()
    return {
        "PATH": f"{executable.parent}:/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8",
        "HOME": str(folder / "home"), "TMPDIR": str(folder / "tmp"),
        "AZURE_CONFIG_DIR": str(folder / "azure-config"),
        "AZURE_CORE_COLLECT_TELEMETRY": "false", "AZURE_CORE_NO_COLOR": "true",
        "AZURE_CORE_SURVEY_MESSAGE": "false",
        "REQUESTS_CA_BUNDLE": emulator_info["ca_bundle"],
        "IDENTITY_ENDPOINT": emulator_info["identity_endpoint"],
        "IDENTITY_HEADER": emulator_info["identity_header"],
    }
