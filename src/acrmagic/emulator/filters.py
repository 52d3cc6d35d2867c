"""The OData `$filter` subset ACR's runs list understands: `field op literal` with eq/ne/gt/ge/lt/le,
`contains(field, 'text')`, joined by `and`/`or`, with parentheses. Field names are case-insensitive
(the CLI writes `TaskName`, `Status`); string comparisons are too. Times compare as instants."""

from __future__ import annotations

import re
from datetime import datetime, timezone
from typing import Any, Callable

from .arm import bad_request
from ..errors import ArmError

FIELDS = ("runid", "runtype", "status", "createtime", "finishtime", "outputimagemanifests", "isarchiveenabled",
          "taskname", "agentpoolname")
_OPS = {"eq": lambda a, b: a == b, "ne": lambda a, b: a != b, "gt": lambda a, b: a > b,
        "ge": lambda a, b: a >= b, "lt": lambda a, b: a < b, "le": lambda a, b: a <= b}
_TOKEN = re.compile(r"""\s*(?:
    (?P<str>'(?:[^']|'')*')
  | datetime(?P<dtq>'[^']*')
  | (?P<dt>\d{4}-\d{2}-\d{2}(?:T[0-9:.]+(?:Z|[+-]\d{2}:\d{2})?)?)
  | (?P<num>-?\d+(?:\.\d+)?)
  | (?P<word>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<punct>[(),])
)""", re.X)

Predicate = Callable[[dict[str, Any]], bool]


def _invalid(reason: str) -> ArmError:
    return bad_request(f"The $filter is not valid: {reason}.", "InvalidFilter", target="$filter")


def _tokens(text: str) -> list[tuple[str, str]]:
    out, pos = [], 0
    text = text.strip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            raise _invalid(f"unexpected text at position {pos}: {text[pos:pos + 20]!r}")
        kind = m.lastgroup
        out.append((kind, m.group(kind)))
        pos = m.end()
        while pos < len(text) and text[pos].isspace():
            pos += 1
    return out


def _datetime(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise _invalid(f"not a date and time: {text!r}") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


class _Parser:
    def __init__(self, text: str):
        self.toks = _tokens(text)
        self.i = 0

    def peek(self, value: str | None = None) -> bool:
        if self.i >= len(self.toks):
            return False
        return value is None or self.toks[self.i][1].lower() == value

    def take(self, value: str | None = None) -> tuple[str, str]:
        if not self.peek(value):
            got = self.toks[self.i][1] if self.i < len(self.toks) else "the end"
            raise _invalid(f"expected {value or 'more'} but found {got!r}")
        self.i += 1
        return self.toks[self.i - 1]

    def parse(self) -> Predicate:
        pred = self.expr()
        if self.i != len(self.toks):
            raise _invalid(f"unexpected {self.toks[self.i][1]!r}")
        return pred

    def expr(self) -> Predicate:
        parts = [self.conj()]
        while self.peek("or"):
            self.take()
            parts.append(self.conj())
        return parts[0] if len(parts) == 1 else (lambda run: any(p(run) for p in parts))

    def conj(self) -> Predicate:
        parts = [self.term()]
        while self.peek("and"):
            self.take()
            parts.append(self.term())
        return parts[0] if len(parts) == 1 else (lambda run: all(p(run) for p in parts))

    def field(self) -> str:
        kind, name = self.take()
        if kind != "word" or name.lower() not in FIELDS:
            raise _invalid(f"unknown field {name!r} (known: {', '.join(FIELDS)})")
        return name.lower()

    def literal(self, field: str) -> Any:
        kind, text = self.take()
        if field in ("createtime", "finishtime"):
            if kind in ("str", "dtq"):
                text = text[1:-1]
            elif kind != "dt":
                raise _invalid(f"{field} needs a date and time, not {text!r}")
            return _datetime(text)
        if kind == "str":
            return text[1:-1].replace("''", "'").lower()
        if kind == "word" and text.lower() in ("true", "false"):
            return text.lower() == "true"
        if kind == "word" and text.lower() == "null":
            return None
        if kind in ("num", "dt"):
            return text.lower()
        raise _invalid(f"expected a value, found {text!r}")

    def term(self) -> Predicate:
        if self.peek("("):
            self.take()
            inner = self.expr()
            self.take(")")
            return inner
        if self.peek("contains"):
            self.take()
            self.take("(")
            field = self.field()
            self.take(",")
            needle = self.literal(field)
            self.take(")")
            if not isinstance(needle, str):
                raise _invalid("contains() needs a string")
            return lambda run: needle in str(run.get(field) or "").lower()
        field = self.field()
        kind, op = self.take()
        if op.lower() not in _OPS:
            raise _invalid(f"unsupported operator {op!r} (use eq, ne, gt, ge, lt, le or contains())")
        compare, value = _OPS[op.lower()], self.literal(field)

        def test(run: dict[str, Any]) -> bool:
            have = run.get(field)
            if isinstance(have, str):
                have = have.lower()
            if have is None or value is None:
                return compare(have, value) if op.lower() in ("eq", "ne") else False
            try:
                return compare(have, value)
            except TypeError:
                return False
        return test


def compile_filter(text: str | None) -> Predicate:
    """A predicate over RunRecord.filter_fields(); ArmError(400 InvalidFilter) for text outside the subset."""
    if not text or not text.strip():
        return lambda run: True
    return _Parser(text).parse()
