"""The task store: definitions, trigger state and the outbox, one transaction per fire."""

from __future__ import annotations

import pytest

from acrmagic.errors import UsageError
from acrmagic.tasks.store import DONE, PENDING, STARTED, TaskStore


def resource(name):
    return {"name": name, "properties": {"status": "Enabled"}}


def test_create_get_delete_and_duplicates(home):
    store = TaskStore()
    assert store.path == home / "tasks.sqlite"
    store.create(resource("alpha-task"), {"commit": {"last": "a"}})
    with pytest.raises(UsageError, match="already exists"):
        store.create(resource("ALPHA-task"), {})  # ACR's names are case-insensitive
    assert store.get("alpha-task")["name"] == "alpha-task"
    assert store.state("alpha-task") == {"commit": {"last": "a"}}
    store.delete("alpha-task")
    with pytest.raises(UsageError, match="no task 'alpha-task'"):
        store.get("alpha-task")
    with pytest.raises(UsageError, match="no task"):
        store.delete("alpha-task")


def test_a_fire_moves_the_state_with_it(home):
    store = TaskStore()
    store.create(resource("alpha-task"), {"commit": {"last": "a"}})

    def advance(state):
        if state["commit"]["last"] != "a":
            return False
        state["commit"]["last"] = "b"
    fire = store.fire("alpha-task", "Commit", {"id": "trg-1", "commitId": "b"}, advance)
    assert fire.id == "trg-1" and fire.status == PENDING
    assert store.state("alpha-task")["commit"]["last"] == "b"
    assert store.fire("alpha-task", "Commit", {"id": "trg-2"}, advance) is None  # moved on: no second fire
    assert [f.id for f in TaskStore().open_fires()] == ["trg-1"]  # another connection sees it
    store.mark("trg-1", STARTED, run_id="la1")
    assert store.open_fires()[0].run_id == "la1"
    store.mark("trg-1", DONE, run_status="Succeeded")
    assert store.open_fires() == [] and store.fires("alpha-task")[0].run_status == "Succeeded"


def test_deleting_a_task_closes_its_pending_fires(home):
    store = TaskStore()
    store.create(resource("alpha-task"), {})
    store.fire("alpha-task", "Timer", {"timerTriggerName": "t1"}, lambda s: None)
    store.delete("alpha-task")
    assert store.open_fires() == []
