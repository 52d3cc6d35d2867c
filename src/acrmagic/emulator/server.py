"""Putting the emulator together: the CA, Azurite, the HTTPS management server and the plain-HTTP
identity endpoint (App Service's is plain HTTP on the local host too), in the foreground until
SIGTERM or SIGINT; then runs are canceled, the servers close and Azurite stops."""

from __future__ import annotations

import asyncio
import contextlib
import copy
import json
import os
import shutil
import signal
import socket
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import uvicorn
from starlette.applications import Starlette
from starlette.routing import Route

from .app import ArmApp
from .azurite import Azurite
from .blobs import Storage
from ..errors import EmulatorError
from .execute import LocalTargetExecutor, RunExecutor
from .identity import TOKEN_PATH, Issuer
from .run_driver import RunDriver
from .state import Registry, Store
from .sources import ContextPolicy
from .tasks_api import SourceExecutor
from .triggers import Triggers
from .tls import make_tls


@dataclass
class Settings:
    registries: list[Registry]
    tenant_id: str
    state_dir: Path | None = None
    config_file: Path | None = None
    port: int = 0
    identity_port: int = 0
    run_id_prefix: str = "ca"
    user_identities: list[str] = field(default_factory=list)
    token_lifetime: int = 3600
    max_running: int = 2
    log_level: str = "warning"
    poll_interval: float = 10.0   # seconds between checks of the tasks' triggers
    clock_offset: float = 0.0     # seconds added to the clock the timer triggers see (a test hook)
    context_roots: list[Path] = field(default_factory=list)  # host folders task contexts may name


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self):
        yield  # the emulator handles SIGTERM/SIGINT once for both servers

    async def shutdown(self, sockets=None):
        # An idle TLS keep-alive connection would hold shut-down for the whole grace period (closing
        # it waits for the client's close_notify); it carries no request, so drop it at once.
        for conn in list(self.server_state.connections):
            cycle, transport = getattr(conn, "cycle", None), getattr(conn, "transport", None)
            if transport is not None and (cycle is None or cycle.response_complete):
                transport.abort()
        await super().shutdown(sockets)


def _log_config() -> dict:
    """uvicorn's logging, with the access log on stderr too: stdout carries only the start-up line."""
    config = copy.deepcopy(uvicorn.config.LOGGING_CONFIG)
    config["handlers"]["access"]["stream"] = "ext://sys.stderr"
    return config


