"""Facts of the ACR Tasks API that both sides need: the client checks what it sends with them, the
emulator checks what it receives. Stated once here (the vocabulary), so neither side borrows the
other's code: names, timeout bounds, platforms, and which cron schedules ACR accepts.

Cron: ACR's timer triggers take 5 fields (minute hour day-of-month month day-of-week) in UTC. The
extensions some cron dialects add (`L`, `W`, `#`, `?`, seconds or years fields, `@daily` names) are
refused, and so is a schedule that can never fire (`0 0 30 2 *`, February the 30th).
"""

from __future__ import annotations

import re
from datetime import datetime, timezone

#: task names: 5 to 50 letters, digits, '-' and '_' (the Tasks API's pattern)
TASK_NAME = re.compile(r"^[A-Za-z0-9_-]{5,50}$")
#: taskRun names share the task name pattern
TASK_RUN_NAME = TASK_NAME
#: registry names: 5 to 50 letters and digits
REGISTRY_NAME = re.compile(r"^[A-Za-z0-9]{5,50}$")
#: timer trigger names
TIMER_NAME = re.compile(r"^[A-Za-z0-9_-]{1,50}$")

MIN_TIMEOUT, MAX_TIMEOUT, DEFAULT_TIMEOUT = 300, 28800, 3600  # seconds, runs and tasks alike
DEFAULT_CPU = 2

OSES = ("linux", "windows")
ARCHITECTURES = ("amd64", "x86", "386", "arm", "arm64")
VARIANTS = ("v6", "v7", "v8")

RUN_STATUSES = ("Queued", "Started", "Running", "Succeeded", "Failed", "Canceled", "Error", "Timeout")
RUN_TYPES = ("QuickBuild", "QuickRun", "AutoBuild", "AutoRun")
TASK_STATUSES = ("Enabled", "Disabled")
STEP_TYPES = ("Docker", "FileTask", "EncodedTask")

_CRON_FIELD = re.compile(r"^[0-9A-Za-z*,/-]+$")
_NAMES = re.compile(r"[A-Za-z]+")
_MONTHS = {"jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"}
_DAYS = {"sun", "mon", "tue", "wed", "thu", "fri", "sat"}


def valid_timeout(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and MIN_TIMEOUT <= value <= MAX_TIMEOUT


def cron_problem(expr: object) -> str | None:
    """Why ACR would refuse this timer schedule, or None when it is one ACR runs."""
    from croniter import CroniterBadDateError, croniter  # only the timer checks need it

    if not isinstance(expr, str) or not expr.strip():
        return "a schedule is a cron expression, e.g. '0 2 * * *'"
    fields = expr.split()
    if len(fields) != 5:
        return (f"'{expr}' has {len(fields)} fields; a schedule has 5 (minute hour day-of-month month "
                "day-of-week), in UTC")
    for i, field in enumerate(fields):
        allowed = _MONTHS if i == 3 else _DAYS if i == 4 else set()
        names = [n for n in _NAMES.findall(field) if n.lower() not in allowed]
        if "#" in field or "?" in field or any(set(n.upper()) <= {"L", "W"} for n in names):
            return f"'{expr}': field {i + 1} '{field}' uses a cron extension ACR does not take (L, W, # and ? are refused)"
        if not _CRON_FIELD.match(field) or names:
            return f"'{expr}': field {i + 1} '{field}' is not a number, name, range, list or step"
    text = " ".join(fields)
    if not croniter.is_valid(text):
        return f"'{expr}' is not a valid cron schedule (minute hour day-of-month month day-of-week)"
    try:
        croniter(text, datetime(2000, 1, 1, tzinfo=timezone.utc)).get_next(datetime)
    except CroniterBadDateError:
        return f"'{expr}' never fires (no date matches it)"
    return None
