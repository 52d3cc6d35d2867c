"""The flags: values checked before a run begins, messages naming the flag, and no secret in any error."""

from __future__ import annotations

import pytest

from acrmagic import cli
from acrmagic.errors import AcrMagicError, UsageError
from acrmagic.options import BuildOptions, TaskOptions, build_parser, run_parser

SECRET = "s3cr3t-Value-4711"  # what must never be shown: stdout, stderr, exceptions, ACRMAGIC_HOME
TASK = "version: v1.1.0\nsteps:\n  - cmd: busybox echo hi\n"


def usage_error(argv: list[str], parse=BuildOptions.from_argv) -> str:
    with pytest.raises(UsageError) as info:
        parse(argv)
    assert len(str(info.value).splitlines()) == 1
    return str(info.value)


# -- closed sets and numbers ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("given,parsed", [("linux", "linux"), ("linux/amd64", "linux/amd64"), ("Linux/AMD64", "linux/amd64"),
                                          ("linux/arm/v7", "linux/arm/v7"), ("linux/arm64/v8", "linux/arm64/v8"),
                                          ("windows/amd64", "windows/amd64"), ("linux/x86", "linux/x86"),
                                          ("linux/386", "linux/386"), ("linux/riscv64", "linux/riscv64"),
                                          ("linux/s390x", "linux/s390x"), ("linux/ppc64le", "linux/ppc64le")])
def test_platforms_docker_and_az_know_are_taken(given, parsed):
    assert str(BuildOptions.from_argv(["--platform", given]).platform) == parsed


@pytest.mark.parametrize("given,says", [
    ("linux/amd46", "unknown architecture 'amd46' in 'linux/amd46' (expected one of amd64, arm64"),
    ("linxu/amd64", "unknown operating system 'linxu' in 'linxu/amd64' (expected one of linux, windows"),
    ("linux/arm/v9", "unknown variant 'v9' in 'linux/arm/v9' (expected one of v5, v6, v7, v8)"),
    ("linux/amd64/v7", "unknown variant 'v7' in 'linux/amd64/v7' (amd64 has no variants)"),
    ("linux//v7", "expected os[/architecture[/variant]] such as linux/amd64, got 'linux//v7'"),
    ("linux/arm/v7/x", "expected os[/architecture[/variant]]"),
    ("", "expected os[/architecture[/variant]]"),
])
def test_unknown_platform_names_the_flag_and_the_value(given, says):
    assert usage_error(["--platform", given]).startswith(f"acrbuild: --platform: {says}")


@pytest.mark.parametrize("given", ["0", "-1", "x", "1.5", "1e3", "٣", "99999999999999999999"])
def test_timeout_is_a_positive_whole_number_named_in_the_message(given):
    for parse in (BuildOptions.from_argv, TaskOptions.from_argv):
        message = usage_error(["--timeout", given], parse)
        assert ": --timeout: " in message and repr(given) in message


def test_timeout_taken_as_seconds():
    assert BuildOptions.from_argv(["--timeout", "28800"]).timeout == 28800
    assert TaskOptions.from_argv(["--timeout", " 300 "]).timeout == 300


@pytest.mark.parametrize("argv,flag", [(["runs", "-o", "xml"], "-o/--output"), (["show", "aa1", "--output", "yaml"],
                                                                                   "-o/--output"),
                                       (["stack", "sideways"], "action")])
def test_closed_sets_on_the_command_line_name_the_flag(argv, flag, capsys):
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert f"{flag}: invalid choice: '{argv[-1]}'" in err and len(err.strip().splitlines()) == 1


def test_a_value_with_a_newline_cannot_split_a_message():
    assert "unrecognized arguments: a\\nb" in usage_error(["ctx", "a\nb"])


def test_plain_build_args_still_say_what_was_wrong():
    assert usage_error(["--build-arg", "NOEQUALS"]).endswith("the '=' is missing (got 'NOEQUALS')")


# -- no secret in any error -----------------------------------------------------------------------------------------

MALFORMED = [  # what a user may type instead of KEY=VALUE: each holds the secret somewhere
    lambda flag: [flag, SECRET], lambda flag: [flag, f"={SECRET}"], lambda flag: [f"{flag}={SECRET}"],
    lambda flag: [f"{flag}=={SECRET}"], lambda flag: [flag[:-3] + f"={SECRET}"],  # an abbreviation
    lambda flag: [flag + "s", f"K={SECRET}"], lambda flag: [flag + f"s=K={SECRET}"],  # a typo
    lambda flag: [f"--se=K={SECRET}"],  # ambiguous (acrtask: --set / --set-secret)
    lambda flag: ["--timeout", "0", flag, f"K={SECRET}"], lambda flag: [flag, f"K={SECRET}", "a", "b", SECRET],
]
WELL_FORMED_BUT_FAILING = [  # KEY=VALUE given right; the run stops before it begins, for another reason
    ["--platform", "linux/amd46"], ["--context", "/no/such/folder"], ["-t", "Not A Valid Name!"], [],
]


