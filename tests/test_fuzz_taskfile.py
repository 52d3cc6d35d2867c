"""Fuzzing the task-file loader: whatever the input, only acrmagic's own errors come out, each one line.

Task files come from notebooks, repositories and other people. Bytes go through textfiles.decode and
taskfile.load; YAML documents, step maps with plausible keys, template text, alias blocks and values
files go through load. Bounded so the file runs in seconds (no example database is written);
ACRMAGIC_FUZZ_EXAMPLES=5000 digs deeper.
"""

from __future__ import annotations

import json
import os

import yaml
from hypothesis import HealthCheck, given, settings, strategies as st

from acrmagic import keyvalues, textfiles
from acrmagic.errors import AcrMagicError, UsageError
from acrmagic.taskfile import RunInfo, load, model

RUN = RunInfo(id="cb1", registry="myreg.azurecr.io", environ={"HOME": "/home/agent"})
MAX_MESSAGE = 600
FUZZ = settings(max_examples=int(os.environ.get("ACRMAGIC_FUZZ_EXAMPLES", 200)), deadline=None, database=None,
               suppress_health_check=list(HealthCheck))


def outcome(text: str, **kwargs) -> str:
    """Load `text`; a plan must be usable as data and as text, an error must be acrmagic's and one line."""
    try:
        plan = load(text, RUN, file="fuzz.yaml", **kwargs)
    except AcrMagicError as e:
        message = str(e)
        assert "\n" not in message and "\r" not in message, message
        assert 0 < len(message) <= MAX_MESSAGE, message
        assert len(e._render_traceback_()) == 1
        return "error"
    json.dumps(plan.to_dict())
    repr(plan)
    for step in plan.task.steps:
        if step.type == "build":
            refusal = step.build_spec().refusal()
            assert refusal is None or "\n" not in refusal
    return "plan"


# -- bytes --------------------------------------------------------------------------------------------------

@FUZZ
@given(st.binary(max_size=1500))
def test_arbitrary_bytes(data):
    try:
        text = textfiles.decode(data, "fuzz.yaml")
    except AcrMagicError as e:
        assert "\n" not in str(e) and len(str(e)) <= MAX_MESSAGE
        return
    outcome(text)


@FUZZ
@given(st.lists(st.sampled_from([b"steps:", b"\n", b"  - ", b"cmd: ", b"x", b"\xe9", b"\xff\xfe", b"\xef\xbb\xbf",
                                 b"{{", b"}}", b"\x00", b"\t", b"version: v1.1.0", b"alias:", b"$"]), max_size=30))
def test_bytes_near_task_files(parts):
    test_arbitrary_bytes.hypothesis.inner_test(b"".join(parts))


# -- YAML documents ---------------------------------------------------------------------------------------------

WORDS = ["", "x", "-", "~", "null", "y", "n", "yes", "off", "1.5", "1e3", "0x1F", "08", "1:30", ".inf", ".nan",
         "9223372036854775808", "-1", "<<", "acb_root", "acb_step_0", "a b", "$ID", "$$", "{{ .Run.ID }}", "{{",
         "}}", "cmd", "when", "enabled", "8080:80", "[::1]:80:80", "80/udp", "host", "container:x", "é", "\n", "\u2028",
         "--tag=x", "-t", "--build-arg X", "'", '"', "\\", "#", "a" * 300]
SCALARS = (st.none() | st.booleans() | st.integers(-2 ** 70, 2 ** 70) | st.floats(allow_nan=True)
           | st.sampled_from(WORDS) | st.text(max_size=20))
DOCUMENTS = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=4)
                         | st.dictionaries(st.sampled_from(WORDS) | st.text(max_size=8), inner, max_size=4),
                         max_leaves=25)


def dump(doc) -> str:
    return yaml.safe_dump(doc, allow_unicode=True, sort_keys=False)


