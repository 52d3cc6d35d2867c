"""Running a run's work while the calling thread stays responsive.

The work (a build and push, a task's steps) runs in a worker thread. The calling thread (the kernel's
main thread in a notebook) loops until it is done: it delivers queued progress to the view, so output
lands in the cell that started the run; it lets the kernel process widget messages (a Cancel click)
while the cell is still executing, through jupyter-ui-poll when that is installed; it checks for
`acrmagic cancel` requests and the run's deadline; and it turns Ctrl-C or a kernel interrupt into a
stop. An Event, not Thread.join: an interrupted join can leave a thread looking finished while it runs.
"""

from __future__ import annotations

import contextlib
import threading
from typing import Callable, TypeVar

T = TypeVar("T")
INTERVAL = 0.1  # seconds between polls: progress reaches the view at most this late


@contextlib.contextmanager
def _kernel_events():
    """poll(): let the kernel handle pending widget messages (no-op outside a Jupyter kernel)."""
    from .progress import in_notebook

    if in_notebook():
        try:
            from jupyter_ui_poll import ui_events
        except ImportError:
            pass
        else:
            with ui_events() as poll:
                yield lambda: poll(20)
            return
    yield lambda: None


def supervise(work: Callable[[], T], *, stop: Callable[[str], None], check: Callable[[], str | None],
              pump: Callable[[], None]) -> T:
    """Run `work()` in a worker; meanwhile poll. `check()` returns a stop reason ("timeout", "canceled")
    or None; `stop(reason)` is called once per reason, and with "interrupt" on Ctrl-C."""
    outcome: dict = {}
    finished = threading.Event()
    stopped: set[str] = set()

    def target():
        try:
            outcome["result"] = work()
        except BaseException as e:  # handed back to the calling thread
            outcome["error"] = e
        finally:
            finished.set()

    def request(reason: str):
        if reason not in stopped:
            stopped.add(reason)
            stop(reason)

    threading.Thread(target=target, name="acrmagic-run", daemon=True).start()
    with _kernel_events() as poll:
        while not finished.is_set():
            try:
                finished.wait(INTERVAL)
                poll()
                pump()
                reason = check()
                if reason:
                    request(reason)
            except KeyboardInterrupt:
                request("interrupt")
    pump()
    if "error" in outcome:
        raise outcome["error"]
    return outcome["result"]
