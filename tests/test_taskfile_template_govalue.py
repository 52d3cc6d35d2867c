"""A value as Go's text/template sees it: fmt's %v, `if`'s truth, Go's type names."""

from __future__ import annotations

import pytest

from acrmagic.taskfile.template.govalue import NO_VALUE, go_float, go_str, go_type, truth


@pytest.mark.parametrize("value,text", [
    (None, NO_VALUE), (True, "true"), (2.50, "2.5"), (1e21, "1e+21"), (float("nan"), "NaN"),
    (float("-inf"), "-Inf"), ({"b": None, "a": [1, False]}, "map[a:[1 false] b:<nil>]"), ([], "[]"), ("s", "s"),
])
def test_go_str_prints_as_fmt_v(value, text):
    assert go_str(value) == text


def test_go_float_switches_to_exponent_form_where_strconv_does():
    assert [go_float(x) for x in (999999.0, 1000000.0, 0.00001234, -0.0)] == ["999999", "1e+06", "1.234e-05", "0"]


@pytest.mark.parametrize("value,expected", [
    (None, False), (False, False), (0, False), (0.0, False), ("", False), ([], False), ({}, False),
    (True, True), (-1, True), ("0", True), ([0], True), ({"a": None}, True),
])
def test_truth_is_gos_zero_value_test(value, expected):
    assert truth(value) is expected


def test_go_type_names():
    assert [go_type(v) for v in (True, 1, 1.0, "", {}, [])] == [
        "bool", "int", "float64", "string", "map[string]interface {}", "[]interface {}"]
