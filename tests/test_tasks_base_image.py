"""Base-image triggers: the final stage (Runtime) or every stage (All), digests read from the registry,
and a cascade: a new base rebuilds the task built on it, then the task built on that one, once each,
in dependency order, with old and new digests recorded."""

from __future__ import annotations

import uuid

import pytest

import acrmagic
import acrmagic.tasks as tasks
from acrmagic.progress import Progress
from acrmagic.runs.model import Run
from acrmagic.runs.store import RunStore
from acrmagic.states import SUCCEEDED
from acrmagic.tasks import base_image
from acrmagic.tasks.scheduler import Scheduler

from conftest import registry_digest


def test_runtime_base_follows_stages():
    text = "ARG V=3.11\nFROM busybox AS build\nRUN x\nFROM python:${V}-slim AS run\nCOPY --from=build / /\nFROM run\n"
    assert base_image.runtime_base(text) == "docker.io/library/python:3.11-slim"
    assert base_image.runtime_base(text, {"V": "3.12"}) == "docker.io/library/python:3.12-slim"
    assert base_image.runtime_base("FROM scratch\n") is None
    run = Run(run_id="la1", dockerfile=text, base_images=[
        {"image": "docker.io/library/busybox:latest", "digest": "sha256:" + "1" * 64},
        {"image": "docker.io/library/python:3.11-slim", "digest": "sha256:" + "2" * 64}])
    assert base_image.watch_list(run, "Runtime") == {"docker.io/library/python:3.11-slim": "sha256:" + "2" * 64}
    assert len(base_image.watch_list(run, "All")) == 2


def test_dependency_order():
    order, upstream = base_image.dependency_order(
        {"c": {"r/b:1"}, "b": {"r/a:1"}, "a": {"busybox"}}, {"a": {"r/a:1"}, "b": {"r/b:1"}, "c": set()})
    assert order.index("a") < order.index("b") < order.index("c")
    assert upstream == {"a": set(), "b": {"a"}, "c": {"b"}}


@pytest.mark.engine
def test_digests_come_from_the_registry_and_the_mirror():
    checker = base_image.DigestChecker()
    assert checker.digest("docker.io/library/busybox:latest") == registry_digest("library/busybox", "latest",
                                                                                 registry="localhost:5001")
    assert checker.digest(f"localhost:5000/missing-{uuid.uuid4().hex[:8]}:1") is None
    with pytest.raises(acrmagic.AcrMagicError, match="cannot read the digest"):
        checker.digest("localhost:1/nothing:1")


def push_base(ctx, name: str, marker: str) -> str:
    run = acrmagic.build(f"FROM busybox\nRUN echo {marker} > /base\n", image=name, context=str(ctx), logs=False)
    return run.output_images[0].digest


@pytest.mark.engine
def test_a_new_base_rebuilds_its_tasks_in_dependency_order_once(make_context):
    u = uuid.uuid4().hex[:8]
    base, app, app2 = f"localhost:5000/base-{u}:1", f"localhost:5000/app-{u}:latest", f"localhost:5000/app2-{u}:latest"
    empty = make_context({"x": ""})
    old = push_base(empty, base, "one")
    first = make_context({"Dockerfile": f"FROM {base}\nRUN echo app > /app\n"})
    second = make_context({"Dockerfile": f"FROM {app}\nRUN echo app2 > /app2\n"})
    tasks.create("base-app", context=str(first), file="Dockerfile", image=[app])
    tasks.create("base-app2", context=str(second), file="Dockerfile", image=[app2])
    for name in ("base-app", "base-app2"):  # the first runs register the base images (as in ACR)
        assert tasks.run(name, observer=Progress()).status == SUCCEEDED
    scheduler = Scheduler()
    assert scheduler.tick().fired == []  # nothing changed yet

    new = push_base(empty, base, "two")
    assert new != old
    first_wave = scheduler.tick()
    assert [f.task for f in first_wave.fired] == ["base-app"]  # base-app2 waits for base-app's new image
    assert scheduler.wait_idle(120)
    second_wave = scheduler.tick()
    assert [f.task for f in second_wave.fired] == ["base-app2"]
    assert scheduler.wait_idle(120)
    assert scheduler.tick().fired == []  # once each
    scheduler.close()

    [rebuilt] = [r for r in RunStore().list(task="base-app") if r.trigger == "Image Update"]
    [image] = rebuilt.trigger_details["images"]
    assert (image["repository"], image["tag"], image["previousDigest"], image["newDigest"]) == (f"base-{u}", "1", old, new)
    assert rebuilt.run_type == "AutoBuild" and rebuilt.status == SUCCEEDED
    assert {"image": base, "digest": new} in rebuilt.base_images
    [cascaded] = [r for r in RunStore().list(task="base-app2") if r.trigger == "Image Update"]
    assert cascaded.create_time > rebuilt.finish_time
    [image2] = cascaded.trigger_details["images"]
    assert image2["repository"] == f"app-{u}" and image2["newDigest"] == rebuilt.output_images[0].digest
    assert cascaded.to_dict()["imageUpdateTrigger"]["images"][0]["previousDigest"] == image2["previousDigest"]


