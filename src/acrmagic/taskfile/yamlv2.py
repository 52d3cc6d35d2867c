"""YAML read into typed fields the way acr-builder's gopkg.in/yaml.v2 reads it into Go structs.

PyYAML composes the nodes (with marks for line and column); what a scalar *is* follows yaml.v2's
resolver, not PyYAML's, where they differ: `y`/`n` are booleans, `1e3`, `0o17` and `08` are numbers,
`1:30` (sexagesimal) is a string, integers past int64 do not fit an int. Typing follows yaml.v2's
decoder: floats are truncated into ints, a quoted number is a string (so not an int), any scalar fits
a string field (as the text written), null gives the zero value, `<<` merges maps (the mapping's own
keys win, then earlier merged maps), unknown keys are ignored. Type errors are collected with their
position, worded as yaml.v2 words them; the caller turns them into one TaskFileError.
"""

from __future__ import annotations

import base64
import binascii
import math
import re
from typing import Callable

import yaml
from yaml.resolver import Resolver

from ..errors import TaskFileError, YamlTagMismatch

STR, INT, FLOAT, BOOL, NULL, TIMESTAMP, BINARY, MERGE = (
    "!!str", "!!int", "!!float", "!!bool", "!!null", "!!timestamp", "!!binary", "!!merge")
_RESOLVABLE = {"", STR, INT, FLOAT, BOOL, TIMESTAMP}  # "": a plain scalar without a tag
INT64 = range(-2 ** 63, 2 ** 63)
UINT64 = range(0, 2 ** 64)

_WORDS = {}
for _value, _tag, _words in (
        (True, BOOL, "y Y yes Yes YES true True TRUE on On ON"), (False, BOOL, "n N no No NO false False FALSE off Off OFF"),
        (None, NULL, "~ null Null NULL"), (math.nan, FLOAT, ".nan .NaN .NAN"),
        (math.inf, FLOAT, ".inf .Inf .INF +.inf +.Inf +.INF"), (-math.inf, FLOAT, "-.inf -.Inf -.INF")):
    _WORDS.update({w: (_tag, _value) for w in _words.split()})
_WORDS[""] = (NULL, None)

_GO_INT = re.compile(r"([+-]?)(0[xX][0-9a-fA-F]+|0[oO][0-7]+|0[bB][01]+|0[0-7]*|[1-9][0-9]*)")
_GO_FLOAT = re.compile(r"[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?")  # yaml.v2's yamlStyleFloat
_TIMESTAMP = re.compile(r"(\d{4})-(\d{1,2})-(\d{1,2})(?:(?:[Tt](\d{1,2}):(\d{1,2}):(\d{1,2})(?:\.\d+)?(?:Z|[+-]\d\d:\d\d))"
                        r"|(?: (\d{1,2}):(\d{1,2}):(\d{1,2})(?:\.\d+)?))?")
_PYYAML = Resolver()


def short_tag(tag: str) -> str:
    return "!!" + tag[len("tag:yaml.org,2002:"):] if tag.startswith("tag:yaml.org,2002:") else tag


def _go_int(text: str) -> int | None:
    """strconv.ParseInt, then ParseUint (text, base 0, 64 bits), after yaml.v2 drops the underscores."""
    m = _GO_INT.fullmatch(text.replace("_", ""))
    if not m:
        return None
    sign, digits = m.groups()
    if len(digits.lstrip("0")) > 66:  # more digits than any uint64 has, in any base (and int() has a limit)
        return None
    prefix = digits[:2].lower()
    if prefix in _BASES:
        value = int(digits[2:], _BASES[prefix])
    else:
        value = int(digits, 8 if digits.startswith("0") else 10)  # a leading 0 is octal, as in Go
    if sign == "-":
        value = -value
    return value if value in INT64 or (not sign and value in UINT64) else None


_BASES = {"0x": 16, "0o": 8, "0b": 2}


