"""The `task`, `scheduler` and `trace` sub-commands, as `az acr task` spells them, parsed the same way
by `acrmagic ...` and `%acr ...` (the lead's front doors call `add_task_commands` and `run_command`).

    acrmagic task create -n NAME -c CONTEXT -f FILE [-t IMAGE]... [--schedule [NAME:]CRON]... ...
    acrmagic task show|delete|run|enable|disable -n NAME;  task list;  task list-runs [-n NAME]
    acrmagic task update -n NAME [any create flag]
    acrmagic scheduler [--poll-interval N] [--webhook-port PORT]   (foreground; stops on SIGTERM/SIGINT)
    acrmagic trace IMAGE[@DIGEST]
"""

from __future__ import annotations

import argparse
import json
import re
import signal
import sys
import threading
from datetime import datetime, timezone

from ..acrspec import DEFAULT_TIMEOUT, MAX_TIMEOUT, MIN_TIMEOUT
from ..errors import HelpShown, UsageError
from ..commands import TASK_VERBS
from ..options import Parser, add_value_flags, top_count
from .scheduler import DEFAULT_POLL_INTERVAL, MAX_PARALLEL

VERBS = TASK_VERBS


def _bool(text: str) -> bool:
    value = text.strip().lower()
    if value not in ("true", "false"):
        raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")
    return value == "true"


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected seconds, got {text!r}") from None
    if not 0.05 <= value <= 86400:
        raise argparse.ArgumentTypeError(f"expected 0.05 to 86400 seconds, got {text!r}")
    return value


def _bounded_int(low: int, high: int, what: str):
    def parse(text: str) -> int:
        if not re.fullmatch(r"\s*[0-9]+\s*", text) or not low <= int(text) <= high:
            raise argparse.ArgumentTypeError(f"expected {what} from {low} to {high}, got {text[:40]!r}")
        return int(text)
    return parse


#: where a task's --set-secret value is kept (options.add_value_flags' help says the rest)
DEFINITION_SECRET_HELP = "never stored in the task, see `acrmagic task -h`"


def _definition_flags(p: Parser, creating: bool) -> None:
    """The flags of `az acr task create` (and `update`, where every one is optional), beside the value
    flags its parser has from `add_value_flags`."""
    p.add_argument("-t", "--image", action="append", metavar="NAME:TAG", help="image to build and push; repeatable")
    p.add_argument("-c", "--context", metavar="PATH_OR_URL",
                   help="a folder, a git URL (repo.git#branch:subdir), or /dev/null for none")
    p.add_argument("-f", "--file", help="Dockerfile (a Docker step) or task file (.yaml: a file task), in the context")
    p.add_argument("--cmd", help="a command to run (an encoded task of one cmd step, as az makes it)")
    # --set, --set-secret, --values: added by add_value_flags
    p.add_argument("--arg", action="append", metavar="KEY=VALUE", help="a build argument (Docker steps)")
    p.add_argument("--commit-trigger-enabled", type=_bool, metavar="true|false",
                   help="run on commits to the branch (default true for git contexts)")
    p.add_argument("--base-image-trigger-enabled", type=_bool, metavar="true|false",
                   help="run when a base image changes (default true)")
    p.add_argument("--base-image-trigger-type", metavar="Runtime|All",
                   help="watch the final stage's base image (Runtime, default) or every stage's (All)")
    p.add_argument("--schedule", action="append", metavar="[NAME:]CRON",
                   help="a timer, 5-field cron in UTC (e.g. 'nightly:0 2 * * *'); repeatable")
    p.add_argument("--timeout", type=int, help=f"seconds per run, {MIN_TIMEOUT}-{MAX_TIMEOUT} (default {DEFAULT_TIMEOUT})")
    p.add_argument("--platform", help="os[/architecture[/variant]] (default linux)")
    p.add_argument("--git-access-token", secret=True, metavar="TOKEN|@FILE",
                   help="token for the repository: @FILE (mode 0600) is read when needed; a literal is kept in "
                        "this process's memory only. ACRMAGIC_GIT_TOKEN_<TASK> also works")
    p.add_argument("--assign-identity", nargs="*", metavar="system|RESOURCE_ID",
                   help="managed identity of the task: system-assigned (no value) and/or user-assigned ids")
    p.add_argument("-r", "--registry", help="the run registry (default: ACRMAGIC_REGISTRY or localhost:5000)")
    p.add_argument("--no-push", action="store_true", default=None, help="build only (Docker steps)")
    p.add_argument("--no-cache", action="store_true", default=None, help="build without the cache (Docker steps)")
    p.add_argument("--target", help="the build stage to build (Docker steps)")
    if not creating:
        p.add_argument("--status", metavar="Enabled|Disabled", help="enable or disable the task")


def _name(p: Parser) -> None:
    p.add_argument("-h", "--help", action="help", help="show this help")
    p.add_argument("-n", "--name", required=True, help="the task's name")


