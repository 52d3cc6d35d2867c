"""A safe implementation of the Go `text/template` subset that task files use, with Sprig's functions.

acr-builder renders task files with Go's text/template (option missingkey=zero) and Sprig. Task files
come from notebooks, repositories and other people, so rendering must never run Python: this is an
interpreter over a parsed tree, with a fixed table of functions and data that is plain dicts, lists
and scalars. Supported: text and actions with `{{-`/`-}}` trimming and `{{/* comments */}}`; fields
(`.Values.a.b`), variables (`$x := ...`, `$x = ...`, `$`), literals, pipelines, parenthesised
pipelines, `if/else if/else`, `range` (with `$i, $v :=`, `else`, `break`, `continue`), `with/else`,
and the built-in plus Sprig text functions task files use in practice.

`env` and `expandenv` read the environment the caller passes to `render` (`RunInfo.environ`), never
this process's: a notebook kernel holds Azure credentials and tokens, and a task file from a repository
must not be able to print them into a log. Locally they therefore see an empty environment unless the
caller passes one; in ACR they see the build agent's (acr-builder's Sprig reads the runner's).

    lexer.py      source -> text and action pieces -> tokens     parser.py     pieces -> a tree
    executor.py   a tree over data -> text, within the limits    functions.py  the function table
    govalue.py    a value as Go prints and tests it              limits.py     what one rendering may do
"""

from __future__ import annotations

import re

from ...errors import TemplateError
from .executor import execute
from .functions import FUNCS
from .govalue import NO_VALUE, go_float, go_str, truth
from .limits import OUTPUT_LIMIT, WORK_LIMIT
from .parser import parse

__all__ = ["render", "parse", "TemplateError", "FUNCS", "NO_VALUE", "OUTPUT_LIMIT", "WORK_LIMIT", "go_float",
           "go_str", "truth"]


def render(src: str, data: dict, name: str = "task", environ: dict[str, str] | None = None) -> str:
    """Render like acr-builder: missing keys give no value, and every `<no value>` is then deleted.
    `environ` is what `env` and `expandenv` see (empty when not given)."""
    text = execute(parse(src, name), data, name, dict(environ or {}))
    # a lone surrogate (from a value passed in) cannot be UTF-8: Go would hold U+FFFD there
    return _SURROGATE.sub("\ufffd", text.replace(NO_VALUE, ""))


_SURROGATE = re.compile("[\ud800-\udfff]")