def _is_timestamp(text: str) -> bool:
    m = _TIMESTAMP.fullmatch(text)
    if not m:
        return False
    _, month, day, *clock = m.groups()
    hms = [int(x) for x in clock if x is not None]
    return 1 <= int(month) <= 12 and 1 <= int(day) <= 31 and (not hms or (hms[0] < 24 and hms[1] < 60 and hms[2] < 60))


def resolve(tag: str, text: str) -> tuple[str, object]:
    """yaml.v2's resolve(): (the tag it settles on, the value). `tag` is the explicit tag, "" for none."""
    if tag not in _RESOLVABLE:
        return tag, text
    rtag, value = _resolve_plain(tag, text)
    if tag in ("", rtag, STR):
        return rtag, value
    if tag == FLOAT and rtag == INT:
        return FLOAT, float(value)
    raise YamlTagMismatch(f"cannot decode {rtag} `{text}` as a {tag}")


def _resolve_plain(tag: str, text: str) -> tuple[str, object]:
    if tag == STR:
        return STR, text
    hint = text[:1]
    if text in _WORDS:
        return _WORDS[text]
    if hint == ".":
        if re.fullmatch(r"\.[0-9]+([eE][-+]?[0-9]+)?", text):
            return FLOAT, float(text)
    elif hint and hint in "+-0123456789":
        if tag in ("", TIMESTAMP) and _is_timestamp(text):
            return TIMESTAMP, text
        number = _go_int(text)
        if number is not None:
            return INT, number
        plain = text.replace("_", "")
        if _GO_FLOAT.fullmatch(plain) and not math.isinf(float(plain)):  # ParseFloat refuses an overflow
            return FLOAT, float(plain)
    return STR, text


def scalar(node: yaml.ScalarNode) -> tuple[str, object]:
    """What yaml.v2 makes of a scalar node: (tag, value)."""
    if node.style in (None, ""):  # plain: resolved, unless a tag was written
        explicit = node.tag != _PYYAML.resolve(yaml.ScalarNode, node.value, (True, False))
        return resolve(short_tag(node.tag) if explicit else "", node.value)
    return resolve(short_tag(node.tag), node.value)  # quoted or block: a string unless tagged otherwise


def is_merge_key(node) -> bool:
    return isinstance(node, yaml.ScalarNode) and node.value == "<<" and (
        node.style in (None, "") or node.tag.endswith(":merge"))


