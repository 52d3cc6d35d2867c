"""Facts of the ACR Tasks API that both sides need: the client checks what it sends with them, the
emulator checks what it receives. Stated once here (the vocabulary), so neither side borrows the
other's code: names, timeout bounds, platforms, the words of a Run and a Task resource (statuses, run
types, trigger kinds, step types), and which cron schedules ACR accepts.

Cron: ACR's timer triggers take 5 fields (minute hour day-of-month month day-of-week) in UTC. The
extensions some cron dialects add (`L`, `W`, `#`, `?`, seconds or years fields, `@daily` names) are
refused, and so is a schedule that can never fire (`0 0 30 2 *`, February the 30th).
"""

from __future__ import annotations

import re
from datetime import datetime, timezone

#: task names: 5 to 50 letters, digits, '-' and '_' (the Tasks API's pattern)
TASK_NAME = re.compile(r"[A-Za-z0-9_-]{5,50}")
#: taskRun names share the task name pattern
TASK_RUN_NAME = TASK_NAME
#: registry names: 5 to 50 letters and digits
REGISTRY_NAME = re.compile(r"[A-Za-z0-9]{5,50}")
#: timer trigger names
TIMER_NAME = re.compile(r"[A-Za-z0-9_-]{1,50}")

MIN_TIMEOUT, MAX_TIMEOUT, DEFAULT_TIMEOUT = 300, 28800, 3600  # seconds, runs and tasks alike
DEFAULT_CPU = 2

OSES = ("linux", "windows")
ARCHITECTURES = ("amd64", "x86", "386", "arm", "arm64")
VARIANTS = ("v6", "v7", "v8")

# -- a Run resource: its status, its type, and the trigger that started it ---------------------------------------
QUEUED, STARTED, RUNNING, SUCCEEDED, FAILED, CANCELED, ERROR, TIMEOUT = (
    "Queued", "Started", "Running", "Succeeded", "Failed", "Canceled", "Error", "Timeout")
RUN_STATUSES = (QUEUED, STARTED, RUNNING, SUCCEEDED, FAILED, CANCELED, ERROR, TIMEOUT)
#: `az acr build`/`az acr run`/`az acr task run` are QuickBuild or QuickRun; a trigger's run of a Docker step is
#: AutoBuild, of a task file AutoRun
QUICK_BUILD, QUICK_RUN, AUTO_BUILD, AUTO_RUN = "QuickBuild", "QuickRun", "AutoBuild", "AutoRun"
RUN_TYPES = (QUICK_BUILD, QUICK_RUN, AUTO_BUILD, AUTO_RUN)
COMMIT_TRIGGER, IMAGE_UPDATE_TRIGGER, TIMER_TRIGGER = "Commit", "Image Update", "Timer"
#: a trigger kind -> the Run resource's key for what fired it
TRIGGER_KEYS = {COMMIT_TRIGGER: "sourceTrigger", IMAGE_UPDATE_TRIGGER: "imageUpdateTrigger",
                TIMER_TRIGGER: "timerTrigger"}

# -- a Task resource ---------------------------------------------------------------------------------------------
ENABLED, DISABLED = "Enabled", "Disabled"  # a task's status, and each trigger's
TASK_STATUSES = (ENABLED, DISABLED)
DOCKER_STEP, FILE_TASK_STEP, ENCODED_TASK_STEP = "Docker", "FileTask", "EncodedTask"
STEP_TYPES = (DOCKER_STEP, FILE_TASK_STEP, ENCODED_TASK_STEP)
BASE_IMAGE_RUNTIME, BASE_IMAGE_ALL = "Runtime", "All"  # baseImageTriggerType
BASE_IMAGE_TRIGGER_TYPES = (BASE_IMAGE_ALL, BASE_IMAGE_RUNTIME)

def base36(n: int) -> str:
    """ACR's run ids count in base 36 after a two-letter prefix: ca1 ... ca9, caa ... caz, ca10."""
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while True:
        n, r = divmod(n, 36)
        out = digits[r] + out
        if n == 0:
            return out


def valid_timeout(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and MIN_TIMEOUT <= value <= MAX_TIMEOUT


CRON_FIELDS = ("minute", "hour", "day-of-month", "month", "day-of-week")
#: every month/weekday combination recurs within 28 years (the Gregorian calendar's weekday cycle for dates)
CRON_HORIZON_YEARS = 28
_EXTENSION = re.compile(r"[#?]|(?<![A-Za-z])(?:LW|[LW])(?![A-Za-z])|\d[LW]|L-\d", re.IGNORECASE)
_ELEMENT = re.compile(r"(?:\*|[0-9]+|[A-Za-z]{3})(?:-(?:[0-9]+|[A-Za-z]{3}))?(?:/[0-9]+)?")


def cron_problem(expr: str) -> str | None:
    """What is wrong with `expr` as an ACR schedule, in a few words, or None when ACR would take it."""
    if not isinstance(expr, str):
        return "a schedule is a string"
    fields = expr.split()
    if len(fields) != 5:
        return f"expected 5 fields ({' '.join(CRON_FIELDS)}), got {len(fields)}"
    for name, field in zip(CRON_FIELDS, fields):
        if _EXTENSION.search(field):
            return f"the {name} field uses L, W, # or ?, which ACR's cron does not accept"
        if not all(_ELEMENT.fullmatch(element) for element in field.split(",")):
            return f"the {name} field {field!r} is not cron syntax"
    text = " ".join(fields)
    from croniter import CroniterBadCronError, CroniterBadDateError, croniter  # not on a build's path: 40+ ms

    try:
        if not croniter.is_valid(text):
            return "a value is out of range (minute 0-59, hour 0-23, day 1-31, month 1-12, day-of-week 0-6)"
        croniter(text, datetime(2000, 1, 1, tzinfo=timezone.utc),
                 max_years_between_matches=CRON_HORIZON_YEARS).get_next(datetime)
    except CroniterBadDateError:
        return "it matches no date, so it would never fire"
    except (CroniterBadCronError, ValueError, KeyError):
        return "a value is out of range (minute 0-59, hour 0-23, day 1-31, month 1-12, day-of-week 0-6)"
    return None