@FUZZ
@given(DOCUMENTS)
def test_arbitrary_yaml_documents(doc):
    outcome(dump(doc))
    outcome(dump({"version": "v1.1.0", "steps": doc}))


STEP_KEYS = sorted(model.STEP_SCHEMA)
TASK_KEYS = sorted(k for k in model.SCHEMAS["task"] if k != "steps")
STEPS = st.lists(st.dictionaries(st.sampled_from(STEP_KEYS), DOCUMENTS, max_size=6), max_size=4)


@FUZZ
@given(STEPS, st.dictionaries(st.sampled_from(TASK_KEYS), DOCUMENTS, max_size=3),
       st.sampled_from(["v1.1.0", "v1.0.0", None]))
def test_random_steps_with_plausible_keys(steps, top, version):
    doc = {**top, "steps": steps}
    if version:
        doc["version"] = version
    outcome(dump(doc))


TYPED_STEP = st.fixed_dictionaries({"cmd": st.sampled_from(["busybox true", "bash echo $ID"])}, optional={
    "id": st.sampled_from(["a", "b", "acb_step_0", "x.y"]), "when": st.lists(st.sampled_from(["-", "a", "b"]), max_size=3),
    "timeout": SCALARS, "retries": SCALARS, "repeat": SCALARS, "ports": st.lists(st.sampled_from(WORDS), max_size=2),
    "expose": st.lists(st.sampled_from(WORDS), max_size=2), "network": st.sampled_from(WORDS),
    "env": st.lists(st.sampled_from(["A=1", "B", "A=2", ""]), max_size=3), "detach": SCALARS,
    "volumeMounts": st.lists(st.fixed_dictionaries({"name": st.sampled_from(["v", "w", ""]),
                                                     "mountPath": st.sampled_from(["/a", "/b", ""])}), max_size=2),
})
BUILD_STEP = st.fixed_dictionaries({"build": st.lists(st.sampled_from(
    ["-t", "--tag=a", "a:1", ".", "-f", "Dockerfile", "--build-arg", "X", "X=1", "--no-cache=false", "--pull",
     "--ssh", "--", "-", "'q", "--cache-from", "--label", "--platform=linux/arm64", "-qt"]), max_size=8).map(" ".join)},
    optional={"cache": st.sampled_from(["enabled", "Disabled", "x"]), "tags": st.lists(st.sampled_from(WORDS), max_size=2),
              "env": st.lists(st.sampled_from(["X=from-env", "Y=1"]), max_size=2)})


@FUZZ
@given(st.lists(TYPED_STEP | BUILD_STEP, max_size=4),
       st.lists(st.fixed_dictionaries({"name": st.sampled_from(["n", "host", "bad name", ""])},
                                      optional={"driver": st.sampled_from(["bridge", "weave", ""]),
                                                "skipCreation": st.booleans(), "isDefault": st.booleans()}),
                max_size=2))
def test_steps_close_to_valid(steps, networks):
    doc = {"version": "v1.1.0", "volumes": [{"name": "v", "secret": {"f": "eA=="}}], "steps": steps}
    if networks:
        doc["networks"] = networks
    outcome(dump(doc))


# -- template text, alias blocks, values files ------------------------------------------------------------------

OPERANDS = [".Values.a", ".Values.a.b", ".Values.n", ".Values.f", ".Values", ".Run.ID", ".", "$", "$x", "$.Values",
            '"s"', '"\\x4"', '"\\xZZ"', '"\\u12"', '"\\U0010FFFF"', '"\\U00110000"', '"\\ud800"', '"\\400"',
            '"\\q"', '"%c"', '"%d"', '"%999999999d"', '"%.9999999f"', '"(a+)+"', "'a'", "'ab'", "'\\n'", "''", "`raw`",
            "1", "-1", "0x", "0b2", "09", "1e999", "1e3", "99999999999999999999999", "9223372036854775807", "55296",
            "1114112", "-5", "1.5", "true", "nil", "(1)", "(.Values.a)", "(printf \"%d\" 1)"]