class Decoder:
    """Turns composed nodes into plain dicts and lists by schema, collecting yaml.v2-style errors.

    Kinds: "str", "int", "bool", "[kind]" (a list), "{str}" (a map of strings), "any" (interface{}),
    "{any}" (map[string]interface{}), or the name of a schema in `schemas` (a Go struct: field -> kind).
    A decoded struct holds `_line` (its own line) and `_marks` (field -> (line, column) of its value;
    (field, i) for item i of a list)."""

    def __init__(self, schemas: dict[str, dict[str, str]], go_names: dict[str, str],
                 line_of: Callable[[int], int] = lambda line: line):
        self.schemas, self.go_names, self.line_of = schemas, go_names, line_of
        self.errors: list[tuple[int, int, str]] = []
        self.fatal: tuple[int, int, str] | None = None  # yaml.v2 stops at these (failf), not collected
        self.decoded: set[int] = set()  # nodes decoded once: a second time is through an alias
        self.aliased = 0  # decodes through aliases: they can make a small document expand without end
        self.inside: set[int] = set()  # nodes being decoded: an anchor that contains itself

    def mark(self, node) -> tuple[int, int]:
        return self.line_of(node.start_mark.line + 1), node.start_mark.column + 1

    def fail(self, node, into: str, tag: str | None = None):
        if isinstance(node, yaml.ScalarNode):
            value = node.value if len(node.value) <= 10 else node.value[:7] + "..."
            what = f"{tag or short_tag(node.tag)} `{value}`"
        else:
            what = "!!map" if isinstance(node, yaml.MappingNode) else "!!seq"
        self.errors.append((*self.mark(node), f"cannot unmarshal {what} into {into}"))
        return None

    def stop(self, node, message: str):
        if self.fatal is None:
            self.fatal = (*self.mark(node), message)
        return None

    def decode(self, node, kind: str):
        """The value, or None for null (the caller's zero value) and for a value that did not fit."""
        if id(node) in self.decoded:
            self.aliased += 1
            if self.aliased > ALIAS_LIMIT:
                return self.stop(node, "document contains excessive aliasing")
        self.decoded.add(id(node))
        if id(node) in self.inside:
            return self.stop(node, "anchor value contains itself")
        if kind in ("any", "{any}"):
            self.inside.add(id(node))
            try:
                return self.untyped(node, top=kind == "{any}")
            finally:
                self.inside.discard(id(node))
        if isinstance(node, yaml.ScalarNode):
            try:
                tag, value = scalar(node)
            except YamlTagMismatch as e:
                return self.stop(node, str(e))
            if tag == NULL:
                return None
            if kind == "str":
                return node.value  # the text as written, whatever it resolves to
            if kind == "int":
                if tag == INT and value in INT64:
                    return value
                if tag == FLOAT and -2.0 ** 63 <= value < 2.0 ** 63:  # NaN fails both: as in yaml.v2
                    return int(value)  # truncated toward zero, as Go converts
                return self.fail(node, "int", tag)
            if kind == "bool":
                return value if tag == BOOL else self.fail(node, "bool", tag)
            return self.fail(node, self.go_name(kind), tag)
        if kind.startswith("["):
            inner = kind[1:-1]
            if not isinstance(node, yaml.SequenceNode):
                return self.fail(node, "[]" + self.go_name(inner))
            return [self.item(child, inner) for child in node.value]
        if kind == "{str}":
            if not isinstance(node, yaml.MappingNode):
                return self.fail(node, "map[string]string")
            out = {}
            for key, value, merged in self.pairs(node):
                name = self.key(key)
                if name is not None and not (merged and name in out):
                    out[name] = self.decode(value, "str") or ""
            return out
        if kind not in self.schemas or not isinstance(node, yaml.MappingNode):
            return self.fail(node, self.go_name(kind))
        return self.struct(node, kind)

    def untyped(self, node, top: bool):
        """yaml.v2 into interface{}: resolved scalars (a timestamp stays its text, !!binary its bytes as text,
        a custom tag its text), lists, maps; `top` is map[string]interface{} (keys as written)."""
        if isinstance(node, yaml.ScalarNode):
            if top:  # a null document leaves the map empty
                return None if scalar_is_null(node) else self.fail(node, "map[string]interface {}")
            try:
                tag, value = scalar(node)
            except YamlTagMismatch as e:
                return self.stop(node, str(e))
            if tag == TIMESTAMP:
                return node.value
            if tag == BINARY:
                return _binary(node.value)
            return value
        if isinstance(node, yaml.SequenceNode):
            return self.fail(node, "map[string]interface {}") if top else [self.decode(n, "any") for n in node.value]
        out = {}
        for key, value, merged in self.pairs(node):
            if not isinstance(key, yaml.ScalarNode):
                return self.stop(key, "invalid map key: a list or map")
            name = self.key(key)  # keys as written: `1` and `true` stay two keys (Python would merge 1 and True)
            if not (merged and name in out):
                out[name] = self.decode(value, "any")
        return out

    def item(self, node, kind: str):
        value = self.decode(node, kind)
        if value is not None:
            return value
        zero = {"str": "", "int": 0, "bool": False}.get(kind)  # a null item is the element's zero value
        return zero if zero is not None or kind not in self.schemas else {"_line": self.mark(node)[0], "_marks": {}}

    def struct(self, node, kind: str) -> dict:
        schema = self.schemas[kind]
        out: dict = {"_line": self.mark(node)[0], "_marks": {}}
        for key_node, value_node, merged in self.pairs(node):
            key = self.key(key_node)
            if key not in schema or (merged and key in out):  # unknown keys are ignored, as yaml.v2 does
                continue
            out[key] = self.decode(value_node, schema[key])
            out["_marks"][key] = self.mark(value_node)
            if isinstance(value_node, yaml.SequenceNode):
                for i, child in enumerate(value_node.value):
                    out["_marks"][(key, i)] = self.mark(child)
        return out

    def key(self, node) -> str | None:
        if not isinstance(node, yaml.ScalarNode):
            return self.fail(node, "string")
        return "" if node.style in (None, "") and scalar_is_null(node) else node.value

    def pairs(self, node, seen: set[int] | None = None):
        """(key, value, merged) of a mapping: its own pairs, then those of the maps `<<` merges in."""
        seen = (seen or set()) | {id(node)}
        own, merges = [], []
        for key, value in node.value:
            if is_merge_key(key):
                merges.extend(value.value if isinstance(value, yaml.SequenceNode) else [value])
            else:
                own.append((key, value, False))
        for source in merges:
            if not isinstance(source, yaml.MappingNode):
                self.stop(source, "map merge requires map or sequence of maps as the value")
            elif id(source) not in seen:  # a map merging itself (through an anchor) adds nothing
                own.extend((k, v, True) for k, v, _ in self.pairs(source, seen))
        return own

    def go_name(self, kind: str) -> str:
        if kind.startswith("["):
            return "[]" + self.go_name(kind[1:-1])
        return self.go_names.get(kind, kind)


