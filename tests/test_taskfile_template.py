"""The Go text/template subset: output, trimming, control flow, functions, errors, and safety."""

from __future__ import annotations

import pytest

from acrmagic.taskfile import RunInfo, load, plan_dict
from acrmagic.taskfile.template import TemplateError, go_float, render

DATA = {"Values": {"name": "web", "n": 3, "items": ["a", "b"], "m": {"y": 2, "x": 1}, "ratio": 1.1, "on": True},
        "Run": {"ID": "cb1"}}


@pytest.mark.parametrize("src,out", [
    ("{{ .Values.name | upper }}-{{ .Run.ID }}", "WEB-cb1"),
    ("{{ .Values.missing }}|{{ .Values.missing | default \"d\" }}", "|d"),
    ("a  {{- \" b \" -}}  c", "a b c"),
    ("{{ if .Values.on }}on{{ else if .Values.n }}n{{ else }}off{{ end }}", "on"),
    ("{{ range $i, $v := .Values.items }}{{ $i }}{{ $v }} {{ end }}", "0a 1b "),
    ("{{ range .Values.none }}x{{ else }}empty{{ end }}", "empty"),
    ("{{ range .Values.items }}{{ if eq . \"b\" }}{{ break }}{{ end }}{{ . }}{{ end }}", "a"),
    ("{{ range $k, $v := .Values.m }}{{ $k }}={{ $v }};{{ end }}", "x=1;y=2;"),
    ("{{ with .Values.m }}{{ .x }}{{ end }}{{ with .Values.none }}no{{ else }}none{{ end }}", "1none"),
    ("{{ $x := 1 }}{{ if true }}{{ $x = 2 }}{{ end }}{{ $x }}", "2"),
    ("{{ printf \"%s:%03d:%.2f:%v:%q\" .Values.name .Values.n .Values.ratio .Values.on \"q\" }}", "web:003:1.10:true:\"q\""),
    ("{{ .Values.items }} {{ .Values.m }} {{ .Values.ratio }}", "[a b] map[x:1 y:2] 1.1"),
    ("{{ len .Values.items }} {{ index .Values.items 1 }} {{ index .Values.m \"y\" }}", "2 b 2"),
    ("{{ and .Values.on .Values.n }} {{ or .Values.none \"z\" }} {{ not .Values.on }}", "3 z false"),
    ("{{ \"a,b\" | splitList \",\" | join \"+\" }} {{ list 1 2 | len }}", "a+b 2"),
    ("{{ trimSuffix \".git\" \"repo.git\" }} {{ replace \"-\" \"_\" \"a-b\" }} {{ \"x\" | quote }}", "repo a_b \"x\""),
    ("{{ (printf \"%d\" 5) }} {{ add 1 2 3 }} {{ ternary \"y\" \"n\" true }}", "5 6 y"),
    ("{{/* a comment */}}kept", "kept"),
    ("{{ and .Values.none .Values.none.deeper }}|{{ or .Values.on .Values.none.deeper }}", "|true"),
    ("{{ $ }}", "map[Run:map[ID:cb1] Values:map[items:[a b] m:map[x:1 y:2] n:3 name:web on:true ratio:1.1]]"),
])
def test_render(src, out):
    assert render(src, DATA) == out


@pytest.mark.parametrize("src,phase,text", [
    ("{{ .Values.missing | upper }}", "exec", "invalid value; expected string"),
    ("{{ .Values.a.b }}", "exec", "nil pointer evaluating interface {}.b"),
    ("{{ .Values.name.x }}", "exec", "can't evaluate field x in type string"),
    ("{{ nosuch 1 }}", "parse", 'function "nosuch" not defined'),
    ("{{ if true }}x", "parse", "unexpected EOF"),
    ("{{ end }}", "parse", "unexpected"),
    ("{{ .Values.name", "parse", "unclosed action"),
    ("{{ $undefined }}", "exec", "undefined variable"),
])
def test_errors(src, phase, text):
    with pytest.raises(TemplateError) as info:
        render(src, DATA)
    assert info.value.phase == phase and text in info.value.message


def test_no_python_is_reachable():
    for src in ("{{ .__class__ }}", "{{ .Values.name.__len__ }}", "{{ index . \"__class__\" }}"):
        try:
            assert "class" not in render(src, DATA)
        except TemplateError:
            pass
    with pytest.raises(TemplateError):
        render("{{ eval \"1\" }}", DATA)


def test_go_float_formatting():
    assert [go_float(x) for x in (1.1, 100.0, 1e6, 123456.0, 0.0001, 1e-05, -2.5)] == \
        ["1.1", "100", "1e+06", "123456", "0.0001", "1e-05", "-2.5"]


