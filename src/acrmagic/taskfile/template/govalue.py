"""How Go's text/template sees a value: printed as fmt's %v prints it, true or false as `if` tests it,
and the type name Go's error messages give it."""

from __future__ import annotations

import datetime as _dt
from decimal import Decimal

NO_VALUE = "<no value>"


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



def go_type(v) -> str:
    return {bool: "bool", int: "int", float: "float64", str: "string", dict: "map[string]interface {}",
            list: "[]interface {}"}.get(type(v), type(v).__name__)
