"""Timer triggers: 5-field cron schedules in UTC (as ACR's), named, several per task.

A timer keeps `next` (its next occurrence) so that a scheduler tick only compares two times; cron is
evaluated only when a timer fires. When the scheduler was down across several occurrences, the timer
fires once, for the latest missed occurrence, and then waits for the next one after now: at most one
catch-up run per timer.

`check` is the scheduler's look at one task's timers each tick.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import croniter

from .. import acrspec
from ..acrspec import ENABLED, TIMER_TRIGGER
from ..errors import UsageError, quoted
from .store import Fire, TaskStore
from .trigger_state import TimerState, TriggerState

KIND = TIMER_TRIGGER

_TZ_PREFIX = re.compile(r"^(?:CRON_)?TZ=(\S+)\s+")


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def check_cron(expr: str, flag: str = "--schedule") -> str:
    """A 5-field cron expression in UTC, or one clear UsageError."""
    text = expr.strip()
    tz = _TZ_PREFIX.match(text)
    if tz:
        try:
            ZoneInfo(tz.group(1))
        except (ZoneInfoNotFoundError, ValueError):
            raise UsageError(f"{flag}: unknown time zone {tz.group(1)!r}; schedules are in UTC") from None
        raise UsageError(f"{flag}: schedules are in UTC, as in ACR: drop {tz.group(0).strip()!r} and write the "
                         "time in UTC")
    wrong = acrspec.cron_problem(text)
    if wrong:
        raise UsageError(f"{flag}: {quoted(expr)} is not a schedule ACR accepts: {wrong} (e.g. '0 2 * * *')")
    return " ".join(text.split())


def parse_schedule(text: str, index: int) -> dict:
    """`--schedule [NAME:]CRON` -> ACR's timer trigger; unnamed timers are t1, t2, ... as az names them."""
    name, sep, cron = text.partition(":")
    if not sep or " " in name.strip():  # a cron expression has no colon; a name has no space
        name, cron = f"t{index}", text
    name = name.strip()
    if not acrspec.TIMER_NAME.fullmatch(name):
        raise UsageError(f"--schedule: timer name {quoted(name)}: use 1-50 letters, digits, '-' or '_'")
    return {"name": name, "schedule": check_cron(cron), "status": ENABLED}


def next_after(expr: str, when: datetime) -> datetime:
    """The first occurrence strictly after `when`."""
    return croniter(expr, when).get_next(datetime).astimezone(timezone.utc)


def latest_due(expr: str, now: datetime) -> datetime:
    """The latest occurrence at or before `now` (cron has minute resolution)."""
    after_this_minute = now.replace(second=0, microsecond=0) + timedelta(minutes=1)
    return croniter(expr, after_this_minute).get_prev(datetime).astimezone(timezone.utc)


def fresh_state(timers: list[dict], now: datetime) -> dict:
    """Each timer's next occurrence after `now`: a new or re-enabled task does not catch up."""
    return {t["name"]: {"next": next_after(t["schedule"], now).isoformat()} for t in timers}


def due_timers(timers: list[dict], state: dict, now: datetime) -> list[tuple[dict, datetime]]:
    """Enabled timers whose next occurrence has come: (timer, the occurrence to run for)."""
    due = []
    for timer in timers:
        if timer.get("status", ENABLED) != ENABLED:
            continue
        next_iso = (state.get(timer["name"]) or {}).get("next")
        if next_iso is None or datetime.fromisoformat(next_iso) > now:
            continue
        due.append((timer, latest_due(timer["schedule"], now)))
    return due


def fresh_timers(timers: list[dict], now: datetime) -> dict[str, TimerState]:
    """fresh_state, typed for the task store."""
    return {name: TimerState(t["next"]) for name, t in fresh_state(timers, now).items()}


def check(store: TaskStore, name: str, timers: list[dict], state: TriggerState, now: datetime) -> list[Fire]:
    """Task `name`'s fires of its `timers` (ACR's timer triggers) due at `now`; a timer added since the
    state was made starts counting now."""
    if not timers:
        return []
    timer_state = dict(state.timers)
    missing = [t for t in timers if t["name"] not in timer_state]
    if missing:
        fresh = fresh_timers(missing, now)
        store.add_timers(name, fresh)
        timer_state.update(fresh)
    fired = []
    for t, occurrence in due_timers(timers, {k: v.to_json() for k, v in timer_state.items()}, now):
        payload = {"timerTriggerName": t["name"], "scheduledOccurrence": occurrence.isoformat()}
        new = TimerState(next_after(t["schedule"], now).isoformat(), occurrence.isoformat())
        fire = store.fire_timer(name, KIND, payload, t["name"], timer_state[t["name"]].next, new)
        fired += [fire] if fire else []
    return fired


def describe(details: dict) -> str:
    return f"timer {details['timerTriggerName']} at {details['scheduledOccurrence']}"