SECRET = "AZURE_CLIENT_SECRET"


def test_env_and_expandenv_never_read_this_process_environment(monkeypatch):
    monkeypatch.setenv(SECRET, "hunter2-token")
    src = f'[{{{{ env "{SECRET}" }}}}|{{{{ expandenv "${SECRET} ${{{SECRET}}}" }}}}]'
    assert render(src, DATA) == "[| ]"
    plan = load(f"steps:\n  - cmd: busybox echo {src}\n", RunInfo())
    assert "hunter2" not in plan.task.steps[0].cmd


def test_env_and_expandenv_read_the_environment_the_caller_passes(monkeypatch):
    monkeypatch.setenv(SECRET, "hunter2-token")
    environ = {"AGENT": "acb-agent", SECRET: "given"}
    assert render('{{ env "AGENT" }}/{{ env "NOPE" }}', DATA, environ=environ) == "acb-agent/"
    plan = load('steps:\n  - cmd: busybox echo {{ env "AGENT" }} {{ expandenv "$AGENT" }}\n',
                RunInfo(environ=environ))
    assert plan.task.steps[0].cmd == "busybox echo acb-agent acb-agent"
    assert plan_dict('steps:\n  - cmd: x {{ env "AGENT" }}\n', {"environ": environ})["steps"][0]["cmd"] == "x acb-agent"


@pytest.mark.parametrize("text,out", [  # Go's os.Expand
    ("$A-${A}-$B-${B}", "a-a--"), ("$", "$"), ("a$", "a$"), ("$ x", "$ x"), ("${}x", "x"), ("${A", "A"),
    ("$1$$", "one"), ("${1}", "one"), ("$A_B", "ab"), ("$Ab", ""), ("€$A€", "€a€"),
])
def test_expandenv_is_gos_os_expand(text, out):
    environ = {"A": "a", "A_B": "ab", "1": "one"}
    assert render("{{ expandenv . }}", text, environ=environ) == out


@pytest.mark.parametrize("src,text", [  # Go's literal rules: parse errors, never a Python exception
    ("{{ 'ab' }}", "malformed character constant"), ("{{ '' }}", "unexpected"),
    ('{{ "\\xZZ" }}', "unknown escape"), ('{{ "\\ud800" }}', "is not a character"),
    ('{{ "\\U00110000" }}', "is not a character"), ('{{ "\\400" }}', "is not a character"),
    ("{{ 1e999 }}", "bad number syntax"), ("{{ .Values.n-1 }}", "unexpected"),
])
def test_bad_literals_are_parse_errors(src, text):
    with pytest.raises(TemplateError) as info:
        render(src, DATA)
    assert info.value.phase == "parse" and text in info.value.message


@pytest.mark.parametrize("src,out", [
    ("{{ '\\n' }} {{ \"\\101\\x42\\u0043\" }} {{ 'é' }}", "10 ABC 233"),
    ("{{ div -7 2 }} {{ mod -7 2 }} {{ mul 9223372036854775807 2 }} {{ add 9223372036854775807 1 }}",
     "-3 -1 -2 -9223372036854775808"),  # Go's int64: truncated division, wrap-around
    ("{{ 99999999999999999999 }} {{ 18446744073709551615 }}", "1e+20 18446744073709551615"),
    ('{{ printf "%c|%999999999d|%.9999999f" 55296 1 1.0 }}', "\ufffd|%!(BADWIDTH)|%!(BADPREC)"),
    ("{{ now | printf \"%T\" | len | lt 0 }} {{ uuidv4 | len }}", "true 36"),  # functions without arguments
])
def test_go_semantics_of_literals_and_numbers(src, out):
    assert render(src, DATA) == out


@pytest.mark.parametrize("src,text", [  # a task file cannot exhaust the kernel that renders it
    ("{{ range 1000000000 }}{{ end }}", "rendering takes more than"),
    ('{{ repeat 1000000000 "x" }}', "error calling repeat: the result would be 1000000000 characters"),
    ('{{ indent 100000000 "a\\nb" }}', "error calling indent"),
    ('{{ $s := repeat 1000000 "x" }}{{ range 100 }}{{ $s }}{{ end }}', "the rendered task exceeds 8 MiB"),
    ('{{ repeat 1.5 "x" }}', "wrong type for value; expected int; got float64"),
])
def test_runaway_templates_stop_with_an_error(src, text):
    with pytest.raises(TemplateError) as info:
        render(src, DATA)
    assert text in info.value.message and "None" not in info.value.message


def test_a_lone_surrogate_from_a_value_becomes_the_replacement_character():
    assert render("{{ .Values.name }}", {"Values": {"name": "a\ud800b"}}) == "a\ufffdb"
