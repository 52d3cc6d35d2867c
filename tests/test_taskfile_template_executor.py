"""The executor on parsed trees: missingkey=zero, variable scopes, argument checks, the limits."""

from __future__ import annotations

import pytest

from acrmagic.errors import TemplateError
from acrmagic.taskfile.template.executor import execute
from acrmagic.taskfile.template.limits import WORK_LIMIT
from acrmagic.taskfile.template.parser import parse


def run(src, data=None, environ=None):
    return execute(parse(src), data if data is not None else {}, "task", environ or {})


def test_a_missing_key_is_no_value_until_render_deletes_it():
    assert run("[{{ .a.b }}]", {"a": {}}) == "[<no value>]"


def test_a_variable_declared_in_a_block_is_gone_after_it_and_assignment_reaches_outward():
    assert run("{{ $x := 1 }}{{ range .l }}{{ $x = . }}{{ $y := 2 }}{{ end }}{{ $x }}", {"l": [7, 8]}) == "8"
    with pytest.raises(TemplateError, match='undefined variable "\\$y"'):
        run("{{ if true }}{{ $y := 2 }}{{ end }}{{ $y }}")


def test_and_or_short_circuit():
    assert run("{{ or 1 .a.b.c }}") == "1"  # .a.b.c would be a nil-pointer error if evaluated


def test_arguments_are_counted_and_typed_before_the_call():
    with pytest.raises(TemplateError, match="wrong number of args for upper: want 1 got 2"):
        run('{{ upper "a" "b" }}')
    with pytest.raises(TemplateError, match="error calling upper: invalid value; expected string"):
        run("{{ upper .none }}")
    with pytest.raises(TemplateError, match="error calling b64dec"):
        run('{{ b64dec "YQ" }}')  # no padding: Python's decoder refuses it, as Go's


def test_break_outside_range_and_the_work_limit():
    with pytest.raises(TemplateError, match="break or continue outside range"):
        run("{{ break }}")
    with pytest.raises(TemplateError, match=f"more than {WORK_LIMIT} steps") as info:
        run("\n{{ range .n }}{{ end }}", {"n": WORK_LIMIT})
    assert info.value.phase == "exec" and info.value.line == 2


def test_data_is_read_as_plain_data_never_as_python_objects():
    with pytest.raises(TemplateError, match="can't evaluate field upper in type string"):
        run("{{ .s.upper }}", {"s": "x"})
