"""IPython magics: `%%acrbuild` and `%acr`. Each parses its line and calls the public API."""

from __future__ import annotations

import shlex

from IPython.core.magic import Magics, line_cell_magic, line_magic, magics_class, no_var_expand

from . import api
from .commands import history_parser
from .errors import UsageError
from .options import BuildOptions, HelpShown, TaskOptions, build_parser, task_parser


def _split(line: str, prog: str) -> list[str]:
    try:
        return shlex.split(line)
    except ValueError as e:
        raise UsageError(f"{prog}: cannot split the line: {e}") from None


@magics_class
class AcrMagics(Magics):
    # `$Registry` and `{{.Run.ID}}` belong to ACR, not to IPython's variable expansion: @no_var_expand

    @no_var_expand
    @line_cell_magic
    def acrbuild(self, line: str, cell: str | None = None):
        # as a cell magic the body is the Dockerfile; as a line magic (`%acrbuild -f FILE ...`) it is read
        try:
            opts = BuildOptions.from_argv(_split(line, "acrbuild"), dockerfile_text=cell)
        except HelpShown:
            return None
        return api._build(opts)

    @no_var_expand
    @line_cell_magic
    def acrtask(self, line: str, cell: str | None = None):
        # the cell is the task YAML; `%acrtask -f FILE` reads it from a file
        try:
            opts = TaskOptions.from_argv(_split(line, "acrtask"), task_text=cell)
        except HelpShown:
            return None
        return api._run_task(opts)

    @no_var_expand
    @line_magic
    def acr(self, line: str):
        try:
            ns = history_parser("acr").parse_args(_split(line, "acr"))
        except HelpShown:
            return None
        if ns.verb == "runs":
            return api.runs(status=ns.status, task=ns.task, top=ns.top)
        if ns.verb == "show":
            return api.show(ns.run_id)
        if ns.verb == "logs":
            print(api.logs(ns.run_id), end="")
            return None
        return api.cancel(ns.run_id)


AcrMagics.acrbuild.__doc__ = build_parser("%%acrbuild").format_help()
AcrMagics.acr.__doc__ = history_parser("%acr").format_help()
AcrMagics.acrtask.__doc__ = task_parser("%%acrtask").format_help()