def _listen(port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # accepted connections inherit it; asyncio sets it only on sockets made with proto IPPROTO_TCP, and
    # without it every answer waits ~40 ms for the client's delayed ACK (Nagle)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        sock.bind(("127.0.0.1", port))
    except OSError as e:
        sock.close()
        raise EmulatorError(f"cannot listen on 127.0.0.1:{port}: {e.strerror}") from None
    sock.listen(128)
    return sock


def serve(settings: Settings, executor: RunExecutor | None = None) -> int:
    if settings.config_file is not None:
        settings.config_file.unlink(missing_ok=True)  # whoever waits for it must not read the last run's
    temporary = settings.state_dir is None
    state_dir = Path(tempfile.mkdtemp(prefix="acrmagic-emulator-")) if temporary else settings.state_dir
    state_dir.mkdir(parents=True, exist_ok=True)
    tls = make_tls(state_dir / "tls")
    arm_sock, id_sock = _listen(settings.port), _listen(settings.identity_port)
    azurite = Azurite(state_dir / "azurite", tls.cert, tls.key)
    run_driver = triggers = None
    try:
        azurite.start()
        base_url = f"https://127.0.0.1:{arm_sock.getsockname()[1]}"
        identity_url = f"http://127.0.0.1:{id_sock.getsockname()[1]}{TOKEN_PATH}"
        issuer = Issuer(settings.tenant_id, settings.user_identities, settings.token_lifetime,
                        extra_audiences=(base_url + "/", base_url))
        storage = Storage(azurite.endpoint, tls.ca_bundle)
        store = Store(settings.registries, settings.run_id_prefix)
        contexts = ContextPolicy(list(settings.context_roots))
        sources = SourceExecutor(executor or LocalTargetExecutor(), contexts)
        run_driver = RunDriver(store, storage, sources, state_dir / "work", settings.max_running)
        arm = ArmApp(store, storage, run_driver, issuer, base_url, contexts)
        sources.tasks_api = arm.tasks
        arm_app = arm.app()
        triggers = arm.tasks.triggers = Triggers(store, arm.tasks, contexts, settings.poll_interval,
                                                 settings.clock_offset)
        triggers.start()
        identity_app = Starlette(routes=[Route(TOKEN_PATH, issuer.token_endpoint)])
        first = settings.registries[0]
        info = {
            "management_url": base_url, "ca_bundle": str(tls.ca_bundle), "subscription_id": first.subscription,
            "resource_group": first.resource_group, "registry": first.name, "login_server": first.login_server,
            "blob_endpoint": azurite.endpoint, "identity_endpoint": identity_url,
            "identity_header": issuer.header_secret, "tenant_id": settings.tenant_id,
            "system_identity_client_id": issuer.system.client_id, "user_identities": settings.user_identities,
            "registries": [{"name": r.name, "resource_group": r.resource_group, "subscription_id": r.subscription,
                            "sku": r.sku, "tasks": r.tasks, "login_server": r.login_server, "id": r.id}
                           for r in settings.registries],
            "state_dir": str(state_dir), "pid": os.getpid(), "azurite_pid": azurite.pid,
        }
        servers = [
            (_Server(uvicorn.Config(arm_app, ssl_certfile=str(tls.cert), ssl_keyfile=str(tls.key), lifespan="off",
                                    log_level=settings.log_level, log_config=_log_config(),
                                    timeout_graceful_shutdown=5)), arm_sock),
            (_Server(uvicorn.Config(identity_app, lifespan="off", log_level=settings.log_level,
                                    log_config=_log_config(), timeout_graceful_shutdown=5)), id_sock),
        ]
        asyncio.run(_run(servers, lambda: _announce(info, settings.config_file)))
        return 0
    finally:
        if triggers is not None:
            triggers.stop()
        if run_driver is not None:
            run_driver.stop()
        azurite.stop()
        arm_sock.close()
        id_sock.close()
        if temporary:
            shutil.rmtree(state_dir, ignore_errors=True)
        if settings.config_file is not None:  # it names a CA and endpoints that are gone now
            settings.config_file.unlink(missing_ok=True)


def _announce(info: dict, config_file: Path | None) -> None:
    text = json.dumps(info)
    if config_file is not None:
        config_file.parent.mkdir(parents=True, exist_ok=True)
        partial = config_file.with_name(config_file.name + ".partial")
        # it holds the identity header: readable by its owner only
        partial.touch(mode=0o600)
        partial.chmod(0o600)
        partial.write_text(json.dumps(info, indent=2) + "\n")
        partial.replace(config_file)  # readers never see half a file
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


async def _run(servers: list[tuple[_Server, socket.socket]], on_started) -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    tasks = [asyncio.create_task(server.serve(sockets=[sock])) for server, sock in servers]
    while not all(server.started for server, _ in servers):
        if any(t.done() for t in tasks):
            break
        await asyncio.sleep(0.02)
    else:
        on_started()
        waiter = asyncio.create_task(stop.wait())
        await asyncio.wait([waiter, *tasks], return_when=asyncio.FIRST_COMPLETED)
        waiter.cancel()
    for server, _ in servers:
        server.should_exit = True
    await asyncio.gather(*tasks, return_exceptions=True)
    for t in tasks:
        if t.exception() is not None:
            raise EmulatorError(f"the server stopped: {t.exception()}")
    if not all(server.started for server, _ in servers):
        raise EmulatorError("the server did not start (see the messages above)")
