"""The text stages: comment lines, version, alias blocks and substitution, error lines."""

from __future__ import annotations

import pytest

from acrmagic.errors import TaskFileError
from acrmagic.taskfile import RunInfo, load, plan_dict
from acrmagic.taskfile.load import Aliases, find_version, substitute_aliases

RUN = RunInfo(id="cb1", registry="myreg.azurecr.io")


@pytest.mark.parametrize("text,out", [
    ("$a$b $a$$b $nope$a $ $a", "AB A$b $nope$a $ A"),
    ("x$ay $aa", "x$ay $aa"),
    ("${a} $a-", "${a} A-"),
])
def test_substitution(text, out):
    assert substitute_aliases(text, Aliases({"a": "A", "b": "B"})) == out


def test_version_detection():
    assert find_version("steps: []\n'version': \"v1.1.0\"\n") == "v1.1.0"
    assert find_version("  version: v1.1.0\n") == ""
    assert find_version("versions: x\nversion: v1.0.0\n") == "v1.0.0"


def test_alias_src_file_and_precedence(tmp_path):
    (tmp_path / "a.yaml").write_text("img: first\ntool: from-a\n")
    (tmp_path / "b.yaml").write_text("img: second\n")
    text = ("version: v1.1.0\nalias:\n  src: [a.yaml, b.yaml]\n  values:\n    tool: inline\n"
            "steps:\n  - cmd: $img $tool\n")
    plan = load(text, RUN, base_dir=tmp_path)
    assert plan.task.steps[0].cmd == "second inline"


@pytest.mark.parametrize("alias,kind", [
    ("  directive: a\n", "alphanumeric_directive"),
    ("  values:\n    bad-key: x\n", "invalid_alias_key"),
])
def test_alias_validation(alias, kind):
    got = plan_dict(f"version: v1.1.0\nalias:\n{alias}steps:\n  - cmd: x\n", {"id": "cb1"})
    assert got["ok"] is False and got["error"]["kind"] == kind


def test_errors_name_the_original_line_after_comment_lines_and_alias_block():
    text = ("version: v1.1.0\n# one\n# two\nalias:\n  values:\n    x: y\nsteps:\n  - cmd: a\n"
            "    retries: -1\n")
    with pytest.raises(TaskFileError) as info:
        load(text, RUN, file="task.yaml")
    err = info.value  # the line and column of the value at fault
    assert (err.line, err.column, err.step, err.kind) == (9, 14, "acb_step_0", "negative_retries")
    assert str(err) == "task.yaml:9:14: step acb_step_0: step must specify retries >= 0"


def test_empty_file_and_only_comments_are_not_errors():
    assert plan_dict("", {"id": "cb1"})["steps"] == []
    assert plan_dict("# nothing\n", {"id": "cb1"})["ok"] is True
    assert plan_dict("{{ if false }}steps: []{{ end }}", {"id": "cb1"})["error"]["kind"] == "template_empty"
