"""The Azure SDK modules a cloud run uses, imported ahead in one thread while this one waits on the network.

A fresh `acrmagic build` in cloud mode spent about a third of its start importing azure-identity, the two
management SDKs and azure-storage-blob, one after the other, each just before its first request, with
the network idle meanwhile. `start()` imports them in the order a run needs them, in a thread of
its own; `ready(name)` is called before each first use and waits until the thread has passed `name`.
So the main thread's own import finds the module whole: never two threads inside one package's
imports at once (a package half imported by another thread is what Python hands back otherwise).
"""

from __future__ import annotations

import threading

#: in the order a quick build uses them: token, registry GET, upload URL and scheduleRun, upload
ORDER = ("azure.identity", "azure.mgmt.containerregistry", "azure.mgmt.containerregistrytasks", "azure.storage.blob")

_lock = threading.Lock()
_done: dict[str, threading.Event] = {}


def start() -> None:
    """Begin importing ORDER in a thread (once per process)."""
    with _lock:
        if _done:
            return
        for name in ORDER:
            _done[name] = threading.Event()
    threading.Thread(target=_load, name="acrmagic-sdk-import", daemon=True).start()


def _load() -> None:
    import importlib

    for name in ORDER:
        try:
            importlib.import_module(name)
        except Exception:  # noqa: BLE001 -- imported again where used, and fails there with its own message
            pass
        finally:
            _done[name].set()


def ready(name: str) -> None:
    """Wait until the thread is past `name` (at once when it was never started)."""
    event = _done.get(name)
    if event is not None:
        event.wait()
