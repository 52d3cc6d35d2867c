"""An emulator as a child process, for the notebooks, scripts, tests and benchmarks that need one for a
while: started, its start-up line read (the `info` every client needs), stopped with SIGTERM.

    with EmulatorProcess(Path("emu")) as emulator:
        acrmagic.use(emulator=emulator.config_file)
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

from ..errors import EmulatorError


class EmulatorProcess:
    def __init__(self, folder: Path, args: list[str] | tuple[str, ...] = (), *, env: dict | None = None,
                 startup_timeout: float = 90):
        """Start `acrmagic emulator --config-file <folder>/emulator.json ARGS`; its stderr (the access log)
        goes to <folder>/emulator.stderr. Raises EmulatorError if it prints no start-up line in time."""
        folder.mkdir(parents=True, exist_ok=True)
        self.folder = folder
        self.config_file = folder / "emulator.json"
        self.stderr_path = folder / "emulator.stderr"
        self._stderr = open(self.stderr_path, "wb")
        self.proc = subprocess.Popen([sys.executable, "-m", "acrmagic.emulator", "--config-file",
                                      str(self.config_file), *args], stdout=subprocess.PIPE, stderr=self._stderr,
                                     text=True, env=env if env is not None else dict(os.environ))
        line: list[str] = []
        reader = threading.Thread(target=lambda: line.append(self.proc.stdout.readline()), daemon=True)
        reader.start()
        reader.join(startup_timeout)
        if not line or not line[0].strip():
            self.stop()
            tail = self.stderr_path.read_text(errors="replace").strip().splitlines()[-1:]
            raise EmulatorError(f"the emulator did not start: {tail[0] if tail else 'no output'}")
        self.info: dict = json.loads(line[0])

    def stop(self, timeout: float = 60) -> int | None:
        """SIGTERM (it stops its runs and its Azurite), then SIGKILL if it does not end in `timeout`."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self._stderr.close()
        return self.proc.returncode

    def __enter__(self) -> "EmulatorProcess":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()