FUNCTIONS = ["printf", "repeat", "indent", "nindent", "upper", "index", "slice", "len", "default", "env", "expandenv",
             "toJson", "now", "date", "b64dec", "b64enc", "regexMatch", "add", "mul", "div", "mod", "sub", "max", "int",
             "atoi", "trunc", "substr", "list", "dict", "set", "get", "keys", "eq", "lt", "and", "or", "not", "quote",
             "join", "splitList", "first", "last", "has", "ternary", "coalesce", "sha256sum", "urlquery", "print"]
COMMAND = st.lists(st.sampled_from(OPERANDS), max_size=3).flatmap(
    lambda args: st.sampled_from(FUNCTIONS + [""]).map(lambda fn: " ".join(([fn] if fn else []) + args) or "."))
PIPELINE = st.lists(COMMAND, min_size=1, max_size=3).map(" | ".join)
ACTION = (PIPELINE.map(lambda p: "{{ " + p + " }}") | PIPELINE.map(lambda p: "{{- $x := " + p + " -}}")
          | st.sampled_from(["{{ if .Values.a }}", "{{ else }}", "{{ end }}", "{{ range $i, $v := .Values.a }}",
                             "{{ range 1000000000 }}", "{{ with .Values }}", "{{ break }}", "{{/* c */}}", "{{", "}}"]))
TEMPLATES = st.lists(ACTION | st.sampled_from(["x", " ", "\n", "é", "$ID", "'", '"']), max_size=12).map("".join)
TEMPLATE_VALUES = {"a": {"b": [1, "x"]}, "n": 3, "f": 1.5, "big": 2 ** 62}
@FUZZ
@given(TEMPLATES)
def test_template_text(text):
    outcome(f"version: v1.1.0\nsteps:\n  - cmd: busybox echo {text}\n", values=TEMPLATE_VALUES)
    outcome(text, values=TEMPLATE_VALUES)


@FUZZ
@given(DOCUMENTS, TEMPLATES)
def test_alias_blocks(alias, text):
    outcome(dump({"version": "v1.1.0", "alias": alias}) + f"steps:\n  - cmd: x $a {text}\n")


# YAML as people (and attackers) write it: tags, anchors, aliases, merges, flow and block forms
RAW_YAML = st.lists(st.sampled_from([
    "a: ", "steps:", "\n", "  ", "- ", "cmd: x", "build: .", "env: ", "timeout: ", "!!binary ", "aGk=", "!!set ",
    "!!str ", "!!int ", "!!float ", "!!bool ", "!!null ", "!!omap ", "!custom ", "!!python/name:os.system", "&x ",
    "*x", "&y ", "*y", "<<: ", "{", "}", "[", "]", ", ", "? ", ": ", "~", "y", "1e3", "9" * 30, "'q'", '"\\u00e9"',
    "|\n  text", "--- ", "...", "#", "%YAML 1.1\n", "\t"]), max_size=30).map("".join)


@FUZZ
@given(DOCUMENTS, RAW_YAML, st.lists(st.sampled_from(["a=1", "=x", "a", "a=", "b=c=d"]), max_size=3))
def test_values_files_and_set(values, raw, set_raw):
    try:
        set_values = keyvalues.parse(set_raw, "--set")  # parsed at the edge, as every caller of load does
    except UsageError as e:
        assert str(e).startswith("--set: expected KEY=VALUE") and "\n" not in str(e)
        set_values = {}
    for values_text in (dump(values), dump(values).replace("'", ""), raw):
        outcome("steps:\n  - cmd: x {{ .Values.a }} {{ .ValuesJSON }}\n", values_file=values_text, set_values=set_values)


@FUZZ
@given(RAW_YAML)
def test_raw_yaml_task_files(raw):
    outcome(raw)
    outcome("version: v1.1.0\nsteps:\n  - " + raw.replace("\n", "\n    "))
