"""The `runs / show / logs / cancel` sub-commands, parsed the same way by `%acr` and `acrmagic`."""

from __future__ import annotations

from .options import Parser


def history_parser(prog: str) -> Parser:
    p = Parser(prog=prog, add_help=False)
    sub = p.add_subparsers(dest="verb", metavar="{runs,show,logs,cancel}", parser_class=Parser)
    sub.required = True
    runs = sub.add_parser("runs", help="list runs, newest first", add_help=False)
    runs.add_argument("--status", help="only runs with this status (Succeeded, Failed, Running, ...)")
    runs.add_argument("--task", help="only runs of this task")
    runs.add_argument("--top", type=int, help="at most this many runs")
    for verb, text in (("show", "one run's record"), ("logs", "one run's full log"), ("cancel", "cancel a run")):
        sp = sub.add_parser(verb, help=text, add_help=False)
        sp.add_argument("run_id", metavar="RUN_ID")
    return p
