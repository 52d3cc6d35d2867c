"""A safe implementation of the Go `text/template` subset that task files use, with Sprig's functions.

acr-builder renders task files with Go's text/template (option missingkey=zero) and Sprig. Task files
come from notebooks, repositories and other people, so rendering must never run Python: this is an
interpreter over a parsed tree, with a fixed table of functions and data that is plain dicts, lists
and scalars. Supported: text and actions with `{{-`/`-}}` trimming and `{{/* comments */}}`; fields
(`.Values.a.b`), variables (`$x := ...`, `$x = ...`, `$`), literals, pipelines, parenthesised
pipelines, `if/else if/else`, `range` (with `$i, $v :=`, `else`, `break`, `continue`), `with/else`,
and the built-in plus Sprig text functions task files use in practice.

`env` and `expandenv` read the environment the caller passes to `render` (`RunContext.environ`), never
this process's: a notebook kernel holds Azure credentials and tokens, and a task file from a repository
must not be able to print them into a log. Locally they therefore see an empty environment unless the
caller passes one; in ACR they see the build agent's (acr-builder's Sprig reads the runner's).
"""

from __future__ import annotations

import base64
import datetime as _dt
import hashlib
import json
import math
import re
from decimal import Decimal

from ..errors import TemplateBreak, TemplateContinue, TemplateError

NO_VALUE = "<no value>"
# what one rendering may produce and do: a task file must not be able to exhaust the kernel it runs in
OUTPUT_LIMIT = 8 * 2 ** 20  # characters
WORK_LIMIT = 2_000_000  # template nodes executed


# -- printing values the way Go's fmt %v does -----------------------------------------------------------

def go_float(f: float) -> str:
    if f != f:
        return "NaN"
    if f in (float("inf"), float("-inf")):
        return "+Inf" if f > 0 else "-Inf"
    if f == 0:
        return "0"
    sign, digits, exp = Decimal(repr(f)).normalize().as_tuple()
    digits = "".join(map(str, digits))
    point = len(digits) + exp  # position of the decimal point
    x = point - 1
    # fmt's %v = strconv.FormatFloat(f, 'g', -1, 64): exponent form when exp < -4 or exp >= 6
    if x < -4 or x >= 6:
        mant = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
        text = f"{mant}e{'-' if x < 0 else '+'}{abs(x):02d}"
    elif point <= 0:
        text = "0." + "0" * (-point) + digits
    elif point >= len(digits):
        text = digits + "0" * (point - len(digits))
    else:
        text = digits[:point] + "." + digits[point:]
    return ("-" if sign else "") + text


def go_str(v, nested: bool = False) -> str:
    """fmt's %v. A nil prints as text/template's `<no value>` on its own, as fmt's `<nil>` inside a map or list."""
    if v is None:
        return "<nil>" if nested else NO_VALUE
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return go_float(v)
    if isinstance(v, (_dt.datetime, _dt.date)):
        return str(v)
    if isinstance(v, dict):
        return "map[" + " ".join(f"{go_str(k, True)}:{go_str(v[k], True)}" for k in sorted(v, key=str)) + "]"
    if isinstance(v, (list, tuple)):
        return "[" + " ".join(go_str(x, True) for x in v) + "]"
    return str(v)


def truth(v) -> bool:
    if v is None or v is False:
        return False
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return v != 0
    if isinstance(v, (str, list, tuple, dict)):
        return len(v) > 0
    return True


# -- lexing -------------------------------------------------------------------------------------------------

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


def _unquote(text: str, line: int) -> str:
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


def _tokens(action: str, line: int) -> list[tuple[str, object]]:
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
            out.append(("literal", _unquote(text, line)))
        elif kind == "raw":
            out.append(("literal", text[1:-1]))
        elif kind == "char":
            char = _unquote(text, line)
            if len(char) != 1:
                raise TemplateError("parse", f"template: {line}: malformed character constant: {text}", line)
            out.append(("literal", ord(char)))
        elif kind == "number":
            out.append(("literal", _number(text, line)))
        elif kind == "ident" and text in ("true", "false"):
            out.append(("literal", text == "true"))
        elif kind == "ident" and text == "nil":
            out.append(("nil", None))
        else:
            out.append((kind, text))
    return out


