"""ACR's cron dialect for timer triggers, a fact of the service stated once (the client's task commands
and the emulator both check schedules against it).

ACR Tasks reads a schedule as five fields (minute hour day-of-month month day-of-week), in UTC, with
NCrontab's syntax: values, `*`, ranges `a-b`, lists `a,b`, steps `/n`, and month and day names (`Mon-Fri`,
`JAN`). Quartz's extensions `L` (last), `W` (nearest weekday), `#` (nth weekday) and `?` are not part of
it, nor seconds or years as extra fields. A schedule that matches no date (`0 0 30 2 *`) would never
fire, so it is refused too.
"""

from __future__ import annotations

import re
from datetime import datetime, timezone

from croniter import CroniterBadCronError, CroniterBadDateError, croniter

FIELDS = ("minute", "hour", "day-of-month", "month", "day-of-week")
#: every month/weekday combination recurs within 28 years (the Gregorian calendar's weekday cycle for dates)
HORIZON_YEARS = 28
_EXTENSION = re.compile(r"[#?]|(?<![A-Za-z])(?:LW|[LW])(?![A-Za-z])|\d[LW]|L-\d", re.IGNORECASE)
_ELEMENT = re.compile(r"(?:\*|[0-9]+|[A-Za-z]{3})(?:-(?:[0-9]+|[A-Za-z]{3}))?(?:/[0-9]+)?")


def problem(expr: str) -> str | None:
    """What is wrong with `expr` as an ACR schedule, in a few words, or None when ACR would take it."""
    if not isinstance(expr, str):
        return "a schedule is a string"
    fields = expr.split()
    if len(fields) != 5:
        return f"expected 5 fields ({' '.join(FIELDS)}), got {len(fields)}"
    for name, field in zip(FIELDS, fields):
        if _EXTENSION.search(field):
            return f"the {name} field uses L, W, # or ?, which ACR's cron does not accept"
        if not all(_ELEMENT.fullmatch(element) for element in field.split(",")):
            return f"the {name} field {field!r} is not cron syntax"
    text = " ".join(fields)
    try:
        if not croniter.is_valid(text):
            return "a value is out of range (minute 0-59, hour 0-23, day 1-31, month 1-12, day-of-week 0-6)"
        croniter(text, datetime(2000, 1, 1, tzinfo=timezone.utc),
                 max_years_between_matches=HORIZON_YEARS).get_next(datetime)
    except CroniterBadDateError:
        return "it matches no date, so it would never fire"
    except (CroniterBadCronError, ValueError, KeyError):
        return "a value is out of range (minute 0-59, hour 0-23, day 1-31, month 1-12, day-of-week 0-6)"
    return None
