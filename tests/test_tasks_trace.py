"""trace(image): which run produced it, what triggered it, from which source and base images, which
later runs rebuilt it, and which runs were built on it."""

from __future__ import annotations

import uuid

import pytest

import acrmagic
import acrmagic.tasks as tasks
from acrmagic.errors import UsageError
from acrmagic.progress import Progress
from acrmagic.tasks.scheduler import Scheduler

from test_tasks_scheduler import Repo

pytestmark = pytest.mark.engine


def test_trace_answers_the_audit_questions(tmp_path, make_context):
    u = uuid.uuid4().hex[:8]
    image = f"localhost:5000/traced-{u}:latest"
    repo = Repo(tmp_path, {"Dockerfile": "FROM busybox\nRUN echo one\n"})
    tasks.create("traced-task", context=repo.url, file="Dockerfile", image=[image])
    first = tasks.run("traced-task", observer=Progress())
    sha = repo.commit({"Dockerfile": "FROM busybox\nRUN echo two\n"})
    scheduler = Scheduler()
    scheduler.tick()
    assert scheduler.wait_idle(120)
    scheduler.close()
    on_top = acrmagic.build(f"FROM {image}\n", image=f"localhost:5000/on-top-{u}:1", context=str(make_context({"x": ""})),
                            logs=False)

    old = tasks.trace(f"{image}@{first.output_images[0].digest}")
    assert old.run.run_id == first.run_id and old.run.trigger == "Manual"
    assert old.run.source["commit"] and old.run.base_images[0]["image"] == "docker.io/library/busybox:latest"
    assert [r.trigger for r in old.rebuilt_by] == ["Commit"]

    now = tasks.trace(image)  # the tag now: the commit-triggered run's image
    assert now.run.trigger == "Commit" and now.run.trigger_details["commitId"] == sha
    assert now.to_dict()["producedBy"]["source"]["commit"] == sha
    assert [r.run_id for r in now.built_on_by] == [on_top.run_id]
    text = repr(now)
    assert f"commit {sha[:12]} on main" in text and "base image: docker.io/library/busybox:latest@sha256:" in text
    assert tasks.trace(now.digest).run.run_id == now.run.run_id  # by digest alone

    assert tasks.trace(f"localhost:5000/never-built-{u}:1").run is None
    with pytest.raises(UsageError, match="neither an image reference"):
        tasks.trace("Not An Image")