def _number(text: str, line: int):
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


# -- parsing ------------------------------------------------------------------------------------------------

_ACTION = re.compile(r"\{\{(-[ \t\r\n])?(.*?)([ \t\r\n]-)?\}\}", re.DOTALL)


def _pieces(src: str):
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


class _Parser:
    def __init__(self, src: str, name: str):
        self.name = name
        self.pieces = _pieces(src)
        self.i = 0

    def error(self, line: int, msg: str):
        raise TemplateError("parse", f"template: {self.name}:{line}: {msg}", line)

    def parse(self):
        body, end = self.list()
        if end is not None:
            self.error(end[2], f"unexpected {{{{{end[0]}}}}}")
        return body

    def list(self):
        """Nodes up to an {{end}} / {{else ...}} (returned as the second value) or the end of input."""
        nodes = []
        while self.i < len(self.pieces):
            kind, text, line = self.pieces[self.i]
            self.i += 1
            if kind == "text":
                if text:
                    nodes.append(("text", text))
                continue
            stripped = text.strip()
            if stripped.startswith("/*"):
                if not stripped.endswith("*/"):
                    self.error(line, "unclosed comment")
                continue
            toks = _tokens(text, line)
            if not toks:
                self.error(line, "missing value for command")
            head = toks[0]
            if head == ("ident", "end"):
                return nodes, ("end", toks[1:], line)
            if head == ("ident", "else"):
                return nodes, ("else", toks[1:], line)
            if head[0] == "ident" and head[1] in ("if", "with", "range"):
                nodes.append(self.control(head[1], toks[1:], line))
            elif head[0] == "ident" and head[1] in ("break", "continue"):
                nodes.append((head[1], line))
            elif head[0] == "ident" and head[1] in ("define", "template", "block"):
                self.error(line, f"{{{{{head[1]}}}}} is not supported in task files")
            else:
                nodes.append(("action", self.pipeline(toks, line), line))
        return nodes, None

    def control(self, keyword: str, toks, line):
        pipe = self.pipeline(toks, line, allow_decl=True, range_decl=keyword == "range")
        body, end = self.list()
        if end is None:
            self.error(line, f"unexpected EOF in {keyword}")
        else_body = None
        if end[0] == "else":
            rest = end[1]
            if rest and rest[0] == ("ident", "if") and keyword == "if":
                else_body = [self.control("if", rest[1:], end[2])]  # else if: the nested if takes the {{end}}
                return ("if", pipe, body, else_body, line)
            if rest and rest[0] == ("ident", "with") and keyword == "with":
                else_body = [self.control("with", rest[1:], end[2])]
                return ("with", pipe, body, else_body, line)
            if rest:
                self.error(end[2], "unexpected tokens after else")
            else_body, end2 = self.list()
            if end2 is None or end2[0] != "end":
                self.error(line, f"expected end; found {'EOF' if end2 is None else end2[0]}")
        return (keyword, pipe, body, else_body, line)

    def pipeline(self, toks, line, allow_decl=True, range_decl=False):
        decl, assign = [], False
        if toks and toks[0][0] == "variable":
            j = 1
            names = [toks[0][1]]
            if range_decl and len(toks) > 2 and toks[1][0] == "comma" and toks[2][0] == "variable":
                names.append(toks[2][1])
                j = 3
            if len(toks) > j and toks[j][0] in ("declare", "assign"):
                decl, assign, toks = names, toks[j][0] == "assign", toks[j + 1:]
        commands, cur, depth = [], [], 0
        for tok in toks:
            if tok[0] == "lparen":
                depth += 1
            elif tok[0] == "rparen":
                depth -= 1
                if depth < 0:
                    self.error(line, "unexpected right paren")
            if tok[0] == "pipe" and depth == 0:
                commands.append(cur)
                cur = []
            else:
                cur.append(tok)
        if depth:
            self.error(line, "unclosed left paren")
        commands.append(cur)
        if any(not c for c in commands):
            self.error(line, "missing value for command")
        return ("pipeline", decl, assign, [self.command(c, line) for c in commands], line)

    def command(self, toks, line):
        args, i = [], 0
        while i < len(toks):
            kind, val = toks[i]
            if kind == "lparen":
                depth, j = 1, i + 1
                while depth:
                    depth += {"lparen": 1, "rparen": -1}.get(toks[j][0], 0)
                    j += 1
                inner = self.pipeline(toks[i + 1:j - 1], line)
                chain = []
                if j < len(toks) and toks[j][0] == "field":
                    chain, j = toks[j][1].split(".")[1:], j + 1
                args.append(("sub", inner, chain))
                i = j
                continue
            if kind == "field":
                args.append(("field", val.split(".")[1:]))
            elif kind == "dot":
                args.append(("dot",))
            elif kind == "variable":
                chain = []
                if i + 1 < len(toks) and toks[i + 1][0] == "field":
                    chain = toks[i + 1][1].split(".")[1:]
                    i += 1
                args.append(("var", val, chain))
            elif kind in ("literal", "nil"):
                args.append(("literal", val))
            elif kind == "ident":
                if val not in FUNCS:
                    self.error(line, f'function "{val}" not defined')
                args.append(("func", val))
            else:
                self.error(line, f"unexpected {val!r} in operand")
            i += 1
        return args