ALIAS_LIMIT = 100_000  # nodes one document may decode again through aliases (yaml.v2 has a like limit)


def _binary(text: str) -> str:
    try:
        return base64.b64decode("".join(text.split()), validate=True).decode("utf-8", "replace")
    except (binascii.Error, ValueError):
        return text


def scalar_is_null(node: yaml.ScalarNode) -> bool:
    try:
        return scalar(node)[0] == NULL
    except YamlTagMismatch:
        return False


_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when PyYAML has it: same nodes, much faster
_MORE_ERRORS = 3  # type errors listed after the first; the rest are counted


def compose(text: str, file: str, kind: str, wrapper: str = "", line_of: Callable[[int], int] | None = None):
    """Text -> YAML node (None for an empty document), or TaskFileError naming the line and column."""
    line_of = line_of or (lambda line: line)
    try:
        return yaml.compose(text, Loader=_LOADER)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise TaskFileError(f"{wrapper}yaml: {problem}", kind=kind, file=file,
                            line=line_of(mark.line + 1) if mark else None,
                            column=mark.column + 1 if mark else None) from None


def typed(root, kind: str, schemas: dict, go_names: dict, file: str, error_kind: str, wrapper: str = "",
          line_of: Callable[[int], int] | None = None):
    """A composed node decoded by schema (None for an empty document), or TaskFileError for yaml.v2's errors."""
    if root is None:
        return None
    dec = Decoder(schemas, go_names, line_of or (lambda line: line))
    value = dec.decode(root, kind)
    if dec.fatal:
        line, column, message = dec.fatal
        raise TaskFileError(f"{wrapper}yaml: {message}", kind=error_kind, file=file, line=line, column=column)
    if dec.errors:
        (line, column, first), rest = dec.errors[0], dec.errors[1:]
        more = "".join(f"; line {ln}: {msg}" for ln, _, msg in rest[:_MORE_ERRORS])
        if len(rest) > _MORE_ERRORS:
            more += f"; and {len(rest) - _MORE_ERRORS} more"
        raise TaskFileError(f"{wrapper}yaml: unmarshal errors: {first}{more}", kind=error_kind, file=file,
                            line=line, column=column)
    return value
