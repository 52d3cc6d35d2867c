"""The template parser: pieces into a tree, block structure checked, unknown functions refused at parse time."""

from __future__ import annotations

import pytest

from acrmagic.errors import TemplateError
from acrmagic.taskfile.template.parser import parse


def test_text_and_an_action_become_nodes():
    assert parse("hi {{ .Values.a }}") == [
        ("text", "hi "), ("action", ("pipeline", [], False, [[("field", ["Values", "a"])]], 1), 1)]


def test_a_pipeline_holds_its_commands_and_declaration():
    [node] = parse('{{ $x = "a" | upper }}')
    assert node[1] == ("pipeline", ["$x"], True, [[("literal", "a")], [("func", "upper")]], 1)


def test_else_if_nests_an_if_that_takes_the_end():
    [node] = parse("{{ if .a }}A{{ else if .b }}B{{ else }}C{{ end }}")
    keyword, _, body, else_body, _ = node
    assert keyword == "if" and body == [("text", "A")]
    assert else_body[0][0] == "if" and else_body[0][2] == [("text", "B")] and else_body[0][3] == [("text", "C")]


def test_range_declares_key_and_value_and_comments_vanish():
    [node] = parse("{{/* c */}}{{ range $k, $v := .m }}{{ break }}{{ end }}")
    assert node[0] == "range" and node[1][1] == ["$k", "$v"] and node[2] == [("break", 1)]


def test_a_parenthesised_pipeline_with_a_field_after_it():
    [node] = parse("{{ (index . 0).Name }}")
    [[sub]] = node[1][3]
    assert sub[0] == "sub" and sub[2] == ["Name"] and sub[1][3] == [[("func", "index"), ("dot",), ("literal", 0)]]


@pytest.mark.parametrize("src,message", [
    ("{{ nosuch }}", 'template: t.yaml:1: function "nosuch" not defined'),
    ("\n{{ if 1 }}", "template: t.yaml:2: unexpected EOF in if"),
    ("{{ else }}", "template: t.yaml:1: unexpected {{else}}"),
    ("{{ define \"x\" }}{{ end }}", "template: t.yaml:1: {{define}} is not supported in task files"),
    ("{{ (1 }}", "template: t.yaml:1: unclosed left paren"),
    ("{{ 1 | }}", "template: t.yaml:1: missing value for command"),
    ("{{/* open }}", "template: t.yaml:1: unclosed comment"),
])
def test_parse_errors_name_the_file_and_line(src, message):
    with pytest.raises(TemplateError) as info:
        parse(src, "t.yaml")
    assert info.value.phase == "parse" and info.value.message == message
