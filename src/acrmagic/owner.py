"""Which process owns a run: host, PID and the kernel's start time of that PID (so a reused PID is not
mistaken for the owner). The run store records it; the engine's containers and volumes carry it as a
label, so what a killed process left behind is found and removed later."""

from __future__ import annotations

import os
import socket
from pathlib import Path


def process_start(pid: int) -> str | None:
    """The kernel's start time of a process (guards against PID reuse); None if there is no such process."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def this_process() -> str:
    """`host:pid:start` of the calling process."""
    pid = os.getpid()
    return f"{socket.gethostname()}:{pid}:{process_start(pid)}"


def alive(owner: str) -> bool:
    """Is the process `owner` (as `this_process` wrote it) still running? Another host's: assumed so."""
    host, _, rest = owner.partition(":")
    pid, _, start = rest.partition(":")
    if host != socket.gethostname():
        return True
    return pid.isdigit() and start not in ("", "None") and process_start(int(pid)) == start