def _output(p: Parser, default: str = "table") -> None:
    p.add_argument("-o", "--output", choices=["table", "json"], default=default)


def add_task_commands(sub) -> None:
    """Add `task`, `scheduler` and `trace` to a sub-parser set (`acrmagic VERB` / `%acr VERB`)."""
    task = sub.add_parser("task", add_help=False, help="define tasks and their triggers (like az acr task)",
                          description="Tasks: a build or task file that runs on commits, base-image updates and "
                                      "schedules (`acrmagic scheduler` fires them).")
    task.add_argument("-h", "--help", action="help")
    verbs = task.add_subparsers(dest="task_verb", metavar="{" + ",".join(VERBS) + "}", parser_class=Parser)
    verbs.required = True
    create = verbs.add_parser("create", add_help=False, help="define a task")
    _name(create)
    add_value_flags(create, DEFINITION_SECRET_HELP)
    _definition_flags(create, creating=True)
    _output(create)
    update = verbs.add_parser("update", add_help=False, help="change a task (only the flags given)")
    _name(update)
    add_value_flags(update, DEFINITION_SECRET_HELP)
    _definition_flags(update, creating=False)
    _output(update)
    for verb, text in (("show", "one task, with its trigger state"), ("delete", "delete a task"),
                       ("run", "run a task now"), ("enable", "enable a task"), ("disable", "disable a task")):
        sp = verbs.add_parser(verb, add_help=False, help=text)
        _name(sp)
        if verb in ("show", "run", "enable", "disable"):
            _output(sp)
        if verb == "delete":
            sp.add_argument("-y", "--yes", action="store_true", help="(accepted for az compatibility)")
        if verb == "run":
            sp.add_argument("--no-logs", action="store_true", help="do not show the log while it runs")
    lst = verbs.add_parser("list", add_help=False, help="list tasks")
    lst.add_argument("-h", "--help", action="help", help="show this help")
    _output(lst)
    runs = verbs.add_parser("list-runs", add_help=False, help="runs of tasks, newest first")
    runs.add_argument("-h", "--help", action="help", help="show this help")
    runs.add_argument("-n", "--name", help="only runs of this task")
    runs.add_argument("--top", type=top_count, default=15, help="at most this many (default 15)")
    runs.add_argument("--run-status", "--status", dest="run_status", help="only runs with this status")
    _output(runs)

    sched = sub.add_parser("scheduler", add_help=False, help="fire task triggers (foreground service)")
    sched.add_argument("-h", "--help", action="help", help="show this help")
    sched.add_argument("action", nargs="?", choices=["start", "stop", "status"],
                       help="in a notebook (%%acr scheduler start|stop|status): the scheduler in the kernel")
    sched.add_argument("--poll-interval", type=_seconds, default=DEFAULT_POLL_INTERVAL,
                       help=f"seconds between trigger checks (default {DEFAULT_POLL_INTERVAL:g})")
    sched.add_argument("--max-parallel", type=_bounded_int(1, MAX_PARALLEL, "a number of runs"), default=2,
                       help="runs of different tasks at once (default 2)")
    sched.add_argument("--webhook-port", type=_bounded_int(1, 65535, "a port"),
                       help="also receive GitHub push webhooks on 127.0.0.1:PORT")
    sched.add_argument("--webhook-secret-file", metavar="FILE",
                       help="the webhook secret (mode 0600; default: ACRMAGIC_WEBHOOK_SECRET)")

    trace = sub.add_parser("trace", add_help=False, help="which run made an image, and why")
    trace.add_argument("-h", "--help", action="help", help="show this help")
    trace.add_argument("image", metavar="IMAGE[@DIGEST]")
    _output(trace)


def task_command_parser(prog: str = "acrmagic") -> Parser:
    """A parser of just these commands (for `%acr task ...` before the lead folds them into its own)."""
    p = Parser(prog=prog, add_help=False)
    sub = p.add_subparsers(dest="command", metavar="{task,scheduler,trace}", parser_class=Parser)
    sub.required = True
    add_task_commands(sub)
    return p


def _flags(ns: argparse.Namespace, body: str | None) -> dict:
    from .definition import FLAGS  # the flags a definition takes, by the names the parser gives them

    flags = {key: getattr(ns, key) for key in FLAGS if key != "body" and getattr(ns, key, None) is not None}
    for key in ("set", "set_secret"):  # (KEY, VALUE) pairs, as add_value_flags parses them: a mapping
        if key in flags:
            flags[key] = dict(flags[key])
    if body is not None and body.strip():
        flags["body"] = body
    return flags


