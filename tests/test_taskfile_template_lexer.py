"""The template lexer: source into text and action pieces (trim markers applied), actions into tokens with
Go's literal rules."""

from __future__ import annotations

import pytest

from acrmagic.errors import TemplateError
from acrmagic.taskfile.template.lexer import number, pieces, tokens, unquote


def test_pieces_alternate_text_and_actions_with_their_lines():
    assert pieces("a\n{{ .x }}\nb") == [("text", "a\n", 1), ("action", " .x ", 2), ("text", "\nb", 2)]


def test_trim_markers_cut_the_white_space_beside_them_only():
    assert [p[1] for p in pieces("a \n {{- 1 -}} \n b")] == ["a", "1", "b"]
    assert [p[1] for p in pieces("a {{-1}} b")] == ["a ", "-1", " b"]  # `{{-1` is the number -1, not a trim


def test_an_unclosed_action_names_its_line():
    with pytest.raises(TemplateError) as info:
        pieces("ok\n\n{{ .x")
    assert info.value.phase == "parse" and info.value.message == "template: 3: unclosed action"


def test_tokens_of_an_action():
    assert tokens(' $v := .Values.a | printf "%s" (len $) nil true 0x1F', 1) == [
        ("variable", "$v"), ("declare", ":="), ("field", ".Values.a"), ("pipe", "|"), ("ident", "printf"),
        ("literal", "%s"), ("lparen", "("), ("ident", "len"), ("variable", "$"), ("rparen", ")"), ("nil", None),
        ("literal", True), ("literal", 31)]


@pytest.mark.parametrize("text,value", [
    ('"a\\tb"', "a\tb"), ('"\\x41\\u00e9\\U0001F600\\101"', "A\u00e9\U0001F600A"), ("'\\''", "'"),
])
def test_unquote_reads_gos_escapes(text, value):
    assert unquote(text, 1) == value


@pytest.mark.parametrize("text,value", [
    ("42", 42), ("-7", -7), ("0x_1f", 31), ("0o17", 15), ("0b101", 5), ("017", 15), ("1_000", 1000),
    ("1.5", 1.5), (".5", 0.5), ("1e3", 1000.0), ("18446744073709551615", 2 ** 64 - 1),
    ("18446744073709551616", 1.8446744073709552e19),  # past uint64: a float, as Go reads it
])
def test_numbers_are_ints_when_they_fit_else_floats(text, value):
    got = number(text, 1)
    assert got == value and type(got) is type(value)


def test_a_number_out_of_float_range_is_a_parse_error():
    with pytest.raises(TemplateError, match="bad number syntax"):
        number("1e999", 4)
