"""Fuzzing the front doors: arbitrary argument lists (random text mixed with the real flag names)
through the parsers and `acrmagic.cli.main`. Only acrmagic's own errors may come out, each one line;
the command line only ever returns its exit codes. Runs are kept from starting: DOCKER_HOST points at
a socket nobody listens on (an attempt fails at once with EngineUnavailable, an acrmagic error)."""

from __future__ import annotations

import io

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from acrmagic import cli
from acrmagic.magics import acr_parser
from acrmagic.context import is_git_url
from acrmagic.errors import AcrMagicError
from acrmagic.options import BuildOptions, TaskOptions, build_parser, run_parser

FUZZ = settings(max_examples=150, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


def _flags(parser) -> list[str]:
    out = []
    for action in parser._actions:
        out.extend(action.option_strings)
        for sub in getattr(action, "choices", None) or {}:
            if hasattr(action, "_name_parser_map"):
                out.append(sub)
                out.extend(_flags(action._name_parser_map[sub]))
    return out


FLAGS = sorted({*_flags(build_parser()), *_flags(run_parser()), *_flags(acr_parser("%acr"))})
VALUES = ["x", "K=V", "=V", "K=", "=", "-", "--", "", " ", "0", "-1", "1", "3600", "linux/amd64", "linux/amd46", "a\nb",
          ".", "..", "/", "/no/such", "Dockerfile", "task.yaml", "aa1", "{{.Run.ID}}", "$Registry/x:$ID", "a:b:c", "\x00"]
TEXT = st.text(max_size=12).filter(lambda t: not is_git_url(t.strip()) and "\x00" not in t)  # no network fetches
TOKEN = st.one_of(st.sampled_from(FLAGS), st.sampled_from(VALUES).filter(lambda v: "\x00" not in v), TEXT,
                  st.builds(lambda f, v: f"{f}={v}", st.sampled_from(FLAGS), st.sampled_from(VALUES[:16])))
ARGV = st.lists(TOKEN, max_size=8)
NO_HELP = ARGV.filter(lambda a: not any(t in ("-h", "--help") or t.startswith("--h") for t in a))


def assert_own_one_line_error(error: BaseException) -> None:
    assert isinstance(error, AcrMagicError), f"{type(error).__name__}: {error}"
    assert len(str(error).splitlines()) <= 1, str(error)


@pytest.fixture
def sandbox(tmp_path, monkeypatch):
    """A folder with a Dockerfile and a task file as the current folder; no engine; stdin a Dockerfile."""
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/closed.sock")
    monkeypatch.delenv("ACRMAGIC_ENGINE_CLIENT", raising=False)
    (tmp_path / "Dockerfile").write_text("FROM busybox\n")
    (tmp_path / "task.yaml").write_text("version: v1.1.0\nsteps:\n  - cmd: busybox echo hi\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("sys.stdin", io.StringIO("FROM busybox\n"))
    return tmp_path


@FUZZ
@given(argv=ARGV)
def test_build_and_task_options_raise_only_their_own_errors(argv):
    for parse in (BuildOptions.from_argv, TaskOptions.from_argv, acr_parser("%acr").parse_args):
        try:
            parse(list(argv))
        except Exception as e:  # noqa: BLE001 - the point: which exceptions come out
            assert_own_one_line_error(e)


def _has_line_break(argv: list[str]) -> bool:
    return any(len(f"x{t}x".splitlines()) > 1 for t in argv)


@FUZZ
@given(verb=st.sampled_from(["runs", "show", "logs", "cancel", "build", "run"]), argv=NO_HELP)
def test_command_line_returns_exit_codes_only(verb, argv, sandbox, capsys):
    code = cli.main([verb, *argv])
    out, err = capsys.readouterr()
    assert code in (0, 1, 2)
    if code:
        assert err.startswith("acrmagic"), err
        if not _has_line_break(argv):  # values with line breaks: the explicit cases below
            assert len(err.strip().splitlines()) == 1, err


@pytest.mark.parametrize("argv", [["build", "--context", "a\nb"], ["build", "a\u2028b"], ["build", "-f", "x\ny", "."],
                                  ["build", "--platform", "linux\n/amd64"], ["run", "--timeout", "1\n0"],
                                  ["runs", "--top", "a\nb"], ["runs", "-o", "a\nb"]])
def test_a_value_with_a_line_break_is_shown_on_one_line(argv, sandbox, capsys):
    assert cli.main(argv) in (1, 2)
    assert len(capsys.readouterr().err.strip().splitlines()) == 1


@pytest.mark.parametrize("verb", ["show", "logs", "cancel"])
def test_a_run_id_with_a_line_break_is_shown_on_one_line(verb, sandbox, capsys):
    assert cli.main([verb, "a\nb"]) == 1
    assert len(capsys.readouterr().err.strip().splitlines()) == 1