# -- executing ----------------------------------------------------------------------------------------------



class _Exec:
    def __init__(self, name: str, data, environ: dict[str, str]):
        self.name, self.root, self.environ = name, data, environ
        self.out: list[str] = []
        self.size = self.work = 0
        self.line = 1  # of the last action: where a limit is reached in plain text

    def emit(self, text: str, line) -> None:
        self.size += len(text)
        if self.size > OUTPUT_LIMIT:
            self.error(line or self.line, f"the rendered task exceeds {OUTPUT_LIMIT // 2 ** 20} MiB")
        self.out.append(text)

    def tick(self, line) -> None:
        self.line = line or self.line
        self.work += 1
        if self.work > WORK_LIMIT:
            self.error(self.line, f"rendering takes more than {WORK_LIMIT} steps (a runaway range?)")

    def error(self, line, msg):
        raise TemplateError("exec", f"template: {self.name}:{line}: {msg}", line)

    def run(self, nodes, dot, scope: list[dict]):
        for node in nodes:
            kind = node[0]
            self.tick(node[-1] if isinstance(node[-1], int) else None)
            if kind == "text":
                self.emit(node[1], None)
            elif kind == "action":
                value = self.pipeline(node[1], dot, scope)
                if not node[1][1]:  # a declaration prints nothing
                    self.emit(go_str(value), node[2])
            elif kind in ("if", "with"):
                _, pipe, body, else_body, _ = node
                inner = [*scope, {}]
                value = self.pipeline(pipe, dot, inner)
                if truth(value):
                    self.run(body, value if kind == "with" else dot, inner)
                elif else_body:
                    self.run(else_body, dot, inner)
            elif kind == "range":
                self.range(node, dot, scope)
            elif kind == "break":
                raise TemplateBreak()
            elif kind == "continue":
                raise TemplateContinue()

    def range(self, node, dot, scope):
        _, pipe, body, else_body, line = node
        decl = pipe[1]
        value = self.pipeline(("pipeline", [], False, pipe[3], line), dot, scope)
        if isinstance(value, dict):
            items, count = [(k, value[k]) for k in sorted(value, key=str)], len(value)
        elif isinstance(value, (list, tuple)):
            items, count = enumerate(value), len(value)
        elif isinstance(value, int) and not isinstance(value, bool):
            items, count = ((i, i) for i in range(value)), value  # lazily: the work limit stops a huge one
        elif value is None:
            items, count = [], 0
        else:
            self.error(line, f"range can't iterate over {go_str(value)}")
        if count <= 0:
            if else_body:
                self.run(else_body, dot, scope)
            return
        for key, item in items:
            self.tick(line)
            frame = {}
            if len(decl) == 1:
                frame[decl[0]] = item
            elif len(decl) == 2:
                frame[decl[0]], frame[decl[1]] = key, item
            try:
                self.run(body, item, [*scope, frame])
            except TemplateBreak:
                break
            except TemplateContinue:
                continue

    def pipeline(self, pipe, dot, scope):
        _, decl, assign, commands, line = pipe
        value, first = None, True
        for cmd in commands:
            value = self.command(cmd, dot, scope, line, None if first else value, not first)
            first = False
        for name in decl:
            if assign:
                for frame in reversed(scope):
                    if name in frame:
                        frame[name] = value
                        break
                else:
                    self.error(line, f"undefined variable: {name}")
            else:
                scope[-1][name] = value
        return value

    def command(self, args, dot, scope, line, piped, has_piped):
        head = args[0]
        if head[0] == "func":
            name = head[1]
            if name in ("and", "or"):  # short-circuit: later operands are not evaluated (Go 1.18+)
                return self.logic(name, args[1:], dot, scope, line, piped, has_piped)
            values = [self.operand(a, dot, scope, line) for a in args[1:]]
            if has_piped:
                values.append(piped)
            return self.call(name, values, line)
        if len(args) > 1 or has_piped:
            self.error(line, f"can't give argument to non-function {self.describe(head)}")
        return self.operand(head, dot, scope, line)

    def logic(self, name, arg_nodes, dot, scope, line, piped, has_piped):
        nodes = list(arg_nodes)
        if not nodes and not has_piped:
            self.error(line, f"wrong number of args for {name}: want at least 1 got 0")
        value = None
        for node in nodes:
            value = self.operand(node, dot, scope, line)
            if (name == "and") != truth(value):
                return value
        if has_piped:
            value = piped
        return value

    def describe(self, node):
        return {"field": lambda: "." + ".".join(node[1]), "var": lambda: node[1], "literal": lambda: go_str(node[1]),
                "dot": lambda: "."}.get(node[0], lambda: "value")()

    def operand(self, node, dot, scope, line):
        kind = node[0]
        if kind == "literal":
            return node[1]
        if kind == "dot":
            return dot
        if kind == "field":
            return self.chain(dot, node[1], line, "")
        if kind == "var":
            name = node[1]
            if name == "$":
                base = self.root
            else:
                for frame in reversed(scope):
                    if name in frame:
                        base = frame[name]
                        break
                else:
                    self.error(line, f'undefined variable "{name}"')
            return self.chain(base, node[2], line, name)
        if kind == "sub":
            return self.chain(self.pipeline(node[1], dot, scope), node[2], line, "")
        if kind == "func":
            return self.call(node[1], [], line)
        self.error(line, "bad operand")

    def chain(self, value, names, line, prefix):
        for name in names:
            if isinstance(value, dict):
                value = value.get(name)  # missingkey=zero: a missing key is the zero value (no value)
            elif value is None:
                self.error(line, f"nil pointer evaluating interface {{}}.{name}")
            else:
                self.error(line, f"can't evaluate field {name} in type {_go_type(value)}")
        return value

    def call(self, name, values, line):
        fn, kinds = FUNCS[name]
        if kinds is not None:
            fixed = [k for k in kinds if not k.startswith("*")]
            variadic = len(fixed) < len(kinds)
            if len(values) < len(fixed) or (not variadic and len(values) > len(fixed)):
                self.error(line, f"wrong number of args for {name}: want {len(fixed)} got {len(values)}")
            for i, value in enumerate(values):  # past the fixed ones, arguments are of the variadic kind
                values[i] = _coerce(value, kinds[min(i, len(kinds) - 1)].lstrip("*"), name, i, self, line)
        if name in _READS_ENVIRON:
            values = [self.environ, *values]
        try:
            return fn(*values)
        except TemplateError:
            raise
        except Exception as e:  # a function refused its input: Go reports "error calling <fn>"
            self.error(line, f"error calling {name}: {e}")


