"""`acrmagic emulator` (also `python -m acrmagic.emulator`): flags -> Settings -> serve.

Registries: each `--registry NAME` adds one; `--resource-group`, `--subscription`, `--sku`,
`--login-server` given once apply to every registry, given once per registry they pair up in order.
`--no-tasks NAME` makes that registry refuse ACR Tasks requests (as the service does where Tasks
are not allowed). `--registries FILE` reads a JSON list of
`{"name", "resourceGroup", "subscription", "sku", "tasks", "loginServer", "location"}` instead.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import uuid
from pathlib import Path

from ..acrspec import REGISTRY_NAME
from ..errors import EmulatorError
from .state import SKUS, Registry

#: stable defaults, so scripts (`az acr build -r acrmagic ...`) work across restarts
DEFAULT_SUBSCRIPTION = str(uuid.uuid5(uuid.NAMESPACE_DNS, "subscription.emulator.acrmagic"))
DEFAULT_TENANT = str(uuid.uuid5(uuid.NAMESPACE_DNS, "tenant.emulator.acrmagic"))
DEFAULT_REGISTRY, DEFAULT_GROUP, DEFAULT_LOGIN_SERVER = "acrmagic", "acrmagic-rg", "localhost:5000"
_NAME = REGISTRY_NAME


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="acrmagic emulator",
        description="An offline ACR Tasks emulator: the ARM management API over HTTPS (local CA), a managed-identity "
                    "token endpoint, Azurite for sources and logs; runs build on the local Docker engine. Prints one "
                    "JSON line with its endpoints, then serves until SIGTERM or Ctrl-C.")
    p.add_argument("--state-dir", type=Path, help="where the CA, Azurite data and run files go (default: a temporary "
                                                  "folder, removed at exit)")
    p.add_argument("--config-file", type=Path, help="also write the start-up JSON to this file")
    p.add_argument("--port", type=int, default=0, help="management HTTPS port on 127.0.0.1 (default: a free one)")
    p.add_argument("--identity-port", type=int, default=0, help="identity endpoint port (default: a free one)")
    p.add_argument("--registry", action="append", default=[], metavar="NAME", help="a registry to serve (repeatable)")
    p.add_argument("--resource-group", action="append", default=[], metavar="RG")
    p.add_argument("--subscription", action="append", default=[], metavar="ID")
    p.add_argument("--sku", action="append", default=[], choices=SKUS)
    p.add_argument("--login-server", action="append", default=[], metavar="HOST[:PORT]",
                   help="where the registry's images are pushed (default: the local registry, localhost:5000)")
    p.add_argument("--no-tasks", action="append", default=[], metavar="NAME",
                   help="this registry refuses ACR Tasks requests (TasksOperationsNotAllowed)")
    p.add_argument("--registries", type=Path, metavar="FILE", help="registries as a JSON list (instead of the flags)")
    p.add_argument("--tenant", default=DEFAULT_TENANT, help="the tenant id in tokens and the tenants list")
    p.add_argument("--user-identity", action="append", default=[], metavar="CLIENT_ID",
                   help="a user-assigned identity the token endpoint issues tokens for (repeatable)")
    p.add_argument("--token-lifetime", type=int, default=3600, metavar="SECONDS")
    p.add_argument("--max-running", type=int, default=2, metavar="N",
                   help="runs executed at once; later ones wait Queued (default: 2)")
    p.add_argument("--poll-interval", type=float, default=10.0, metavar="SECONDS",
                   help="seconds between checks of the tasks' commit, base-image and timer triggers (default: 10)")
    p.add_argument("--clock-offset", type=float, default=0.0, metavar="SECONDS",
                   help="shift the clock the timer triggers see by this many seconds (a test hook; default: 0)")
    p.add_argument("--context-root", action="append", default=[], type=Path, metavar="DIR",
                   help="host folders (and file:// git repositories) under DIR may be task and run contexts "
                        "(repeatable; default: none, so only uploads and repository URLs are built)")
    p.add_argument("--run-id-prefix", default="ca", help="two lowercase letters before the run counter (default: ca)")
    p.add_argument("--log-level", default="warning", choices=["critical", "error", "warning", "info", "debug"],
                   help="server log level on stderr (info shows every request)")
    return p


def _pick(values: list[str], i: int, count: int, flag: str, default: str) -> str:
    if not values:
        return default
    if len(values) == 1:
        return values[0]
    if len(values) != count:
        raise EmulatorError(f"give {flag} once, or once per --registry ({count})")
    return values[i]


def registries_from(args: argparse.Namespace) -> list[Registry]:
    if args.registries:
        try:
            items = json.loads(args.registries.read_text())
        except (OSError, ValueError) as e:
            raise EmulatorError(f"cannot read --registries {args.registries}: {e}") from None
        if not isinstance(items, list) or not items or not all(isinstance(i, dict) and i.get("name") for i in items):
            raise EmulatorError(f"--registries {args.registries}: expected a JSON list of objects with a name")
        regs = [Registry(name=i["name"], resource_group=i.get("resourceGroup", DEFAULT_GROUP),
                         subscription=i.get("subscription", DEFAULT_SUBSCRIPTION), sku=i.get("sku", "Standard"),
                         tasks=bool(i.get("tasks", i.get("sku") != "Classic")),
                         login_server=i.get("loginServer", DEFAULT_LOGIN_SERVER), location=i.get("location", "eastus"))
                for i in items]
    else:
        names = args.registry or [DEFAULT_REGISTRY]
        n = len(names)
        regs = []
        for i, name in enumerate(names):
            sku = _pick(args.sku, i, n, "--sku", "Standard")
            regs.append(Registry(name=name, resource_group=_pick(args.resource_group, i, n, "--resource-group", DEFAULT_GROUP),
                                 subscription=_pick(args.subscription, i, n, "--subscription", DEFAULT_SUBSCRIPTION),
                                 sku=sku, tasks=sku != "Classic" and name.lower() not in {x.lower() for x in args.no_tasks},
                                 login_server=_pick(args.login_server, i, n, "--login-server", DEFAULT_LOGIN_SERVER)))
    seen = set()
    for r in regs:
        if not _NAME.fullmatch(r.name):
            raise EmulatorError(f"registry name '{r.name}': 5 to 50 letters and digits")
        if r.sku not in SKUS:
            raise EmulatorError(f"registry {r.name}: sku must be one of {', '.join(SKUS)}")
        key = (r.subscription.lower(), r.resource_group.lower(), r.name.lower())
        if key in seen:
            raise EmulatorError(f"registry {r.name} is given twice")
        seen.add(key)
    return regs


def _context_roots(given: list[Path]) -> list[Path]:
    roots = []
    for root in given:
        if not root.is_absolute() or not root.is_dir():
            raise EmulatorError(f"--context-root {root}: an existing folder, given as an absolute path")
        if root.resolve() == Path("/"):
            raise EmulatorError("--context-root /: the whole host is not a context root")
        roots.append(root.resolve())
    return roots


def main(argv: list[str] | None = None) -> int:
    from .server import Settings, serve  # the heavy imports only once the flags are good

    try:
        args = parser().parse_args(sys.argv[1:] if argv is None else argv)
    except SystemExit as e:  # --help, or a usage error argparse has printed
        return e.code if isinstance(e.code, int) else 2
    try:
        if not re.fullmatch(r"[a-z]{2}", args.run_id_prefix):
            raise EmulatorError("--run-id-prefix: two lowercase letters, e.g. ca")
        if args.token_lifetime < 1:
            raise EmulatorError("--token-lifetime: a positive number of seconds")
        if args.max_running < 1:
            raise EmulatorError("--max-running: at least 1")
        settings = Settings(registries=registries_from(args), tenant_id=args.tenant, state_dir=args.state_dir,
                            config_file=args.config_file, port=args.port, identity_port=args.identity_port,
                            run_id_prefix=args.run_id_prefix, user_identities=args.user_identity,
                            token_lifetime=args.token_lifetime, max_running=args.max_running,
                            log_level=args.log_level, poll_interval=args.poll_interval,
                            clock_offset=args.clock_offset, context_roots=_context_roots(args.context_root))
        if not 0.05 <= args.poll_interval <= 86400:
            raise EmulatorError("--poll-interval: 0.05 to 86400 seconds")
        return serve(settings)
    except EmulatorError as e:
        print(f"acrmagic emulator: {e.message}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