def dispatch(ns: argparse.Namespace, body: str | None = None, *, observer=None):
    """Carry out a parsed command; the result object (TaskInfo, TaskList, Run, RunList, Trace, str, None)."""
    from .. import tasks

    if ns.command == "trace":
        return tasks.trace(ns.image)
    if ns.command == "scheduler":
        if ns.action == "start":
            return tasks.scheduler_start(ns.poll_interval, max_parallel=ns.max_parallel)
        if ns.action == "stop":
            return tasks.scheduler_stop()
        if ns.action == "status":
            return tasks.scheduler_status()
        raise UsageError("scheduler: in a kernel use `scheduler start|stop|status`; `acrmagic scheduler` runs it "
                         "in the foreground")
    verb = ns.task_verb
    if verb == "create":
        return tasks.create(ns.name, **_flags(ns, body))
    if verb == "update":
        return tasks.update(ns.name, **_flags(ns, body))
    if body is not None and body.strip():
        raise UsageError(f"task {verb}: takes no cell body")
    if verb == "show":
        return tasks.show(ns.name)
    if verb == "list":
        return tasks.list()
    if verb == "delete":
        tasks.delete(ns.name)
        return None
    if verb == "enable":
        return tasks.enable(ns.name)
    if verb == "disable":
        return tasks.disable(ns.name)
    if verb == "run":
        if observer is None and getattr(ns, "no_logs", False):
            from ..progress import Progress

            observer = Progress()
        return tasks.run(ns.name, observer=observer)
    if verb == "list-runs":
        from ..states import run_status

        status = None
        if ns.run_status:
            status = run_status(ns.run_status)
            if status is None:
                raise UsageError(f"--status: unknown status {ns.run_status!r}")
        return tasks.list_runs(ns.name, top=ns.top, status=status)
    raise UsageError(f"task: unknown verb {verb}")


def run_command(ns: argparse.Namespace, stdout=None, body: str | None = None) -> int:
    """`acrmagic task|scheduler|trace ...`: print the result (text, or JSON with -o json); the exit code.
    Errors are raised (the CLI's handler prints them as one line and picks the exit code)."""
    stdout = stdout or sys.stdout
    if ns.command == "scheduler" and ns.action is None:
        return serve(ns, stdout)
    result = dispatch(ns, body)
    if result is None:
        return 0
    if getattr(ns, "output", "table") == "json":
        data = result.to_dict() if hasattr(result, "to_dict") else (
            [r.to_dict() for r in result] if isinstance(result, list) else result)
        print(json.dumps(data, indent=2), file=stdout)
    elif hasattr(result, "summary") and not isinstance(result, list):
        print(result.summary(), file=stdout)  # a Run
    else:
        print(result if isinstance(result, str) else repr(result), file=stdout)
    return 0


def serve(ns: argparse.Namespace, stdout) -> int:
    """The foreground scheduler: ticks until SIGTERM or SIGINT, then stops cleanly (runs finish or are
    canceled and recorded so, the lock is freed)."""
    from .scheduler import Scheduler
    from .store import TaskStore

    def log(line: str) -> None:
        print(f"{datetime.now(timezone.utc).strftime('%Y-%m-%dT%H:%M:%SZ')} {line}", file=stdout, flush=True)

    store = TaskStore()
    scheduler = Scheduler(store, poll_interval=ns.poll_interval, max_parallel=ns.max_parallel, log=log)
    scheduler.lock.acquire()  # a lock that cannot be taken at all (a folder in its place) fails here, in one line
    server = None
    try:
        if ns.webhook_port is not None:
            from . import webhook

            secret = webhook.load_secret(ns.webhook_secret_file)
            server = webhook.WebhookServer(webhook.app(store, secret, on_fire=scheduler.wake, log=log,
                                                       heads=scheduler.heads), ns.webhook_port)
    except BaseException:
        scheduler.lock.release()
        raise
    stop = threading.Event()

    def on_signal(signum, frame):
        log(f"{signal.Signals(signum).name}: stopping")
        stop.set()
        scheduler.wake()
    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        if server:
            server.start()
            log(f"webhook receiver on http://127.0.0.1:{ns.webhook_port}/")
        log(f"scheduler on {store.home}, polling every {ns.poll_interval:g}s")
        scheduler.serve(stop)
        log("scheduler stopped")
    finally:
        if server:
            server.stop()
        for s, handler in previous.items():
            signal.signal(s, handler)
    return 0


def magic(line: str, cell: str | None = None):
    """`%acr task ...`, `%acr scheduler start|stop|status`, `%acr trace IMAGE`, and `%%acr task create ...`
    with the Dockerfile or task YAML as the cell body: the result object, for the notebook to display."""
    import shlex

    try:
        argv = shlex.split(line)
    except ValueError as e:
        raise UsageError(f"acr: cannot split the line: {e}") from None
    try:
        ns = task_command_parser("%acr").parse_args(argv)
    except HelpShown:  # -h printed the help: nothing else to show
        return None
    result = dispatch(ns, cell)
    if getattr(ns, "output", "table") == "json":
        if hasattr(result, "to_dict"):
            return result.to_dict()
        if isinstance(result, list):
            return [r.to_dict() for r in result]
    return result
