"""The function table: Go's built-ins and the Sprig text functions task files use, each with the kinds
of argument it takes (checked by the executor before the call, as Go's reflection does)."""

from __future__ import annotations

import base64
import datetime as _dt
import hashlib
import json
import math
import re

from .govalue import go_str, go_type, truth
from .limits import OUTPUT_LIMIT

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
            text = f"%!{verb}({go_type(arg)}={go_str(arg)})"
        if width and width != "*":
            text = text.ljust(int(width)) if "-" in (flags or "") else text.rjust(int(width), "0" if "0" in (flags or "") and verb in "dfeg" else " ")
        out.append(text)
    out.append(fmt[pos:])
    if n < len(args):
        out.append("%!(EXTRA " + ", ".join(f"{go_type(a)}={go_str(a)}" for a in args[n:]) + ")")
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
            raise ValueError(f"can't index item of type {go_type(item)}")
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
READS_ENVIRON = {"env", "expandenv"}


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
    # Sprig: environment (the one the caller passed: see READS_ENVIRON) and time
    "env": (_env, ["s"]), "expandenv": (_expandenv, ["s"]),
    "now": (lambda: _dt.datetime.now(_dt.timezone.utc), []), "date": (_date, ["s", "a"]),
    "uuidv4": (lambda: str(__import__("uuid").uuid4()), []),
}