def _go_type(v) -> str:
    return {bool: "bool", int: "int", float: "float64", str: "string", dict: "map[string]interface {}",
            list: "[]interface {}"}.get(type(v), type(v).__name__)


def _coerce(value, kind, fname, index, ex, line):
    if kind == "a":
        return value
    if value is None:
        ex.error(line, f"error calling {fname}: invalid value; expected {_KIND_NAMES[kind]}")
    if kind == "s" and not isinstance(value, str):
        ex.error(line, f"wrong type for value; expected string; got {_go_type(value)}")
    if kind == "i":  # Go passes only an int to an int parameter (a float64 is a type error)
        if isinstance(value, bool) or not isinstance(value, int):
            ex.error(line, f"wrong type for value; expected int; got {_go_type(value)}")
        return value
    if kind == "l" and not isinstance(value, (list, tuple)):
        ex.error(line, f"wrong type for value; expected []interface {{}}; got {_go_type(value)}")
    if kind == "m" and not isinstance(value, dict):
        ex.error(line, f"wrong type for value; expected map[string]interface {{}}; got {_go_type(value)}")
    return value


_KIND_NAMES = {"s": "string", "i": "int", "l": "[]interface {}", "m": "map[string]interface {}"}


# -- functions: Go's built-ins and Sprig's text functions -------------------------------------------------