@pytest.fixture
def no_engine(tmp_path, monkeypatch):
    """DOCKER_HOST at a socket nobody listens on: any attempt to run fails at once (EngineUnavailable)."""
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/closed.sock")
    monkeypatch.delenv("ACRMAGIC_ENGINE_CLIENT", raising=False)
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text("FROM busybox\nARG TOKEN\n")
    (ctx / "task.yaml").write_text(TASK)
    monkeypatch.chdir(ctx)
    return ctx


def assert_secret_nowhere(home, *texts: str) -> None:
    for text in texts:
        assert SECRET not in text
    for path in home.rglob("*") if home.exists() else []:
        if path.is_file():
            assert SECRET.encode() not in path.read_bytes(), path


def command_lines():
    for make in MALFORMED:
        yield ["build", *make("--secret-build-arg"), "."]
        yield ["run", "-f", "task.yaml", *make("--set-secret"), "."]
    for rest in WELL_FORMED_BUT_FAILING:
        yield ["build", "--secret-build-arg", f"TOKEN={SECRET}", *rest]
        yield ["run", "-f", "task.yaml", "--set-secret", f"token={SECRET}", *rest]
    yield from TASK_COMMAND_LINES


# the secret-carrying flags of task definitions: a git token, and --set-secret (typed wrong, or right but
# refused for another reason: an unreachable repository, a bad name, a bad schedule)
TASK_COMMAND_LINES = [
    ["task", "create", "-n", "sweep-task", "--git-access-token", SECRET, "-c", "https://127.0.0.1:9/none.git"],
    ["task", "create", "-n", "sweep-task", f"--git-access-tok={SECRET}", "-c", "."],
    ["task", "create", "-n", "sweep-task", f"--git-access-tokens={SECRET}", "-c", "."],
    ["task", "create", "-n", "x", "--git-access-token", SECRET, "-c", "."],
    ["task", "create", "-n", "sweep-task", "--set-secret", SECRET, "-c", ".", "-f", "task.yaml"],
    ["task", "create", "-n", "sweep-task", "--set-secret", f"k={SECRET}", "--schedule", "61 * * * *", "-c", "."],
]


@pytest.mark.parametrize("argv", list(command_lines()), ids=lambda a: " ".join(a).replace(SECRET, "SECRET"))
def test_command_line_never_shows_a_secret(argv, no_engine, home, capsys):
    code = cli.main(argv)
    out, err = capsys.readouterr()
    assert code in (1, 2) and err.startswith("acrmagic")
    assert_secret_nowhere(home, out, err)




def cells():
    for make in MALFORMED:
        yield "%%acrbuild " + " ".join(make("--secret-build-arg")) + "\nFROM busybox\n"
        yield "%%acrtask " + " ".join(make("--set-secret")) + "\n" + TASK
    for rest in WELL_FORMED_BUT_FAILING:
        yield f"%%acrbuild --secret-build-arg TOKEN={SECRET} {' '.join(rest)}\nFROM busybox\nARG TOKEN\n"
        yield f"%%acrtask --set-secret token={SECRET} {' '.join(rest)}\n" + TASK
    yield f"%acrbuild -f Dockerfile --secret-build-arg {SECRET}"
    for argv in TASK_COMMAND_LINES:
        yield "%acr " + " ".join(argv)


@pytest.mark.parametrize("cell", list(cells()), ids=lambda c: c.splitlines()[0].replace(SECRET, "SECRET"))
def test_magics_never_show_a_secret(cell, ip, no_engine, home, capsys):
    result = ip.run_cell(cell.replace("-t Not A Valid Name!", "-t 'Not A Valid Name!'"))
    out, err = capsys.readouterr()
    error = result.error_in_exec
    assert isinstance(error, AcrMagicError), error
    assert_secret_nowhere(home, out, err, str(error), repr(error), *error._render_traceback_())


def test_build_and_run_share_their_common_flags_and_keep_their_own():
    def flags(parser):
        return {o: a.help for a in parser._actions for o in a.option_strings}

    build, run = flags(build_parser()), flags(run_parser())
    shared = {"--context", "-r", "--timeout", "--no-logs", "--agent-pool", "--no-wait", "-h"}
    assert shared <= set(build) & set(run)
    assert build["--no-wait"] == run["--no-wait"] and build["--agent-pool"] == run["--agent-pool"]
    assert build["--timeout"] != run["--timeout"]  # the same flag, its help said for each verb
    assert {"--build-arg", "--platform", "-t"} <= set(build) - set(run)
    assert {"--set", "--set-secret", "--dry-run"} <= set(run) - set(build)