class _Digests:
    """Digests as a registry would answer them (the check's reading of them, not the registry, is under test)."""

    def __init__(self, answers):
        self.answers = answers

    def digest(self, image):
        answer = self.answers[image]
        if isinstance(answer, Exception):
            raise answer
        return answer


def test_the_check_fires_once_per_new_digest_and_records_a_registry_it_cannot_read(home):
    from datetime import datetime, timezone

    from acrmagic.errors import RegistryUnavailable
    from acrmagic.tasks.store import TaskStore
    from acrmagic.tasks.trigger_state import TriggerState

    store = TaskStore()
    resource = {"name": "based-task", "properties": {"status": "Enabled", "trigger": {
        "baseImageTrigger": {"status": "Enabled", "baseImageTriggerType": "Runtime"}}}}
    store.create(resource, TriggerState())
    now = datetime(2026, 1, 1, tzinfo=timezone.utc)
    image = "localhost:5000/base:1"
    never_ran = store.trigger_state("based-task")
    assert base_image.check(store, resource, never_ran, now, _Digests({}), {}) == []  # nothing to watch yet
    store.learn_base_images("based-task", {image: "sha256:old"}, ["localhost:5000/app:1"])
    seen = store.trigger_state("based-task")
    errors = {}
    [fire] = base_image.check(store, resource, seen, now, _Digests({image: "sha256:new"}), errors)
    assert fire.kind == base_image.KIND == "Image Update" and errors == {}
    assert fire.payload["images"] == [{"registry": "localhost:5000", "repository": "base", "tag": "1", "digest": "sha256:new",
                                       "previousDigest": "sha256:old", "newDigest": "sha256:new"}]
    assert base_image.describe(fire.payload) == "base:1 sha256:old -> sha256:new"
    assert base_image.check(store, resource, seen, now, _Digests({image: "sha256:new"}), errors) == []
    assert base_image.check(store, resource, store.trigger_state("based-task"), now,
                            _Digests({image: RegistryUnavailable("cannot read the digest")}), errors) == []
    assert errors == {"baseImage": "cannot read the digest"}


def test_after_run_teaches_only_a_successful_run(home):
    from acrmagic.runs.model import OutputImage
    from acrmagic.tasks.store import TaskStore
    from acrmagic.tasks.trigger_state import BaseImageState, TriggerState

    store = TaskStore()
    store.create({"name": "taught-task", "properties": {"status": "Enabled"}}, TriggerState())
    built = dict(base_images=[{"image": "localhost:5000/base:1", "digest": "sha256:1"},
                              {"image": "localhost:5000/tools:1", "digest": "sha256:2"}],
                 dockerfile="FROM localhost:5000/tools:1 AS tools\nFROM localhost:5000/base:1\n",
                 output_images=[OutputImage("localhost:5000", "app", "7", "sha256:3")])
    base_image.after_run(store, "taught-task", Run(run_id="la1", status="Failed", **built))
    base_image.after_run(store, "taught-task", None)
    assert store.trigger_state("taught-task").base is None
    base_image.after_run(store, "taught-task", Run(run_id="la2", status=SUCCEEDED, **built))
    assert store.trigger_state("taught-task").base == BaseImageState(  # Runtime: the final stage's base only
        {"localhost:5000/base:1": "sha256:1"}, ["localhost:5000/app:7"], {})
    base_image.after_run(store, "no-such-task", Run(run_id="la3", status=SUCCEEDED, **built))  # gone: nothing
