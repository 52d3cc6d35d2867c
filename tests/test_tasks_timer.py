"""Timer triggers: 5-field cron in UTC, named timers, at most one catch-up after downtime."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from acrmagic.errors import UsageError
from acrmagic.tasks import timer

UTC = timezone.utc


def test_parse_schedule_names_and_fields():
    assert timer.parse_schedule("0 2 * * *", 1) == {"name": "t1", "schedule": "0 2 * * *", "status": "Enabled"}
    assert timer.parse_schedule("nightly:0  2 * * *", 2)["name"] == "nightly"
    assert timer.parse_schedule("nightly:0  2 * * *", 2)["schedule"] == "0 2 * * *"
    for bad, message in (("0 2 * *", "5 fields"), ("@daily", "5 fields"), ("0 25 * * *", "out of range"),
                         ("CRON_TZ=Europe/Paris 0 2 * * *", "schedules are in UTC"),
                         ("TZ=Nowhere/Land 0 2 * * *", "unknown time zone"), ("bad name:0 2 * * *", "5 fields"), ("b@d:0 2 * * *", "timer name")):
        with pytest.raises(UsageError, match=message):
            timer.parse_schedule(bad, 1)


def test_at_most_one_catch_up():
    timers = [{"name": "t1", "schedule": "0 2 * * *", "status": "Enabled"}]
    created = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
    state = timer.fresh_state(timers, created)
    assert state == {"t1": {"next": "2026-01-02T02:00:00+00:00"}}
    assert timer.due_timers(timers, state, datetime(2026, 1, 2, 1, 59, tzinfo=UTC)) == []
    # down for five days: one run, for the latest missed occurrence
    due = timer.due_timers(timers, state, datetime(2026, 1, 6, 7, 30, tzinfo=UTC))
    assert due == [(timers[0], datetime(2026, 1, 6, 2, 0, tzinfo=UTC))]
    assert timer.next_after("0 2 * * *", datetime(2026, 1, 6, 7, 30, tzinfo=UTC)) == datetime(2026, 1, 7, 2, 0, tzinfo=UTC)
    disabled = [{**timers[0], "status": "Disabled"}]
    assert timer.due_timers(disabled, state, datetime(2026, 1, 6, tzinfo=UTC)) == []


def test_exact_occurrence_is_due():
    assert timer.latest_due("*/15 * * * *", datetime(2026, 1, 1, 10, 30, 0, tzinfo=UTC)) == \
        datetime(2026, 1, 1, 10, 30, tzinfo=UTC)
    assert timer.latest_due("*/15 * * * *", datetime(2026, 1, 1, 10, 44, 59, tzinfo=UTC)) == \
        datetime(2026, 1, 1, 10, 30, tzinfo=UTC)


def test_the_check_fires_a_due_timer_once_and_starts_new_timers_counting(home):
    from acrmagic.tasks.store import TaskStore
    from acrmagic.tasks.trigger_state import TimerState, TriggerState

    store = TaskStore()
    nightly = {"name": "nightly", "schedule": "0 2 * * *", "status": "Enabled"}
    store.create({"name": "timed-task", "properties": {"status": "Enabled"}},
                 TriggerState(timers=timer.fresh_timers([nightly], datetime(2026, 1, 1, 12, tzinfo=UTC))))
    hourly = {"name": "hourly", "schedule": "0 * * * *", "status": "Enabled"}
    now = datetime(2026, 1, 3, 7, 30, tzinfo=UTC)
    seen = store.trigger_state("timed-task")
    [fire] = timer.check(store, "timed-task", [nightly, hourly], seen, now)
    assert fire.kind == timer.KIND == "Timer"
    assert fire.payload == {"timerTriggerName": "nightly", "scheduledOccurrence": "2026-01-03T02:00:00+00:00"}
    assert timer.describe(fire.payload) == "timer nightly at 2026-01-03T02:00:00+00:00"
    state = store.trigger_state("timed-task")
    assert state.timers["nightly"] == TimerState("2026-01-04T02:00:00+00:00", "2026-01-03T02:00:00+00:00")
    assert state.timers["hourly"] == TimerState("2026-01-03T08:00:00+00:00")  # added since: no catch-up
    assert timer.check(store, "timed-task", [nightly, hourly], seen, now) == []  # fired already, from a stale read
    assert timer.check(store, "timed-task", [], state, now) == []
