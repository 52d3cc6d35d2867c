"""`acrmagic task|scheduler|trace`: az's flags, `show -o json` in ACR's shape without secrets, and each
bad input one clear line with nothing half-created."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import time

import pytest

import acrmagic.tasks as tasks
from acrmagic.errors import ContextError, TaskFileError, UsageError
from acrmagic.options import HelpShown
from acrmagic.tasks.commands import magic, run_command, task_command_parser
from acrmagic.tasks.store import TaskStore


def cli(*argv: str, body: str | None = None) -> str:
    out = io.StringIO()
    assert run_command(task_command_parser().parse_args(list(argv)), out, body=body) == 0
    return out.getvalue()


def test_create_show_list_update_enable_delete(make_context):
    ctx = make_context({"Dockerfile": "FROM busybox\n"})
    text = cli("task", "create", "-n", "cli-task", "-c", str(ctx), "-f", "Dockerfile", "-t", "app:{{.Run.ID}}",
               "--schedule", "nightly:0 2 * * *", "--assign-identity", "--base-image-trigger-type", "All")
    assert text.startswith("Task cli-task: Enabled, Docker step, linux/amd64, timeout 3600s")
    shown = json.loads(cli("task", "show", "-n", "cli-task", "-o", "json"))
    assert shown["type"] == "Microsoft.ContainerRegistry/registries/tasks" and "acrmagic" not in shown
    assert shown["identity"]["type"] == "SystemAssigned"
    assert shown["properties"]["trigger"]["timerTriggers"][0]["name"] == "nightly"
    assert "cli-task" in cli("task", "list") and "BASE_IMAGE, TIMER" in cli("task", "list")
    cli("task", "update", "-n", "cli-task", "--timeout", "900", "--base-image-trigger-enabled", "false")
    shown = json.loads(cli("task", "show", "-n", "cli-task", "-o", "json"))
    assert shown["properties"]["timeout"] == 900
    assert shown["properties"]["trigger"]["baseImageTrigger"]["status"] == "Disabled"
    assert "Disabled" in cli("task", "disable", "-n", "cli-task")
    assert "Enabled" in cli("task", "enable", "-n", "cli-task")
    cli("task", "delete", "-n", "cli-task", "-y")
    assert json.loads(cli("task", "list", "-o", "json")) == []


def test_secrets_never_show(tmp_path):
    text = cli("task", "create", "-n", "secret-task", "--cmd", "busybox true", "--set-secret", "pw=hunter2-secret")
    assert "hunter2-secret" not in text + cli("task", "show", "-n", "secret-task", "-o", "json") + cli("task", "list")
    assert b"hunter2-secret" not in (TaskStore().path).read_bytes()
    for wal in TaskStore().home.glob("tasks.sqlite*"):
        assert b"hunter2-secret" not in wal.read_bytes()
    with pytest.raises(UsageError) as e:  # a parse error quotes no secret
        task_command_parser().parse_args(["task", "create", "-n", "x1234", "--git-access-token", "ghp_x", "--bogus"])
    assert "ghp_x" not in str(e.value)


def test_run_and_list_runs_of_a_cell_body_task(make_context):
    magic("task create -n cell-task", "version: v1.1.0\nsteps:\n  - cmd: busybox echo from-a-cell\n")
    run = magic("task run -n cell-task --no-logs")
    assert run.status == "Succeeded" and run.task == "cell-task" and run.run_type == "QuickRun"
    assert "from-a-cell" in run.log()
    runs = json.loads(cli("task", "list-runs", "-n", "cell-task", "-o", "json"))
    assert [r["runId"] for r in runs] == [run.run_id] and runs[0]["task"] == "cell-task"


@pytest.mark.parametrize("argv, error, message", [
    (["task", "create", "-n", "abc", "--cmd", "x"], UsageError, "not a valid task name"),
    (["task", "create", "-n", "bad-cron", "--cmd", "x", "--schedule", "0 0 0 0 0"], UsageError, "not a schedule ACR accepts"),
    (["task", "create", "-n", "never-cron", "--cmd", "x", "--schedule", "0 0 30 2 *"], UsageError, "never fire"),
    (["task", "create", "-n", "quartz-cron", "--cmd", "x", "--schedule", "0 0 L * *"], UsageError, "L, W, # or ?"),
    (["task", "create", "-n", "a" * 3000, "--cmd", "x"], UsageError, r"^-n/--name: '.{40,60}' is not a valid"),
    (["task", "create", "-n", "bad-registry", "--cmd", "x", "-r", "my registry"], UsageError, "is not a registry"),
    (["task", "create", "-n", "long-image", "--cmd", "x", "-c", "/dev/null", "-t", "a" * 300], UsageError,
     "at most 255"),
    (["task", "create", "-n", "empty-token", "--cmd", "x", "--git-access-token", ""], UsageError, "token is empty"),
    (["task", "create", "-n", "two-line-token", "--cmd", "x", "--git-access-token", "ghp_a\nghp_b"], UsageError,
     "line break"),
    (["task", "create", "-n", "bad-tz", "--cmd", "x", "--schedule", "TZ=Atlantis/Capital 0 2 * * *"], UsageError,
     "unknown time zone"),
    (["task", "create", "-n", "no-repo", "-c", "file:///nonexistent/repo.git", "-f", "Dockerfile"], ContextError,
     "cannot be read"),
    (["task", "show", "-n", "nope-task"], UsageError, "no task 'nope-task'"),
    (["task", "run", "-n", "nope-task"], UsageError, "no task 'nope-task'"),
    (["task", "frobnicate"], UsageError, "invalid choice"),
])
def test_bad_input_is_one_line_and_creates_nothing(argv, error, message):
    with pytest.raises(error, match=message) as e:
        cli(*argv)
    assert "\n" not in str(e.value)
    assert TaskStore().names() == []


def test_duplicates_and_task_files_that_do_not_load(make_context):
    ctx = make_context({"Dockerfile": "FROM busybox\n", "broken.yaml": "steps:\n  - cmd: [unclosed\n",
                        "ghost.yaml": "steps:\n  - cmd: busybox true\n    when: [\"ghost\"]\n"})
    cli("task", "create", "-n", "dupe-task", "-c", str(ctx), "-f", "Dockerfile")
    with pytest.raises(UsageError, match="already exists"):
        cli("task", "create", "-n", "dupe-task", "-c", str(ctx), "-f", "Dockerfile")
    for name in ("broken.yaml", "ghost.yaml", "missing.yaml"):
        with pytest.raises(TaskFileError) as e:
            cli("task", "create", "-n", "bad-file", "-c", str(ctx), "-f", name)
        assert name in str(e.value)
    with pytest.raises(UsageError, match="no Dockerfile Dockerfile.prod"):
        cli("task", "create", "-n", "bad-file", "-c", str(ctx), "-f", "Dockerfile.prod")
    assert TaskStore().names() == ["dupe-task"]
    with pytest.raises(HelpShown):
        task_command_parser().parse_args(["task", "create", "-h"])


def test_foreground_scheduler_stops_on_sigterm(home):
    env = {**os.environ, "ACRMAGIC_HOME": str(home)}
    proc = subprocess.Popen([sys.executable, "-c", (
        "import sys; from acrmagic.tasks.commands import task_command_parser, run_command; "
        "sys.exit(run_command(task_command_parser().parse_args(['scheduler', '--poll-interval', '0.2'])))")],
        env=env, stdout=subprocess.PIPE, text=True)
    try:
        assert "polling every 0.2s" in proc.stdout.readline()
        time.sleep(0.5)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(20) == 0
        rest = proc.stdout.read()
        assert "SIGTERM: stopping" in rest and "scheduler stopped" in rest
    finally:
        if proc.poll() is None:
            proc.kill()


@pytest.mark.parametrize("body, error, message", [
    ("version: v1.1.0\nsteps:\n  - cmd: [unclosed\n", TaskFileError, r"^<cell>:4:1: not valid YAML"),
    ("steps: {a: [}\n", TaskFileError, r"^<cell>:1:\d+: not valid YAML"),
    ("version: v1.1.0\n", TaskFileError, "needs `steps:`"),
    ("hello there\nthis is text\n", UsageError, "neither a Dockerfile"),
])
def test_a_cell_that_is_no_task_and_no_dockerfile_is_refused(body, error, message):
    with pytest.raises(error, match=message) as e:
        magic("task create -n cell-task", body)
    assert "\n" not in str(e.value)
    assert TaskStore().names() == []


def test_a_dockerfile_cell_is_still_a_docker_task(make_context):
    ctx = make_context({})
    info = magic(f"task create -n docker-cell -c {ctx}", "# a comment first\nARG BASE=busybox\nFROM $BASE\n")
    assert info.resource["properties"]["step"]["type"] == "Docker"


def test_option_text_in_names_runs_nothing_and_stores_nothing(tmp_path, make_context):
    marker = tmp_path / "pwned"
    option = f"--upload-pack=touch {marker}"
    ctx = make_context({"Dockerfile": "FROM busybox\n"})
    attempts = [
        (["task", "create", "-n", option, "--cmd", "x"], "not a valid task name"),
        (["task", "create", "-n", "opt-image", "-c", str(ctx), "-f", "Dockerfile", "-t", option], "not a valid image"),
        (["task", "create", "-n", "opt-url", "-c", f"{option}#main", "-f", "Dockerfile"], "no such folder"),
        (["task", "create", "-n", "opt-url2", "-c", f"ssh://host/{option}.git#main", "-f", "Dockerfile"],
         "is not a repository URL"),
        (["task", "create", "-n", "opt-branch", "-c", f"file://{tmp_path}/r.git#{option}", "-f", "Dockerfile"],
         "not a valid branch name"),
        (["task", "create", "-n", "opt-token", "--cmd", "x", "--git-access-token", option + "\n"], "line break"),
    ]
    for argv, message in attempts:
        with pytest.raises(UsageError, match=message) as e:
            cli(*argv)
        assert "\n" not in str(e.value)
    assert TaskStore().names() == []
    assert not marker.exists()