_FMT_TOO_LARGE = 10 ** 6  # Go's fmt prints %!(BADWIDTH) / %!(BADPREC) past this


def _printf(fmt: str, *args) -> str:
    out, n = [], 0
    spec = re.compile(r"%([-+# 0]*)(\d+|\*)?(?:\.(\d+))?([vsdqtfeEgGxXobc%])")
    pos = 0
    for m in spec.finditer(fmt):
        out.append(fmt[pos:m.start()])
        pos = m.end()
        flags, width, prec, verb = m.groups()
        if verb == "%":
            out.append("%")
            continue
        if n >= len(args):
            out.append(f"%!{verb}(MISSING)")
            continue
        arg = args[n]
        n += 1
        if (width and width != "*" and int(width) > _FMT_TOO_LARGE) or (prec and int(prec) > _FMT_TOO_LARGE):
            out.append("%!(BADWIDTH)" if width and width != "*" and int(width) > _FMT_TOO_LARGE else "%!(BADPREC)")
            continue
        if verb in "vs":
            text = go_str(arg)
        elif verb == "q":
            text = json.dumps(go_str(arg) if not isinstance(arg, str) else arg, ensure_ascii=False)
        elif verb == "t":
            text = go_str(arg)
        elif verb == "c" and isinstance(arg, int) and not isinstance(arg, bool):
            text = chr(arg) if 0 <= arg <= 0x10FFFF and not 0xD800 <= arg <= 0xDFFF else "\ufffd"  # Go's RuneError
        elif verb in "dxXob" and isinstance(arg, int) and not isinstance(arg, bool):
            text = format(arg, verb)
        elif verb in "feEgG" and isinstance(arg, (int, float)) and not isinstance(arg, bool):
            text = format(float(arg), f".{prec if prec is not None else 6}{verb}")
        elif verb in "xX" and isinstance(arg, str):
            text = arg.encode().hex() if verb == "x" else arg.encode().hex().upper()
        else:
            text = f"%!{verb}({_go_type(arg)}={go_str(arg)})"
        if width and width != "*":
            text = text.ljust(int(width)) if "-" in (flags or "") else text.rjust(int(width), "0" if "0" in (flags or "") and verb in "dfeg" else " ")
        out.append(text)
    out.append(fmt[pos:])
    if n < len(args):
        out.append("%!(EXTRA " + ", ".join(f"{_go_type(a)}={go_str(a)}" for a in args[n:]) + ")")
    return "".join(out)


def _index(item, *keys):
    for key in keys:
        if isinstance(item, dict):
            item = item.get(key)
        elif isinstance(item, (list, tuple, str)):
            if not isinstance(key, int) or not 0 <= key < len(item):
                raise ValueError(f"index out of range: {key}")
            item = item[key]
        elif item is None:
            raise ValueError("index of untyped nil")
        else:
            raise ValueError(f"can't index item of type {_go_type(item)}")
    return item


