"""Values files as acr-builder reads them (yaml.v2 into map[string]interface{}), and --set."""

from __future__ import annotations

import pytest

from acrmagic.errors import TaskFileError
from acrmagic.taskfile import RunInfo, load
from acrmagic.taskfile.values import parse_values_file

LAUGHS = "a: &a [x,x,x,x,x,x,x,x,x,x]\n" + "".join(
    f"{k}: &{k} [{', '.join([f'*{p}'] * 10)}]\n" for p, k in zip("abcdef", "bcdefg"))


@pytest.mark.parametrize("text,values", [
    ("a: 1.10\nb: 007\nc: yes\nd: y\ne: 2001-12-14\n", {"a": 1.1, "b": 7, "c": True, "d": True, "e": "2001-12-14"}),
    ("a: !!binary aGVsbG8=\n", {"a": "hello"}),
    ("a: !!set {x, y}\n", {"a": {"x": None, "y": None}}),  # yaml.v2 knows no sets: a map of nulls
    ("a: !custom text\n", {"a": "text"}),  # an unknown tag: the text, never a constructor
    ("a: " + "9" * 5000 + "\n", {"a": "9" * 5000}),  # past float64 too: a string, as ParseFloat overflows
    ("a: 1e400\nb: 0x1F\nc: 1:30\n", {"a": "1e400", "b": 31, "c": "1:30"}),
    ("1: x\ntrue: z\nm: {1: a, true: b}\n", {"1": "x", "true": "z", "m": {"1": "a", "true": "b"}}),
    ("base: &b {x: 1, y: 2}\nm:\n  <<: *b\n  y: 3\n", {"base": {"x": 1, "y": 2}, "m": {"x": 1, "y": 3}}),
    ("", {}), ("~\n", {}),
])
def test_values_are_typed_as_yaml_v2_types_them(text, values):
    assert parse_values_file(text) == values


@pytest.mark.parametrize("text,message", [
    ("- a\n", "cannot unmarshal !!seq into map[string]interface {}"),
    ("just text\n", "cannot unmarshal !!str `just text` into map[string]interface {}"),
    ("a: &x [*x]\n", "anchor value contains itself"),
    ("? [a]\n: 1\n", "invalid map key"),
    (LAUGHS, "document contains excessive aliasing"),
    ("a: [\n", "yaml: "),
])
def test_bad_values_files_are_one_line_errors(text, message):
    with pytest.raises(TaskFileError) as info:
        load("steps:\n  - cmd: x\n", RunInfo(), values_file=text)
    err = info.value
    assert err.kind == "values_parse_error" and message in err.reason and "\n" not in str(err)
    assert str(err).startswith("--values:") and "failed to deserialize values" in err.reason


def test_nested_nil_prints_as_fmt_does():
    plan = load("steps:\n  - cmd: x {{ .Values.a }} {{ .Values.none }}|\n", RunInfo(), values_file="a: [1, ~]\n")
    assert plan.task.steps[0].cmd == "x [1 <nil>] |"


def test_task_files_have_the_aliasing_limit_too():
    env = "[" + ", ".join(["A=1"] * 1100) + "]"
    text = f"defs:\n  e: &e {env}\n  s: &s {{cmd: x, env: *e}}\nsteps: [{', '.join(['*s'] * 1000)}]\n"
    with pytest.raises(TaskFileError, match="excessive aliasing"):
        load(text, RunInfo())


def test_values_are_layered_file_then_set_then_set_secret():
    plan = load("steps:\n  - cmd: x {{ .Values.a }} {{ .Values.b }} {{ .Values.c }}\n", RunInfo(),
                values_file="a: file\nb: file\nc: file\n", set_values={"b": "set", "c": "set"},
                secret_values={"c": "secret"})
    assert plan.task.steps[0].cmd == "x file set secret"
    assert plan.values == {"a": "file", "b": "set", "c": "secret"}
