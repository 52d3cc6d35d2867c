"""The command-line twin of the magics: `acrmagic build|run|runs|show|logs|cancel|use|task|scheduler|trace|
emulator|stack`.

Exit codes: 0 success, 1 a run that did not succeed (or any acrmagic error), 2 a usage error.
"""

from __future__ import annotations

import gc
import json
import signal
import sys

from . import api
from .errors import AcrMagicError, UsageError
from .options import BuildOptions, HelpShown, Parser, TaskOptions, build_parser, run_parser


def _parser() -> Parser:
    p = Parser(prog="acrmagic", add_help=False,
               description="Container builds like `az acr build` and `az acr run`, on the local engine or in ACR.")
    p.add_argument("-h", "--help", action="help")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    sub.required = True
    sub.add_parser("build", parents=[build_parser("acrmagic build")], add_help=False,
                   help="build (and push) an image from a context")
    sub.add_parser("run", parents=[run_parser("acrmagic run")], add_help=False,
                   help="run a multi-step task file (-f FILE) on a context")
    from .commands import add_history_commands  # these two: not on the build path, only the other verbs parse here
    from .tasks.commands import add_task_commands

    add_history_commands(sub)
    add_task_commands(sub)
    sub.add_parser("emulator", add_help=False, help="the offline ACR emulator (`acrmagic emulator -h`)")
    stack = sub.add_parser("stack", add_help=False, help="the local engine, registry and offline mirror")
    stack.add_argument("-h", "--help", action="help", help="show this help")
    stack.add_argument("action", choices=["up", "down", "status"])
    stack.add_argument("--browser", action="store_true", help="with up: also install Chromium (browser tests)")
    return p


def _prefixed(error: Exception) -> str:
    """One line, `acrmagic: ...` once (a parser's message already starts with its program's name)."""
    text = str(error)
    return text if text.startswith("acrmagic") else f"acrmagic: {text}"


def _terminate(signum, frame):
    raise KeyboardInterrupt  # SIGTERM stops a run the way Ctrl-C does: recorded Canceled, engine cleaned


def main(argv: list[str] | None = None) -> int:
    """The command line. Without `argv` (the console script, `python -m acrmagic`) the process ends when
    this returns: what it made is then frozen out of the cyclic collector, whose passes over every object
    at interpreter shutdown (the session's gRPC stack, the run's records) cost a build process ~20-40 ms
    and find nothing that needs finalizing: files, sockets and the store are closed by then."""
    ends_process = argv is None
    argv = sys.argv[1:] if argv is None else argv
    signal.signal(signal.SIGTERM, _terminate)
    try:
        return _run(argv)
    except HelpShown:
        return 0
    except UsageError as e:
        print(_prefixed(e), file=sys.stderr)
        return 2
    except AcrMagicError as e:  # RunError and the rest
        print(_prefixed(e), file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    finally:
        if ends_process:
            gc.freeze()


def _run(argv: list[str]) -> int:
    if argv[:1] == ["build"]:
        opts = BuildOptions.from_argv(argv[1:], prog="acrmagic build")
        if opts.file == "-":  # -f - : the Dockerfile on standard input
            opts.file, opts.dockerfile_text = None, sys.stdin.read()
        run = api.build_with(opts)
        print(run.summary())
        return 0
    if argv[:1] == ["run"]:
        rest = list(argv[1:])
        output = "text"
        for flag in ("-o", "--output"):
            if flag in rest:
                i = rest.index(flag)
                output = rest[i + 1] if i + 1 < len(rest) else ""
                del rest[i:i + 2]
        if output not in ("text", "json"):
            raise UsageError("acrmagic run: -o/--output takes text or json")
        opts = TaskOptions.from_argv(rest, prog="acrmagic run")
        if opts.file == "-":
            opts.file, opts.task_text = None, sys.stdin.read()
        result = api.run_with(opts)
        if opts.dry_run:
            print(json.dumps(result.to_dict(), indent=2) if output == "json" else repr(result))
        else:
            print(json.dumps(result.to_dict(), indent=2) if output == "json" else result.summary())
        return 0
    if argv[:1] == ["emulator"]:
        from .emulator import main as emulator_main  # Starlette, uvicorn, Azurite: only for the emulator

        return emulator_main(argv[1:])
    ns = _parser().parse_args(argv)
    if ns.command in ("task", "scheduler", "trace"):
        from .tasks.commands import run_command

        return run_command(ns, sys.stdout)
    if ns.command == "use":
        print(api.use(ns.registry, resource_group=ns.resource_group, subscription=ns.subscription,
                      identity=ns.identity, emulator=ns.emulator))
    elif ns.command == "runs":
        found = api.runs(status=ns.status, task=ns.task, top=ns.top)
        print(json.dumps([r.to_dict() for r in found], indent=2) if ns.output == "json" else repr(found))
    elif ns.command == "show":
        run = api.show(ns.run_id)
        print(json.dumps(run.to_dict(), indent=2) if ns.output == "json" else run.summary())
    elif ns.command == "logs":
        sys.stdout.write(api.logs(ns.run_id))
    elif ns.command == "cancel":
        run = api.cancel(ns.run_id)
        print(f"Cancel requested for run {run.run_id} (status now {run.status})")
    elif ns.command == "stack":
        from . import devstack as stack

        if ns.action == "status":
            for part, ok in stack.status().items():
                print(f"{part:9} {'up' if ok else 'down'}")
        elif ns.action == "up":
            stack.up(browser=ns.browser)
        else:
            stack.down()
    return 0