def _eq(a, *bs):
    return any(a == b and type(a) is type(b) or (a == b and not isinstance(a, bool) and not isinstance(b, bool))
               for b in bs)


def _cmp(op):
    def compare(a, b):
        if isinstance(a, bool) or isinstance(b, bool) or type(a) is not type(b) and not (
                isinstance(a, (int, float)) and isinstance(b, (int, float))):
            raise ValueError("incompatible types for comparison")
        return op(a, b)
    return compare


def _default(default, *given):
    value = given[0] if given else None
    return value if truth(value) else default


def _empty(v):
    return not truth(v)


def _coalesce(*vals):
    return next((v for v in vals if truth(v)), None)


def _to_str(v):
    return "" if v is None else go_str(v)


def _b64enc(v):
    return "" if v is None else base64.b64encode(_to_str(v).encode()).decode()


def _sized(length: int) -> None:
    """Refuse to build a string longer than one rendering may produce, before building it."""
    if length > OUTPUT_LIMIT:
        raise ValueError(f"the result would be {length} characters, more than a task file may render")


def _repeat(n, s):
    _sized(max(n, 0) * len(s))
    return s * max(n, 0)


def _int64(value: int) -> int:
    """Sprig's arithmetic is int64: results wrap around as Go's do."""
    return (value + 2 ** 63) % 2 ** 64 - 2 ** 63


def _trunc(n, s):
    return s[:n] if n >= 0 else s[n:]


def _substr(start, end, s):
    if start < 0:
        return s[:end]
    if end < 0 or end > len(s):
        return s[start:]
    return s[start:end]


def _indent(n, s):
    _sized(max(n, 0) * (s.count("\n") + 1) + len(s))
    pad = " " * n
    return pad + s.replace("\n", "\n" + pad)


def _to_int(v):
    """Sprig's toInt64 (spf13/cast): numbers and numeric text; anything else, and what does not fit, is 0."""
    try:
        if isinstance(v, str):
            try:
                return _int64(int(v))
            except ValueError:
                return _int64(int(float(v)))
        return _int64(int(v)) if isinstance(v, (int, float)) else 0
    except (ValueError, OverflowError):
        return 0


def _go_div(a, b) -> int:
    """Go's integer division: truncated toward zero (Python's // floors)."""
    a, b = _to_int(a), _to_int(b)
    q = abs(a) // abs(b)  # b == 0: ZeroDivisionError, reported as Go reports a divide by zero
    return _int64(q if (a < 0) == (b < 0) else -q)


def _go_mod(a, b) -> int:
    a, b = _to_int(a), _to_int(b)
    return _int64(a - b * _go_div(a, b))


def _to_float(v):
    try:
        return float(v)
    except (TypeError, ValueError):
        return 0.0


def _date(fmt, when):
    layout = {"2006": "%Y", "01": "%m", "02": "%d", "15": "%H", "04": "%M", "05": "%S", "Jan": "%b",
              "Mon": "%a", "MST": "%Z", "06": "%y"}
    pattern = re.compile("|".join(sorted(map(re.escape, layout), key=len, reverse=True)))
    return when.strftime(pattern.sub(lambda m: layout[m.group()], fmt))


def _dict(*kv):
    if len(kv) % 2:
        kv = (*kv, "")
    return {_to_str(kv[i]): kv[i + 1] for i in range(0, len(kv), 2)}


def _set(d, k, v):
    d[k] = v
    return d


def _expand(text: str, lookup) -> str:
    """Go's os.Expand: `$name` and `${name}` replaced (unknown names by ""), `$` before nothing kept."""
    out, i, n = [], 0, len(text)
    while i < n:
        c = text[i]
        if c != "$" or i + 1 == n:
            out.append(c)
            i += 1
            continue
        name, width = _shell_name(text, i + 1)
        if name:
            out.append(lookup(name))
        elif not width:  # valid syntax, but no name: the dollar stays
            out.append("$")
        i += 1 + width  # bad syntax (`${}`, `${x`) eats what it read
    return "".join(out)


