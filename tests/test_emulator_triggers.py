"""The emulator's triggers (triggers.py), polled by hand with a clock the test sets: timers fire once per
occurrence (several missed: once, the latest), commits after the baseline, base images whose digest
changed in a real registry; a disabled trigger or task never fires; a task's triggered runs never
overlap. The runs they start are recorded by the task API stand-in below (the task API's own runs are
tested in test_acr_tasks through the SDKs)."""

from __future__ import annotations

import subprocess
from datetime import datetime, timezone

import pytest

from acrmagic.emulator.sources import ContextPolicy
from acrmagic.emulator.state import Registry, Store
from acrmagic.emulator.triggers import TRIGGER_CALLER, Triggers, current_digest, next_after, watched
from acrmagic.errors import AcrMagicError
from conftest import registry_digest

REG = Registry("trigreg", "rg", "00000000-0000-0000-0000-000000000000")


class StartedRuns:
    """The task API's `start` as the triggers call it: each call makes a Running run in the store."""

    def __init__(self, store: Store):
        self.store, self.calls = store, []

    def start(self, registry, task, claims, trigger=None, commit_id=None):
        run = self.store.new_run(registry, run_type="AutoRun", platform={"os": "linux"},
                                 agent_configuration={"cpu": 2}, status="Running", task=task["name"], trigger=trigger)
        self.calls.append((task["name"], claims, trigger, commit_id, run.run_id))
        return {"name": run.run_id}

    def finish(self, run_id: str) -> None:
        self.store.run(REG, run_id).status = "Succeeded"


def _at(hour: int, minute: int = 0, second: int = 0, day: int = 1) -> datetime:
    return datetime(2026, 3, day, hour, minute, second, tzinfo=timezone.utc)


def _task(name: str, trigger: dict, status: str = "Enabled") -> dict:
    return {"name": name, "id": f"{REG.id}/tasks/{name}", "properties": {"status": status, "trigger": trigger}}


@pytest.fixture
def world(tmp_path):
    """(store, the runs started, triggers whose clock `world.now` sets), polled only by `tick()`."""
    store = Store([REG])
    runs = StartedRuns(store)
    triggers = Triggers(store, runs, ContextPolicy([tmp_path]), log=lambda line: None)
    clock = {"now": _at(10, 30)}
    triggers.clock = lambda: clock["now"]

    class World:
        def __init__(self):
            self.store, self.runs, self.triggers = store, runs, triggers

        def set(self, when: datetime) -> None:
            clock["now"] = when

        def add(self, task: dict, old: dict | None = None) -> dict:
            store.put_task(REG, task)
            triggers.sync(REG, task, old)
            return task

    return World()


def _timer(name: str, schedule: str, status: str = "Enabled") -> dict:
    return {"name": name, "schedule": schedule, "status": status}


# -- timers -----------------------------------------------------------------------------------------------
def test_a_timer_fires_once_when_its_occurrence_comes(world):
    world.add(_task("hourly", {"timerTriggers": [_timer("t1", "0 * * * *")]}))
    world.set(_at(10, 59, 59))
    world.triggers.tick()
    assert world.runs.calls == []
    world.set(_at(11, 0, 5))
    world.triggers.tick()
    [(name, claims, trigger, commit, run_id)] = world.runs.calls
    assert (name, claims, commit) == ("hourly", TRIGGER_CALLER, None)
    assert trigger == {"timerTrigger": {"timerTriggerName": "t1", "scheduleOccurrence": "2026-03-01T11:00:00+00:00"}}
    world.runs.finish(run_id)
    world.set(_at(11, 59))
    world.triggers.tick()
    assert len(world.runs.calls) == 1  # the next occurrence is 12:00


def test_missed_occurrences_fire_one_run_for_the_latest(world):
    world.add(_task("hourly", {"timerTriggers": [_timer("t1", "0 * * * *")]}))
    world.set(_at(14, 20))  # 11:00, 12:00, 13:00 and 14:00 went by unpolled
    world.triggers.tick()
    assert [c[2]["timerTrigger"]["scheduleOccurrence"] for c in world.runs.calls] == ["2026-03-01T14:00:00+00:00"]


def test_a_disabled_timer_or_a_disabled_task_never_fires(world):
    world.add(_task("off", {"timerTriggers": [_timer("t1", "* * * * *", status="Disabled")]}))
    world.add(_task("paused", {"timerTriggers": [_timer("t1", "* * * * *")]}, status="Disabled"))
    world.set(_at(12))
    world.triggers.tick()
    assert world.runs.calls == []


def test_a_changed_schedule_is_planned_from_the_change(world):
    task = world.add(_task("moved", {"timerTriggers": [_timer("t1", "0 12 * * *")]}))
    world.set(_at(11))
    changed = world.add(_task("moved", {"timerTriggers": [_timer("t1", "30 11 * * *")]}), old=task)
    world.set(_at(11, 31))
    world.triggers.tick()
    assert [c[2]["timerTrigger"]["scheduleOccurrence"] for c in world.runs.calls] == ["2026-03-01T11:30:00+00:00"]
    world.triggers.forget(REG, changed["name"])  # deleted: its plan goes with it
    world.store.delete_task(REG, "moved")
    world.set(_at(11, 30, day=2))
    world.triggers.tick()
    assert len(world.runs.calls) == 1


def test_a_tasks_triggered_runs_never_overlap(world):
    world.add(_task("busy", {"timerTriggers": [_timer("a", "0 11 * * *"), _timer("b", "0 11 * * *")]}))
    world.set(_at(11, 0, 1))
    world.triggers.tick()
    assert [c[2]["timerTrigger"]["timerTriggerName"] for c in world.runs.calls] == ["a"]  # b waits
    world.triggers.tick()
    assert len(world.runs.calls) == 1  # a still runs
    world.runs.finish(world.runs.calls[0][4])
    world.triggers.tick()
    assert [c[2]["timerTrigger"]["timerTriggerName"] for c in world.runs.calls] == ["a", "b"]


