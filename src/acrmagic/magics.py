"""IPython magics: `%%acrbuild`, `%%acrtask` and `%acr`. Each parses its line and calls the public API.

`%load_ext acrmagic` imports this module and nothing more of acrmagic than the verbs' names (`commands`): the
API, the parsers and the task package load with the first magic run, and the full flag help (`%acr?`) is built
when it is asked for."""

from __future__ import annotations

import shlex
from typing import TYPE_CHECKING

from IPython.core.magic import Magics, line_cell_magic, line_magic, magics_class, no_var_expand

from .commands import TASK_VERBS

if TYPE_CHECKING:
    from .options import Parser

#: the verbs of `%acr` that the task commands handle (`acrmagic.tasks.commands`)
TASK_COMMANDS = ("task", "scheduler", "trace")


def acr_parser(prog: str = "%acr") -> Parser:
    """Every verb of `%acr`: the run history and target (`runs show logs cancel use`) and the task
    commands (`task scheduler trace`), each with its own `-h`."""
    from .commands import add_history_commands
    from .options import Parser
    from .tasks.commands import add_task_commands

    p = Parser(prog=prog, add_help=False, description="Runs, where they go, and tasks. `%acr VERB -h` shows one "
                                                       "verb's flags.")
    p.add_argument("-h", "--help", action="help", help="show this help")
    sub = p.add_subparsers(dest="verb", metavar="{runs,show,logs,cancel,use,task,scheduler,trace}",
                           parser_class=Parser)
    sub.required = True
    add_history_commands(sub)
    add_task_commands(sub)
    return p


def full_help(parser: Parser) -> str:
    """The parser's help, then every verb's (and a verb's own verbs'), so `%acr?` lists all the flags."""
    return "\n".join([parser.format_help(), *(full_help(sub) for sub in parser.subcommands())])


def _split(line: str, prog: str) -> list[str]:
    try:
        return shlex.split(line)
    except ValueError as e:
        from .errors import UsageError

        raise UsageError(f"{prog}: cannot split the line: {e}") from None


@magics_class
class AcrMagics(Magics):
    # `$Registry` and `{{.Run.ID}}` belong to ACR, not to IPython's variable expansion: @no_var_expand

    @no_var_expand
    @line_cell_magic
    def acrbuild(self, line: str, cell: str | None = None):
        """Build the cell (a Dockerfile) into an image, locally or in ACR Tasks: `%%acrbuild?` lists the flags."""
        # as a cell magic the body is the Dockerfile; as a line magic (`%acrbuild -f FILE ...`) it is read
        from . import api
        from .errors import HelpShown
        from .options import BuildOptions

        try:
            opts = BuildOptions.from_argv(_split(line, "acrbuild"), dockerfile_text=cell)
        except HelpShown:
            return None
        return api.build_with(opts)

    @no_var_expand
    @line_cell_magic
    def acrtask(self, line: str, cell: str | None = None):
        """Run the cell (an ACR multi-step task YAML), or manage tasks: `%%acrtask?` lists the flags."""
        # the cell is the task YAML; `%acrtask -f FILE` reads it from a file;
        # `%acrtask create|show|list|... ` manage task definitions (the cell: their Dockerfile or task YAML)
        if line.split(" ", 1)[0] in TASK_VERBS:
            from .tasks.commands import magic

            return magic("task " + line, cell)
        from . import api
        from .errors import HelpShown
        from .options import TaskOptions

        try:
            opts = TaskOptions.from_argv(_split(line, "acrtask"), task_text=cell)
        except HelpShown:
            return None
        return api.run_with(opts)

    @no_var_expand
    @line_magic
    def acr(self, line: str):
        """Runs (`runs show logs cancel`), their target (`use`) and tasks: `%acr?` lists every verb's flags."""
        from .errors import HelpShown

        argv = _split(line, "acr")
        if argv and argv[0] in TASK_COMMANDS:
            from .tasks.commands import magic

            try:
                return magic(line)
            except HelpShown:
                return None
        try:
            ns = acr_parser("%acr").parse_args(argv)
        except HelpShown:
            return None
        from . import api

        if ns.verb == "runs":
            found = api.runs(status=ns.status, task=ns.task, top=ns.top)
            return found if ns.output == "table" else [r.to_dict() for r in found]
        if ns.verb == "show":
            run = api.show(ns.run_id)
            return run if ns.output == "table" else run.to_dict()
        if ns.verb == "logs":
            print(api.logs(ns.run_id), end="")
            return None
        if ns.verb == "use":
            print(api.use(ns.registry, resource_group=ns.resource_group, subscription=ns.subscription,
                          identity=ns.identity, emulator=ns.emulator))
            return None
        return api.cancel(ns.run_id)


# -- in a Jupyter kernel, the run cells are awaited ------------------------------------------------------------
# ipykernel handles widget messages while a cell awaits, not while it blocks. So that the run view's
# Cancel button works during the run, a cell that is only `%%acrbuild`/`%%acrtask` (or the line forms)
# is rewritten into `await acrmagic.magics.run_cell_async(...)`. Help (`%%acrbuild?`) is left alone.

_RUN_MAGICS = ("acrbuild", "acrtask")


def await_run_cells(lines: list[str]) -> list[str]:
    """An IPython input transformer (cleanup stage): see above."""
    from IPython import get_ipython

    shell = get_ipython()
    if not lines or shell is None or not getattr(shell, "autoawait", False):
        return lines
    first = lines[0].rstrip("\n")
    for prefix, cell in (("%%", True), ("%", False)):
        name, _, line = first[len(prefix):].partition(" ")
        if first.startswith(prefix) and not first.startswith(prefix + "%") and name in _RUN_MAGICS:
            if line.rstrip().endswith("?") or name.endswith("?") or (not cell and "".join(lines[1:]).strip()):
                return lines
            if name == "acrtask" and line.split(" ", 1)[0] in TASK_VERBS:  # a task definition: nothing to await
                return lines
            body = "".join(lines[1:]) if cell else None
            return [f"await __import__('acrmagic.magics').magics.run_cell_async({name!r}, {line!r}, {body!r})\n"]
    return lines


async def run_cell_async(name: str, line: str, cell: str | None):
    from . import api
    from .errors import HelpShown
    from .options import BuildOptions, TaskOptions

    try:
        if name == "acrbuild":
            return await api.build_with_async(BuildOptions.from_argv(_split(line, "acrbuild"), dockerfile_text=cell))
        return await api.run_with_async(TaskOptions.from_argv(_split(line, "acrtask"), task_text=cell))
    except HelpShown:
        return None


# -- help: `%%acrbuild?`, `%acr?`, Jupyter's Shift-Tab -----------------------------------------------------------
# A magic's docstring is the one line listings show (`%lsmagic`, `%magic`). IPython's inspection asks an object
# for `getdoc()` before its `__doc__` (a bound method finds the attribute on its function), so the full help,
# every flag, is built only when someone asks: `%load_ext` imports no parser and no task package.

def _build_help() -> str:
    from .options import build_parser

    return build_parser("%%acrbuild").format_help()


def _task_help() -> str:
    from .options import run_parser

    return run_parser("%%acrtask").format_help()


def _acr_help() -> str:
    return full_help(acr_parser("%acr"))


AcrMagics.acrbuild.getdoc = _build_help
AcrMagics.acrtask.getdoc = _task_help
AcrMagics.acr.getdoc = _acr_help