_SPECIAL = set("*#$@!?-0123456789")


def _shell_name(s: str, i: int) -> tuple[str, int]:
    if s[i] == "{":
        if len(s) - i > 2 and s[i + 1] in _SPECIAL and s[i + 2] == "}":
            return s[i + 1], 3
        end = s.find("}", i + 1)
        if end < 0:
            return "", 1
        return (s[i + 1:end], end - i + 1) if end > i + 1 else ("", 2)
    if s[i] in _SPECIAL:
        return s[i], 1
    m = re.compile(r"[A-Za-z0-9_]*").match(s, i)
    return m.group(), m.end() - i


def _env(environ: dict[str, str], key: str) -> str:
    return environ.get(key, "")


def _expandenv(environ: dict[str, str], text: str) -> str:
    return _expand(text, lambda name: environ.get(name, ""))


#: functions given the environment the caller passed as their first argument (see the module docstring)
_READS_ENVIRON = {"env", "expandenv"}


def _sprig_split(sep, s):
    return {f"_{i}": part for i, part in enumerate(s.split(sep))}


FUNCS: dict[str, tuple] = {  # name -> (function, argument kinds or None): a any, s string, i int, l list, m map
    # Go's built-ins
    "and": (None, None), "or": (None, None), "not": (lambda v: not truth(v), ["a"]),
    "len": (lambda v: len(v) if v is not None else (_ for _ in ()).throw(ValueError("len of nil")), ["a"]),
    "index": (_index, ["a", "*a"]), "print": (lambda *a: "".join(go_str(x) for x in a), ["*a"]),
    "println": (lambda *a: " ".join(go_str(x) for x in a) + "\n", ["*a"]),
    "printf": (_printf, ["s", "*a"]), "eq": (_eq, ["a", "*a"]), "ne": (lambda a, b: not _eq(a, b), ["a", "a"]),
    "lt": (_cmp(lambda a, b: a < b), ["a", "a"]), "le": (_cmp(lambda a, b: a <= b), ["a", "a"]),
    "gt": (_cmp(lambda a, b: a > b), ["a", "a"]), "ge": (_cmp(lambda a, b: a >= b), ["a", "a"]),
    "urlquery": (lambda *a: __import__("urllib.parse").parse.quote_plus("".join(go_str(x) for x in a)), ["*a"]),
    "slice": (lambda item, *ix: item[slice(*ix)], ["a", "*i"]),
    # Sprig: strings
    "upper": (str.upper, ["s"]), "lower": (str.lower, ["s"]), "title": (str.title, ["s"]),
    "trim": (str.strip, ["s"]), "trimAll": (lambda c, s: s.strip(c), ["s", "s"]),
    "trimPrefix": (lambda p, s: s[len(p):] if s.startswith(p) else s, ["s", "s"]),
    "trimSuffix": (lambda p, s: s[:-len(p)] if p and s.endswith(p) else s, ["s", "s"]),
    "replace": (lambda old, new, s: s.replace(old, new), ["s", "s", "s"]),
    "contains": (lambda sub, s: sub in s, ["s", "s"]), "hasPrefix": (lambda p, s: s.startswith(p), ["s", "s"]),
    "hasSuffix": (lambda p, s: s.endswith(p), ["s", "s"]), "repeat": (_repeat, ["i", "s"]),
    "substr": (_substr, ["i", "i", "s"]), "trunc": (_trunc, ["i", "s"]), "nospace": (lambda s: re.sub(r"\s", "", s), ["s"]),
    "quote": (lambda *a: " ".join(json.dumps(_to_str(x), ensure_ascii=False) for x in a if x is not None), ["*a"]),
    "squote": (lambda *a: " ".join(f"'{_to_str(x)}'" for x in a if x is not None), ["*a"]),
    "cat": (lambda *a: " ".join(_to_str(x) for x in a if x is not None), ["*a"]),
    "indent": (_indent, ["i", "s"]), "nindent": (lambda n, s: "\n" + _indent(n, s), ["i", "s"]),
    "b64enc": (_b64enc, ["a"]), "b64dec": (lambda s: base64.b64decode(s).decode(), ["s"]),
    "sha256sum": (lambda s: hashlib.sha256(s.encode()).hexdigest(), ["s"]),
    "toString": (_to_str, ["a"]), "toJson": (lambda v: json.dumps(v, separators=(",", ":")), ["a"]),
    "toPrettyJson": (lambda v: json.dumps(v, indent=2), ["a"]),
    "split": (_sprig_split, ["s", "s"]), "splitList": (lambda sep, s: s.split(sep), ["s", "s"]),
    "join": (lambda sep, items: sep.join(_to_str(x) for x in items), ["s", "l"]),
    "regexMatch": (lambda r, s: re.search(r, s) is not None, ["s", "s"]),
    "regexReplaceAll": (lambda r, s, repl: re.sub(r, re.sub(r"\$\{?(\w+)\}?", r"\\g<\1>", repl), s), ["s", "s", "s"]),
    "regexFind": (lambda r, s: (re.search(r, s) or [""])[0], ["s", "s"]),
    # Sprig: defaults, logic, conversion
    "default": (_default, ["a", "*a"]), "empty": (_empty, ["a"]), "coalesce": (_coalesce, ["*a"]),
    "ternary": (lambda a, b, c: a if truth(c) else b, ["a", "a", "a"]),
    "int": (_to_int, ["a"]), "int64": (_to_int, ["a"]), "atoi": (_to_int, ["s"]), "float64": (_to_float, ["a"]),
    "add": (lambda *a: _int64(sum(_to_int(x) for x in a)), ["*a"]),
    "sub": (lambda a, b: _int64(_to_int(a) - _to_int(b)), ["a", "a"]),
    "mul": (lambda *a: _int64(math.prod(_to_int(x) for x in a)), ["*a"]),
    "div": (_go_div, ["a", "a"]), "mod": (_go_mod, ["a", "a"]),
    "max": (lambda *a: max(_to_int(x) for x in a), ["a", "*a"]), "min": (lambda *a: min(_to_int(x) for x in a), ["a", "*a"]),
    # Sprig: lists and dicts
    "list": (lambda *a: list(a), ["*a"]), "first": (lambda v: v[0] if v else None, ["l"]),
    "last": (lambda v: v[-1] if v else None, ["l"]), "has": (lambda x, v: x in v, ["a", "l"]),
    "dict": (_dict, ["*a"]), "get": (lambda d, k: d.get(k, ""), ["m", "s"]), "set": (_set, ["m", "s", "a"]),
    "hasKey": (lambda d, k: k in d, ["m", "s"]), "keys": (lambda *ds: [k for d in ds for k in d], ["m", "*m"]),
    # Sprig: environment (the one the caller passed: see _READS_ENVIRON) and time
    "env": (_env, ["s"]), "expandenv": (_expandenv, ["s"]),
    "now": (lambda: _dt.datetime.now(_dt.timezone.utc), []), "date": (_date, ["s", "a"]),
    "uuidv4": (lambda: str(__import__("uuid").uuid4()), []),
}


def parse(src: str, name: str = "task"):
    return _Parser(src, name).parse()


def render(src: str, data: dict, name: str = "task", environ: dict[str, str] | None = None) -> str:
    """Render like acr-builder: missing keys give no value, and every `<no value>` is then deleted.
    `environ` is what `env` and `expandenv` see (empty when not given)."""
    tree = parse(src, name)
    ex = _Exec(name, data, dict(environ or {}))
    try:
        ex.run(tree, data, [{"$": data}])
    except (TemplateBreak, TemplateContinue):
        raise TemplateError("exec", f"template: {name}: break or continue outside range") from None
    except RecursionError:
        raise TemplateError("exec", f"template: {name}: too deeply nested") from None
    # a lone surrogate (from a value passed in) cannot be UTF-8: Go would hold U+FFFD there
    return _SURROGATE.sub("\ufffd", "".join(ex.out).replace(NO_VALUE, ""))


_SURROGATE = re.compile("[\ud800-\udfff]")
