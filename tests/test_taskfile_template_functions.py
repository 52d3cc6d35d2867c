"""The function table, called directly: Go's fmt and comparison rules, Sprig's arithmetic and os.Expand."""

from __future__ import annotations

import pytest

from acrmagic.taskfile.template.functions import FUNCS, READS_ENVIRON


def call(name, *args):
    return FUNCS[name][0](*args)


@pytest.mark.parametrize("args,text", [
    (("%s=%d", "n", 3), "n=3"), (("%5s|%-3d|", "ab", 7), "   ab|7  |"), (("%05d", 42), "00042"),
    (("%d",), "%!d(MISSING)"), (("%d", "x"), "%!d(string=x)"), (("a", 1), "a%!(EXTRA int=1)"),
    (("%x %X", 255, "hi"), "ff 6869"), (("%t %v", True, None), "true <no value>"), (("100%%",), "100%"),
])
def test_printf_is_gos_sprintf(args, text):
    assert call("printf", *args) == text


def test_comparisons_refuse_mixed_kinds_as_go_does():
    assert call("eq", 1, 2, 1) is True and call("eq", 1, True) is False and call("lt", 1, 2.5) is True
    with pytest.raises(ValueError, match="incompatible types"):
        call("lt", 1, "2")


def test_sprig_arithmetic_is_int64():
    assert call("div", -7, 2) == -3 and call("mod", -7, 2) == -1
    assert call("add", 2 ** 63 - 1, 1) == -2 ** 63 and call("int", "12.7") == 12 and call("int", "x") == 0


def test_defaults_and_collections():
    assert call("default", "d", "") == "d" and call("default", "d", 0) == "d" and call("default", "d", "v") == "v"
    assert call("coalesce", None, "", "x") == "x" and call("dict", "a", 1, "b") == {"a": 1, "b": ""}
    assert call("split", ",", "a,b") == {"_0": "a", "_1": "b"} and call("substr", 1, 99, "abc") == "bc"


def test_index_refuses_what_go_refuses():
    assert call("index", {"a": [1, 2]}, "a", 1) == 2
    for args, text in (((None, 0), "index of untyped nil"), (([1], 3), "index out of range"), ((1, 0), "can't index")):
        with pytest.raises(ValueError, match=text):
            call("index", *args)


def test_strings_past_the_output_limit_are_refused_before_they_are_built():
    with pytest.raises(ValueError, match="more than a task file may render"):
        call("repeat", 10 ** 9, "x")


def test_env_functions_take_the_given_environment_first():
    assert READS_ENVIRON == {"env", "expandenv"}
    assert call("env", {"A": "1"}, "A") == "1" and call("expandenv", {"A": "1"}, "$A-${B}") == "1-"
