"""The text stages of loading a task file, in acr-builder's order: comment lines out, version found,
aliases (v1.1.0+) cut out, rendered and substituted, then the whole text rendered as a Go template.

Each stage keeps, for every line it outputs, the line of the original file it came from, so errors
found later (YAML, validation) can name the user's line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from ..errors import TaskFileError
from . import template, yamlv2

VALID_VERSIONS = ("1.0-preview-1", "v1.0.0", "v1.1.0")
DEFAULT_VERSION = "v1.0.0"
ALIAS_MIN_VERSION = "v1.1.0"

#: built-in image aliases (Linux), as in acr-builder at the studied commit
IMAGE_ALIASES = {
    "acr": "mcr.microsoft.com/acr/acr-cli:0.19",
    "az": "mcr.microsoft.com/acr/azure-cli:2ff604c",
    "bash": "mcr.microsoft.com/acr/bash:2ff604c",
    "curl": "mcr.microsoft.com/acr/curl:2ff604c",
    "cssc": "mcr.microsoft.com/acr/cssc:2ff604c",
}
#: run aliases: their values are template text, rendered with the rest of the file
RUN_ALIASES = {name: "{{.Run.%s}}" % name for name in
               ("ID", "SharedVolume", "Registry", "RegistryName", "Date", "OS", "Architecture", "Commit", "Branch")}

_ALIAS_START = re.compile(r"alias\s*:")
_TOP_KEY = re.compile(r"[^\s:]+[^:]*:")
_ALIAS_KEY = re.compile(r"[a-zA-Z0-9]+")  # acr-builder's aliasFormat, \A...\z: whole keys, ASCII only

#: the alias block as acr-builder decodes it (graph/preprocessor.go Alias), and an alias src file
ALIAS_SCHEMAS = {"block": {"alias": "alias"}, "alias": {"src": "[str]", "values": "{str}", "directive": "str"}}
ALIAS_GO_NAMES = {"str": "string", "block": "graph.preTask", "alias": "graph.Alias"}


@dataclass
class Source:
    """Text plus, per line, the 1-based line of the original file it came from."""

    text: str
    origin: list[int] = field(default_factory=list)
    file: str = "<task>"

    def original_line(self, line: int | None) -> int | None:
        if line is None or not self.origin:
            return line
        return self.origin[min(max(line, 1), len(self.origin)) - 1]


def strip_comment_lines(text: str, file: str) -> Source:
    """Delete every line whose first non-blank character is `#` (even inside block scalars)."""
    lines, origin = [], []
    for number, line in enumerate(text.split("\n"), 1):
        if line.lstrip().startswith("#"):
            continue
        lines.append(line)
        origin.append(number)
    return Source("\n".join(lines), origin, file)


def find_version(text: str) -> str:
    """The value of the first column-0 `version:` line, trimmed of spaces and quotes ('' if none)."""
    for line in text.split("\n"):
        stripped = line.lstrip("'\"")
        if not stripped.startswith("version"):
            continue
        key, sep, value = stripped.partition(":")
        if sep and key.strip("'\" \t") == "version":
            return value.strip().strip("'\"").strip()
    return ""


def cut_alias_block(src: Source) -> tuple[Source, Source]:
    """(the alias block, the rest): the block runs from `alias:` at column 0 to the next column-0 key."""
    lines = src.text.split("\n")
    block, block_origin, rest, origin, inside = [], [], [], [], False
    for line, number in zip(lines, src.origin):
        if _ALIAS_START.match(line):
            inside = True
        elif inside and _TOP_KEY.match(line):
            inside = False
        if inside:
            block.append(line)
            block_origin.append(number)
        else:
            rest.append(line)
            origin.append(number)
    return Source("\n".join(block), block_origin, src.file), Source("\n".join(rest), origin, src.file)


@dataclass
class Aliases:
    values: dict[str, str]
    directive: str = "$"


def load_aliases(block: Source, data: dict, read_src, environ: dict[str, str] | None = None) -> Aliases:
    """Render and decode the alias block; merge inline values > later src > earlier src > built-ins.
    `read_src(location)` gives the text of an alias src file (or raises TaskFileError)."""
    merged = {**IMAGE_ALIASES, **RUN_ALIASES}
    directive = "$"
    if block.text.strip():
        rendered = render(block.text, data, block, wrapper="unable to render alias data", environ=environ)
        line_of = block.original_line if rendered.count("\n") == block.text.count("\n") else None
        root = yamlv2.compose(rendered, block.file, "alias_parse_error", "unable to render alias data: ", line_of)
        decoded = yamlv2.typed(root, "block", ALIAS_SCHEMAS, ALIAS_GO_NAMES, block.file, "alias_parse_error",
                               "unable to render alias data: ", line_of) or {}
        alias = decoded.get("alias") or {}
        for location in alias.get("src") or []:
            text = read_src(location)
            root = yamlv2.compose(text, location, "alias_src_error")
            merged.update(yamlv2.typed(root, "{str}", ALIAS_SCHEMAS, ALIAS_GO_NAMES, location, "alias_src_error")
                          or {})
        merged.update(alias.get("values") or {})
        directive = alias.get("directive") or "$"  # an empty directive leaves `$`, as in acr-builder
        where = {"file": block.file, "line": alias.get("_marks", {}).get("directive", (None,))[0]}
        if len(directive) != 1:
            raise TaskFileError("$ directive can only be overwritten by a single character",
                                kind="invalid_directive_length", **where)
        if _ALIAS_KEY.fullmatch(directive):
            raise TaskFileError("overwritten directives may not be alphanumeric characters",
                                kind="alphanumeric_directive", **where)
    for key in merged:
        if not _ALIAS_KEY.fullmatch(key):
            raise TaskFileError(f"alias key names only support alphanumeric characters: {key!r}",
                                kind="invalid_alias_key", file=block.file)
    return Aliases(merged, directive)


def substitute_aliases(text: str, aliases: Aliases) -> str:
    """acr-builder's scan: D name -> value for known names (maximal [A-Za-z0-9]+ runs); DD -> D;
    unknown names are kept with their directive and the character that ended them; no rescan."""
    d, values, out = aliases.directive, aliases.values, []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c != d:
            out.append(c)
            i += 1
            continue
        i += 1
        while True:  # in alias mode, just after a directive
            start = i
            while i < n and text[i].isascii() and text[i].isalnum():
                i += 1
            name = text[start:i]
            if not name:
                if i < n and text[i] == d:  # DD: the escape
                    out.append(d)
                    i += 1
                else:
                    out.append(d)
                break
            if name in values:
                out.append(values[name])
                if i < n and text[i] == d:  # $a$b: straight into the next alias
                    i += 1
                    continue
                break
            out.append(d + name)  # unknown: kept, and the next character is plain text
            if i < n:
                out.append(text[i])
                i += 1
            break
    return "".join(out)


def render(text: str, data: dict, src: Source, wrapper: str = "unable to render task",
           environ: dict[str, str] | None = None) -> str:
    try:
        return template.render(text, data, name=src.file, environ=environ)
    except template.TemplateError as e:
        verb = "parse" if e.phase == "parse" else "execute"
        raise TaskFileError(f"{wrapper}: error while rendering templates: failed to {verb} template: "
                            f"{src.file}. Err: {e.message}", kind=f"template_{'parse' if e.phase == 'parse' else 'exec'}_error",
                            file=src.file, line=src.original_line(e.line)) from None
