"""The command-line twin: same flags, exit codes, ACR-shaped JSON."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest


def cli(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "acrmagic", *args], capture_output=True, text=True, input=stdin,
                          env={**os.environ})


@pytest.mark.engine
def test_build_runs_show_logs_json(make_context):
    ctx = make_context({"Dockerfile": "FROM busybox\nRUN echo from-cli\n"})
    done = cli("build", "-t", "cli-demo:{{.Run.ID}}", str(ctx))
    assert done.returncode == 0, done.stderr
    assert "from-cli" in done.stdout and "Succeeded" in done.stdout.splitlines()[-1]
    failed = cli("build", "-f", "-", str(ctx), stdin="FROM busybox\nRUN exit 7\n")
    assert failed.returncode == 1 and "exit code 7" in failed.stderr
    runs = json.loads(cli("runs", "--output", "json").stdout)
    assert [r["status"] for r in runs] == ["Failed", "Succeeded"]  # newest first
    ok = runs[1]
    for key in ("runId", "status", "runType", "createTime", "startTime", "finishTime", "outputImages", "task",
                "runErrorMessage", "backend", "trigger", "source", "baseImages"):
        assert key in ok
    assert set(ok["outputImages"][0]) == {"registry", "repository", "tag", "digest"}
    assert ok["outputImages"][0]["tag"] == ok["runId"]
    shown = json.loads(cli("show", ok["runId"], "-o", "json").stdout)
    assert shown["runId"] == ok["runId"] and shown["baseImages"][0]["image"] == "docker.io/library/busybox:latest"
    assert "from-cli" in cli("logs", ok["runId"]).stdout
    table = cli("runs").stdout.splitlines()
    assert table[0].split()[:5] == ["RUN", "ID", "TASK", "TYPE", "TRIGGER"] and len(table) == 3
    assert "exit code 7" in runs[0]["runErrorMessage"]


def test_unknown_flag_exits_2_with_one_line():
    done = cli("build", "--no-such-flag", ".")
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == ["acrmagic build: unrecognized arguments: --no-such-flag"]


def test_bad_build_arg_and_timeout_name_the_flag():
    assert "--build-arg" in cli("build", "--build-arg", "NOEQUALS", ".").stderr
    assert "--timeout" in cli("build", "--timeout", "soon", ".").stderr


def test_cancel_a_finished_or_unknown_run(make_context):
    done = cli("cancel", "xx1")
    assert done.returncode == 1 and "no run xx1" in done.stderr
    built = cli("build", "--no-push", str(make_context({"Dockerfile": "FROM busybox\n"})))
    assert built.returncode == 0, built.stderr
    run_id = built.stdout.split()[1].rstrip(":")
    done = cli("cancel", run_id)
    assert done.returncode == 2 and done.stderr.strip() == f"acrmagic: cancel: run {run_id} is not running (it is Succeeded)"


def test_plan_dict_after_a_bare_import():
    """As the README shows it: `import acrmagic` and nothing else, then acrmagic.taskfile.plan_dict."""
    code = ("import acrmagic; print(acrmagic.taskfile.plan_dict("
            "'version: v1.1.0\\nsteps:\\n  - cmd: busybox echo $ID', {'id': 'cb1', 'registry': 'r.azurecr.io'})"
            "['steps'][0]['cmd'])")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "busybox echo cb1"


def test_run_dry_run_json(tmp_path):
    task = tmp_path / "task.yaml"
    task.write_text("version: v1.1.0\nsteps:\n  - id: a\n    cmd: busybox echo {{.Values.x}}\n"
                    "  - id: b\n    cmd: busybox true\n    when: [\"-\"]\n")
    done = cli("run", "-f", str(task), "--set", "x=1", "--dry-run", "--output", "json", str(tmp_path))
    assert done.returncode == 0, done.stderr
    plan = json.loads(done.stdout)
    assert plan["levels"] == [["a", "b"]] and plan["steps"][0]["cmd"] == "busybox echo 1"


def test_run_bad_task_file_names_file_and_line(tmp_path):
    task = tmp_path / "task.yaml"
    task.write_text("version: v1.1.0\n# a comment\nsteps:\n  - cmd: x\n    retries: many\n")
    done = cli("run", "-f", str(task), str(tmp_path))
    assert done.returncode == 2
    assert done.stderr.strip() == f"acrmagic: {task}:5:14: yaml: unmarshal errors: cannot unmarshal !!str `many` into int"


@pytest.mark.parametrize("files, argv, expected", [
    ({"Dockerfile": "FROM busybox\n".encode("utf-16")}, ["build", "--no-push"],
     "acrmagic: Dockerfile:1: starts with a UTF-16 LE byte-order mark; save the file as UTF-8"),
    ({"Dockerfile": b"FROM busybox\nLABEL who=Andr\xe9\n"}, ["build", "--no-push"],
     "acrmagic: Dockerfile:2:15: not UTF-8 (byte 0xe9); save the file as UTF-8"),
    ({"Dockerfile": b"FROM busybox\n", ".dockerignore": b"*.tmp\ncaf\xe9\n"}, ["build", "--no-push"],
     "acrmagic: .dockerignore:2:4: not UTF-8 (byte 0xe9); save the file as UTF-8"),
    ({"task.yaml": b"version: v1.1.0\nsteps:\n  - cmd: busybox echo caf\xe9\n"}, ["run", "-f", "{ctx}/task.yaml"],
     "acrmagic: {ctx}/task.yaml:3:26: not UTF-8 (byte 0xe9); save the file as UTF-8"),
    ({"task.yaml": b"version: v1.1.0\nsteps:\n  - cmd: busybox true\n", "values.yaml": b"who: Andr\xe9\n"},
     ["run", "-f", "{ctx}/task.yaml", "--values", "values.yaml"],
     "acrmagic: {ctx}/values.yaml:1:10: not UTF-8 (byte 0xe9); save the file as UTF-8"),
])
def test_a_file_not_in_utf8_is_one_line_naming_file_line_and_column_and_nothing_is_recorded(
        tmp_path, home, files, argv, expected):
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    for name, data in files.items():
        (ctx / name).write_bytes(data)
    done = cli(*[a.format(ctx=ctx) for a in argv], str(ctx))
    assert done.returncode == 2
    assert done.stderr.strip() == expected.format(ctx=ctx)
    assert json.loads(cli("runs", "-o", "json").stdout) == []


def _main(*argv: str):
    """acrmagic in this process: (exit code, stdout, stderr)."""
    import contextlib
    import io

    from acrmagic import cli as command

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = command.main(list(argv))
    return code, out.getvalue(), err.getvalue()


@pytest.mark.parametrize("verb", ["build", "run", "runs", "show", "logs", "cancel", "use", "task", "scheduler",
                                  "trace", "stack", "task create", "task list-runs"])
@pytest.mark.parametrize("flag", ["-h", "--help"])
def test_every_sub_command_has_its_own_help(verb, flag):
    code, out, err = _main(*verb.split(), flag)
    assert (code, err) == (0, "")
    assert out.startswith(f"usage: acrmagic {verb}")


def test_a_parse_error_names_acrmagic_once():
    code, _, err = _main("runs", "--bogus")
    assert code == 2 and err == "acrmagic: unrecognized arguments: --bogus\n"
    code, _, err = _main("runs", "--top", "99999999999999999999")
    assert code == 2 and err.strip() == ("acrmagic runs: --top: expected a number of runs from 1 to 1000000, "
                                         "got '99999999999999999999'")
    code, _, err = _main("runs", "--top", "0")
    assert code == 2 and "--top" in err


def test_runs_top_out_of_range_from_python():
    import acrmagic
    from acrmagic.errors import UsageError

    with pytest.raises(UsageError, match="--top must be a whole number from 1 to"):
        acrmagic.runs(top=10 ** 30)


def test_a_scheduler_lock_that_is_a_folder_is_one_line(home):
    (home / "scheduler.lock").mkdir(parents=True)
    code, _, err = _main("scheduler", "--poll-interval", "0.1")
    assert code == 2 and err.strip().startswith("acrmagic: scheduler: cannot open its lock file")
    assert len(err.strip().splitlines()) == 1


@pytest.mark.engine
def test_dev_null_means_no_source(tmp_path):
    task = tmp_path / "task.yaml"
    task.write_text("version: v1.1.0\nsteps:\n  - cmd: busybox sh -c 'ls -A /workspace | wc -l'\n")
    code, out, err = _main("run", "-f", str(task), "/dev/null", "-o", "json")
    assert code == 0, err
    run = json.loads(out[out.rindex("\n{\n") + 1:])  # after the run's plain log lines
    assert run["status"] == "Succeeded" and run["source"]["type"] == "none"
    import acrmagic

    assert "] 0" in acrmagic.logs(run["runId"])  # an empty /workspace
