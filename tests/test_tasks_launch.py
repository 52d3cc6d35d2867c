"""A task's run: its step as a run request, its source (a folder, or one commit of a git repository
checked out, subdir and all), secrets read where they live, recorded with the task's name."""

from __future__ import annotations

import pytest

import acrmagic.tasks as tasks
from acrmagic.errors import UsageError
from acrmagic.progress import Progress
from acrmagic.runrequest import QuickBuild, TaskRun
from acrmagic.tasks import launch
from acrmagic.tasks.store import TaskStore

from test_tasks_scheduler import Repo


def test_requests_for_each_step_type(make_context, home):
    ctx = make_context({"Dockerfile": "FROM busybox\n", "t.yaml": "steps:\n  - cmd: busybox echo {{.Values.who}}\n",
                        "v.yaml": "who: values-file\n"})
    tasks.create("docker-step", context=str(ctx), file="Dockerfile", image=["a:1"], arg=["X=1"], no_push=True)
    req = launch.request(TaskStore().get("docker-step"), ctx, str(home))
    assert isinstance(req, QuickBuild) and req.build_args == {"X": "1"} and not req.push and req.images == ["a:1"]
    tasks.create("file-step", context=str(ctx), file="t.yaml", values="v.yaml", set=["who=set"])
    req = launch.request(TaskStore().get("file-step"), ctx, str(home))
    assert isinstance(req, TaskRun) and req.values_text == "who: values-file\n" and req.set_values == {"who": "set"}


@pytest.mark.engine
def test_a_git_file_task_in_a_subdir_with_a_secret(tmp_path, monkeypatch):
    repo = Repo(tmp_path, {"README": "x"})
    (repo.work / "ci").mkdir()
    repo.commit({"ci/task.yaml": "steps:\n  - cmd: busybox sh -c 'echo token={{.Values.pw}} && ls /workspace'\n",
                 "ci/marker.txt": "here"})
    monkeypatch.setenv("ACRMAGIC_SECRET_SUBDIR_TASK_PW", "s3cr3t-value")
    tasks.create("subdir-task", context=f"{repo.url}#main:ci", file="task.yaml", set_secret=["pw=placeholder"])
    run = tasks.run("subdir-task", observer=Progress())
    assert run.status == "Succeeded" and run.run_type == "QuickRun" and run.task == "subdir-task"
    log = run.log()
    assert "token=***" in log and "s3cr3t-value" not in log and "marker.txt" in log
    assert run.source["type"] == "git" and run.source["subdir"] == "ci" and run.source["branch"] == "main"
    assert len(run.source["commit"]) == 40 and "path" not in run.source


def test_a_literal_secret_is_not_seen_by_another_process(home):
    tasks.create("mem-secret", cmd="busybox true", set_secret=["pw=only-here"])
    resource = TaskStore().get("mem-secret")
    assert launch.secret_values(resource, str(home)) == {"pw": "only-here"}
    from acrmagic.tasks import secrets

    secrets.forget(str(home), "mem-secret")  # as a scheduler in another process sees it
    with pytest.raises(UsageError, match="ACRMAGIC_SECRET_MEM_SECRET_PW"):
        launch.secret_values(resource, str(home))