def test_cron_occurrences_are_utc():
    assert next_after("0 2 * * *", _at(1, 59)) == _at(2)
    assert next_after("*/15 * * * *", _at(10, 0)) == _at(10, 15)
    assert next_after("0 0 * * 1", datetime(2026, 3, 4, tzinfo=timezone.utc)) == datetime(2026, 3, 9, tzinfo=timezone.utc)


# -- commits ----------------------------------------------------------------------------------------------
def _git(repo, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@t", *args],
                          check=True, capture_output=True, text=True).stdout.strip()


def _commit(repo, text: str) -> str:
    (repo / "f.txt").write_text(text)
    _git(repo, "add", ".")
    _git(repo, "commit", "-qm", text)
    return _git(repo, "rev-parse", "HEAD")


def _source_trigger(url: str, status: str = "Enabled", events=("commit",)) -> dict:
    return {"sourceTriggers": [{"name": "src", "status": status, "sourceTriggerEvents": list(events),
                                "sourceRepository": {"sourceControlType": "Github", "repositoryUrl": url,
                                                     "branch": "main"}}]}


def test_a_commit_after_the_baseline_starts_one_run_of_that_commit(world, tmp_path):
    repo = tmp_path / "repo"
    repo.mkdir()
    _git(repo, "init", "-q", "-b", "main")
    _commit(repo, "one")
    world.add(_task("oncommit", _source_trigger(f"file://{repo}")))
    world.triggers.tick()
    assert world.runs.calls == []  # the first head seen is the baseline
    second = _commit(repo, "two")
    world.triggers.tick()
    [(name, _, trigger, commit, run_id)] = world.runs.calls
    assert commit == second
    payload = trigger["sourceTrigger"]
    assert (payload["eventType"], payload["commitId"], payload["branchName"], payload["repositoryUrl"]) == \
        ("commit", second, "main", f"file://{repo}")
    world.runs.finish(run_id)
    world.triggers.tick()
    assert len(world.runs.calls) == 1  # the same head again: nothing


def test_a_disabled_or_pull_request_only_source_trigger_never_fires(world, tmp_path):
    repo = tmp_path / "repo"
    repo.mkdir()
    _git(repo, "init", "-q", "-b", "main")
    _commit(repo, "one")
    world.add(_task("disabled", _source_trigger(f"file://{repo}", status="Disabled")))
    world.add(_task("pronly", _source_trigger(f"file://{repo}", events=("pullrequest",))))
    world.triggers.tick()
    _commit(repo, "two")
    world.triggers.tick()
    assert world.runs.calls == []


def test_a_repository_outside_the_context_roots_is_never_read(world, tmp_path_factory):
    elsewhere = tmp_path_factory.mktemp("not-a-root")
    _git(elsewhere, "init", "-q", "-b", "main")
    _commit(elsewhere, "one")
    said = []
    world.triggers.log = said.append
    world.add(_task("outside", _source_trigger(f"file://{elsewhere}")))
    world.triggers.tick()
    _commit(elsewhere, "two")
    world.triggers.tick()
    assert world.runs.calls == []
    assert len(said) == 1 and said[0].startswith(f"task outside: cannot read file://{elsewhere}: ")  # said once


# -- base images ------------------------------------------------------------------------------------------
def test_the_watched_base_images_are_the_final_stages_or_all():
    built = [{"image": "localhost:5001/library/python:3.11-slim", "digest": "sha256:aa"},
             {"image": "localhost:5001/library/busybox:latest", "digest": "sha256:bb"},
             {"image": "scratch-stage", "digest": None}]
    assert watched(built, "Runtime") == {"localhost:5001/library/busybox:latest": "sha256:bb"}
    assert watched(built, "All") == {"localhost:5001/library/python:3.11-slim": "sha256:aa",
                                     "localhost:5001/library/busybox:latest": "sha256:bb"}
    assert watched([], "All") == {}


def test_a_base_image_on_a_remote_registry_is_said_not_read():
    with pytest.raises(AcrMagicError) as e:
        current_digest("myregistry.azurecr.io/base:1")
    assert e.value.message == "the emulator works offline and cannot read myregistry.azurecr.io/base:1 from " \
                              "myregistry.azurecr.io"


@pytest.mark.engine
def test_a_base_image_whose_digest_changed_in_the_registry_starts_one_run(world):
    """The mirror's busybox as the base; the digest the last build used is an older one."""
    image = "localhost:5001/library/busybox:latest"
    now = registry_digest("library/busybox", "latest", "localhost:5001")
    assert now and current_digest(image) == now and current_digest("busybox") == now  # Docker Hub names: the mirror
    task = world.add(_task("onbase", {"baseImageTrigger": {"name": "b", "baseImageTriggerType": "Runtime",
                                                           "status": "Enabled"}}))
    world.triggers.learned(task, None, {"baseImages": [{"image": image, "digest": "sha256:" + "0" * 64}]})
    world.triggers.tick()
    [(_, _, trigger, _, run_id)] = world.runs.calls
    [changed] = trigger["imageUpdateTrigger"]["images"]
    assert changed == {"registry": "localhost:5001", "repository": "library/busybox", "tag": "latest",
                       "previousDigest": "sha256:" + "0" * 64, "newDigest": now}
    world.runs.finish(run_id)
    world.triggers.tick()
    assert len(world.runs.calls) == 1  # fired once per new digest
