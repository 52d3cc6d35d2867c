"""The typed trigger state: the JSON stores have always held loads and writes back the same, and each
named change does what it says, refusing to advance a trigger that has moved on."""

from __future__ import annotations

from acrmagic.tasks.store import TaskStore
from acrmagic.tasks.trigger_state import BaseImageState, CommitState, TimerState, TriggerState

STORED = {  # a state as a scheduler before the typed state wrote it
    "commit": {"last": "a" * 40},
    "timers": {"nightly": {"next": "2026-01-02T02:00:00+00:00", "last": "2026-01-01T02:00:00+00:00"},
               "t2": {"next": "2026-01-01T13:00:00+00:00"}},
    "base": {"watch": {"localhost:5000/base:1": "sha256:1"}, "outputs": ["localhost:5000/app:1"],
             "fired": {"localhost:5000/base:1": "sha256:2"}},
    "errors": {"run": "no such file"},
}
IMAGE = {"registry": "localhost:5000", "repository": "base", "tag": "1", "newDigest": "sha256:3"}


def test_stored_json_loads_typed_and_is_written_back_the_same():
    state = TriggerState.from_json(STORED)
    assert state.commit == CommitState("a" * 40)
    assert state.timers["nightly"] == TimerState("2026-01-02T02:00:00+00:00", "2026-01-01T02:00:00+00:00")
    assert state.base.outputs == ["localhost:5000/app:1"] and state.errors == {"run": "no such file"}
    assert state.to_json() == STORED


def test_a_new_state_and_the_sections_older_stores_lack():
    assert TriggerState.from_json({}) == TriggerState()
    assert TriggerState.from_json({"commit": {"last": None}, "timers": {}, "errors": {}}).to_json() == \
        {"commit": {"last": None}, "timers": {}}  # no base section until a run teaches one; no empty errors


def test_commit_advances_only_from_the_head_it_saw():
    state = TriggerState.from_json(STORED)
    assert state.advance_commit("b" * 40, "c" * 40) is False and state.commit.last == "a" * 40
    assert state.advance_commit("a" * 40, "c" * 40) is True and state.commit.last == "c" * 40
    state.set_commit_baseline(None)
    assert state.to_json()["commit"] == {"last": None}


def test_timers_add_restart_and_advance():
    state = TriggerState.from_json(STORED)
    state.add_timers({"t3": TimerState("2026-01-03T00:00:00+00:00")})
    assert set(state.timers) == {"nightly", "t2", "t3"}
    state.restart_timers({"nightly": TimerState("N"), "t4": TimerState("F")}, keep={"t2"})
    assert state.to_json()["timers"] == {"nightly": {"next": "N"}, "t4": {"next": "F"},
                                         "t2": {"next": "2026-01-01T13:00:00+00:00"}}
    assert state.advance_timer("t4", "not what it is", TimerState("G", "F")) is False
    assert state.advance_timer("gone", "F", TimerState("G", "F")) is False
    assert state.advance_timer("t4", "F", TimerState("G", "F")) is True and state.timers["t4"].last == "F"


def test_base_images_fire_once_per_new_digest_and_learning_forgets_what_caught_up():
    state = TriggerState()
    assert state.advance_base_images([IMAGE]) is True
    assert state.advance_base_images([IMAGE]) is False  # this digest has fired already
    assert state.base == BaseImageState(fired={"localhost:5000/base:1": "sha256:3"})
    state.learn_base_images({"localhost:5000/base:1": "sha256:2"}, ["localhost:5000/app:2"])
    assert state.base.fired == {"localhost:5000/base:1": "sha256:3"}  # the run was not on the new digest yet
    state.learn_base_images({"localhost:5000/base:1": "sha256:3"}, ["localhost:5000/app:3"])
    assert state.base == BaseImageState({"localhost:5000/base:1": "sha256:3"}, ["localhost:5000/app:3"], {})


def test_errors_are_set_recorded_and_cleared_by_trigger():
    state = TriggerState()
    state.record_error("run", "checkout failed")
    state.set_errors({"commit": "unreachable", "run": "checkout failed"})
    state.clear_error("run")
    state.clear_error("baseImage")  # nothing to clear: no error
    assert state.to_json()["errors"] == {"commit": "unreachable"}


def test_the_store_changes_the_state_through_named_methods_and_fires_atomically(home):
    store = TaskStore()
    store.create({"name": "alpha-task", "properties": {"status": "Enabled"}},
                 TriggerState(CommitState("a"), {"t1": TimerState("T")}))
    store.record_trigger_error("alpha-task", "run", "boom")
    store.learn_base_images("alpha-task", {"x/y:1": "sha256:1"}, [])
    assert store.state("alpha-task") == {"commit": {"last": "a"}, "timers": {"t1": {"next": "T"}},
                                         "base": {"watch": {"x/y:1": "sha256:1"}, "outputs": [], "fired": {}},
                                         "errors": {"run": "boom"}}
    assert store.fire_commit("alpha-task", "Commit", {"id": "trg-1"}, "stale", "b") is None
    assert store.fire_commit("alpha-task", "Commit", {"id": "trg-2"}, "a", "b").id == "trg-2"
    assert store.fire_timer("alpha-task", "Timer", {"timerTriggerName": "t1"}, "t1", "T", TimerState("U", "T"))
    assert store.fire_timer("alpha-task", "Timer", {"timerTriggerName": "t1"}, "t1", "T", TimerState("U", "T")) is None
    assert [f.kind for f in store.open_fires()] == ["Commit", "Timer"]
    typed = store.trigger_state("alpha-task")
    assert typed.commit.last == "b" and typed.timers["t1"] == TimerState("U", "T")
    store.clear_trigger_error("alpha-task", "run")
    store.set_commit_baseline("alpha-task", None)
    assert store.trigger_state("alpha-task").errors == {} and store.state("alpha-task")["commit"] == {"last": None}
    store.set_trigger_errors("no-such-task", {"commit": "x"})  # the task is gone: nothing to change


def test_replace_restarts_triggers_in_the_same_transaction(home):
    from acrmagic.tasks.store import KEEP

    store = TaskStore()
    resource = {"name": "alpha-task", "properties": {"status": "Enabled"}}
    store.create(resource, TriggerState(CommitState("a"), {"kept": TimerState("K", "J"), "old": TimerState("O")}))
    store.replace(resource, commit_baseline=KEEP, timers={"kept": TimerState("K2"), "new": TimerState("N")},
                  keep_timers={"kept"})
    assert store.state("alpha-task") == {"commit": {"last": "a"},
                                         "timers": {"kept": {"next": "K", "last": "J"}, "new": {"next": "N"}}}
    store.replace(resource, commit_baseline="b")
    assert store.trigger_state("alpha-task").commit.last == "b"
