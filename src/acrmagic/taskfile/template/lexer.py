"""Lexing: a template's source cut into text and `{{ action }}` pieces (trim markers applied), and an
action's text into tokens, with Go's rules for string, character and number literals."""

from __future__ import annotations

import math
import re

from ...errors import TemplateError

_TOKEN = re.compile(r"""
    (?P<ws>\s+)
  | (?P<declare>:=)
  | (?P<assign>=)
  | (?P<pipe>\|)
  | (?P<lparen>\()
  | (?P<rparen>\))
  | (?P<comma>,)
  | (?P<string>"(?:[^"\\\n]|\\.)*")
  | (?P<raw>`[^`]*`)
  | (?P<char>'(?:[^'\\]|\\.)+')
  | (?P<number>[-+]?(?:0[xX][0-9a-fA-F_]+|0[oO][0-7_]+|0[bB][01_]+|(?:\d[\d_]*\.?\d*|\.\d+)(?:[eE][-+]?\d+)?))
  | (?P<variable>\$[A-Za-z0-9_]*)
  | (?P<field>(?:\.[A-Za-z_][A-Za-z0-9_]*)+)
  | (?P<dot>\.)
  | (?P<ident>[A-Za-z_][A-Za-z0-9_]*)
""", re.VERBOSE)

_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\", '"': '"', "'": "'", "a": "\a", "b": "\b", "f": "\f",
            "v": "\v"}
# Go's escapes (strconv.UnquoteChar): \xHH, \uHHHH, \UHHHHHHHH, \OOO (octal, <= 255), and the letters above
_ESCAPE = re.compile(r"\\(?:x([0-9a-fA-F]{2})|u([0-9a-fA-F]{4})|U([0-9a-fA-F]{8})|([0-7]{3})|(.))", re.DOTALL)


def unquote(text: str, line: int) -> str:
    """A Go string or character literal's value; a bad escape or code point is Go's "invalid syntax"."""
    def escape(m):
        hex2, hex4, hex8, octal, letter = m.groups()
        if letter is not None:
            if letter not in _ESCAPES:
                raise TemplateError("parse", f"template: {line}: invalid syntax: unknown escape \\{letter}", line)
            return _ESCAPES[letter]
        code = int(hex2 or hex4 or hex8 or octal, 8 if octal else 16)
        if (octal and code > 255) or code > 0x10FFFF or 0xD800 <= code <= 0xDFFF:
            raise TemplateError("parse", f"template: {line}: invalid syntax: {m.group()} is not a character", line)
        return chr(code)

    return _ESCAPE.sub(escape, text[1:-1])


def tokens(action: str, line: int) -> list[tuple[str, object]]:
    out, i, spaced = [], 0, True
    while i < len(action):
        m = _TOKEN.match(action, i)
        if not m:
            raise TemplateError("parse", f"template: {line}: unexpected {action[i]!r} in command", line)
        kind, text = m.lastgroup, m.group()
        i = m.end()
        if kind == "ws":
            spaced = True
            continue
        # Go ends a field, variable or name only at a space or punctuation: `.x-1` is a bad character, `f -1` is not
        if (kind == "number" and not spaced and out and out[-1][0] in ("field", "variable", "rparen", "ident")
                and text[0] in "+-"):
            raise TemplateError("parse", f"template: {line}: unexpected {text!r} in command", line)
        spaced = False
        if kind == "string":
            out.append(("literal", unquote(text, line)))
        elif kind == "raw":
            out.append(("literal", text[1:-1]))
        elif kind == "char":
            char = unquote(text, line)
            if len(char) != 1:
                raise TemplateError("parse", f"template: {line}: malformed character constant: {text}", line)
            out.append(("literal", ord(char)))
        elif kind == "number":
            out.append(("literal", number(text, line)))
        elif kind == "ident" and text in ("true", "false"):
            out.append(("literal", text == "true"))
        elif kind == "ident" and text == "nil":
            out.append(("nil", None))
        else:
            out.append((kind, text))
    return out


def number(text: str, line: int):
    """Go's reading of a number literal: an int if one fits (int64, else uint64), else a finite float."""
    t = text.replace("_", "")
    value = None
    try:
        if re.fullmatch(r"[-+]?0[xXoObB].*", t):
            value = int(t, 0)
        elif re.fullmatch(r"[-+]?\d{1,40}", t):
            value = int(t, 8) if len(t.lstrip("+-")) > 1 and t.lstrip("+-")[0] == "0" else int(t)
    except ValueError:
        pass
    if value is not None and -2 ** 63 <= value < 2 ** 64:
        return value
    try:
        number = float(t)
    except ValueError:
        number = math.inf
    if math.isinf(number):  # ParseFloat's range error
        raise TemplateError("parse", f"template: {line}: bad number syntax: {text!r}", line)
    return number



_ACTION = re.compile(r"\{\{(-[ \t\r\n])?(.*?)([ \t\r\n]-)?\}\}", re.DOTALL)


def pieces(src: str):
    """(kind, text, line) pieces: "text" or "action", trim markers applied to the text around them."""
    pieces, pos, line = [], 0, 1
    for m in _ACTION.finditer(src):
        text = src[pos:m.start()]
        if m.group(1):
            text = text.rstrip(" \t\r\n")
        pieces.append(["text", text, line])
        line += src.count("\n", pos, m.start())
        pieces.append(["action", m.group(2), line, bool(m.group(3))])
        line += src.count("\n", m.start(), m.end())
        pos = m.end()
    pieces.append(["text", src[pos:], line])
    if "{{" in src[pos:]:
        line += src.count("\n", pos, pos + src[pos:].index("{{"))
        raise TemplateError("parse", f"template: {line}: unclosed action", line)
    for i, piece in enumerate(pieces):  # a `-}}` trims the text that follows it
        if piece[0] == "action" and piece[3]:
            pieces[i + 1][1] = pieces[i + 1][1].lstrip(" \t\r\n")
    return [(p[0], p[1], p[2]) for p in pieces]

