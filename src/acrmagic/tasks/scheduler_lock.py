"""One active scheduler per store: an exclusive `flock` on ACRMAGIC_HOME/scheduler.lock, held by the
active scheduler and freed by the kernel when its process dies (however it dies). A second scheduler
(another kernel, another terminal) stands by until the lock is free."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from ..errors import UsageError


class SchedulerLock:
    """An exclusive flock on <home>/scheduler.lock: held by the active scheduler, freed when its process dies."""

    def __init__(self, home: Path):
        self.path = Path(home) / "scheduler.lock"
        self._file = None

    @property
    def held(self) -> bool:
        return self._file is not None

    def acquire(self) -> bool:
        if self._file is not None:
            return True
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            f = open(self.path, "a+")
        except OSError as e:
            raise UsageError(f"scheduler: cannot open its lock file {self.path}: {e.strerror}") from None
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            f.close()
            return False
        f.seek(0)
        f.truncate()
        f.write(f"{os.getpid()}\n")
        f.flush()
        self._file = f
        return True

    def holder(self) -> str | None:
        try:
            return self.path.read_text().strip() or None
        except OSError:
            return None

    def release(self) -> None:
        if self._file is not None:
            fcntl.flock(self._file, fcntl.LOCK_UN)
            self._file.close()
            self._file = None
