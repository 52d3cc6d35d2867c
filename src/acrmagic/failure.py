"""Which line of a failed step's output says what went wrong.

The last line of a failed step is seldom the error: acr-builder ends a step with `Step ID: x marked as
failed`, pip with `hint:` and `note:` lines, BuildKit with `executor failed running [...]` (the command
again). The line a person needs is, in this order: the exception line of the last Python traceback; a
line naming a cause the rest follows from (a certificate refused, a name not resolved, a command not
found); the first line of the last run of `ERROR`/`error:`/`fatal:` lines; else the last line with
something in it that is not bookkeeping.
"""

from __future__ import annotations

import re

_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_VERTEX = re.compile(r"^#\d+ ")  # a BuildKit vertex's number, as a task's build step logs its lines
_BOOKKEEPING = re.compile(
    r"^(Step ID: \S+ marked as |Executing step ID: |Step ID: \S+ encountered an error|hint:|note:|\[notice\]"
    r"|WARNING: Running pip as|started \S+ \(detached\)|the detached container exited with code"
    r"|(DONE|CACHED)\b|ERROR: (executor failed running|process .* did not complete successfully)"
    r"|executor failed running|build failed: executor failed running|ports/expose: )", re.I)
_EXCEPTION = re.compile(r"^(?:[A-Za-z_][\w.]*\.)?[A-Za-z_]\w*(Error|Exception|Exit|Interrupt|Failure|Fault)\b(:|$)")
_CAUSE = re.compile(r"CERTIFICATE_VERIFY_FAILED|certificate verify failed|Temporary failure in name resolution"
                    r"|Name or service not known|No space left on device|: not found$|command not found"
                    r"|No such file or directory|Permission denied|Address already in use", re.I)
_ERROR = re.compile(r"\b(ERROR|FATAL)\b|\b(error|fatal)\s*:|^(error|fatal)\b|\bERR!|\bparse error\b", re.I)


def clean(line: str) -> str:
    """A log line as a person reads it: no colour codes, no vertex number, no trailing white space."""
    return _VERTEX.sub("", _ANSI.sub("", line)).rstrip()


def is_bookkeeping(line: str) -> bool:
    """A line the runner or a tool writes about the step rather than about what failed in it."""
    return bool(_BOOKKEEPING.match(clean(line).strip()))


def failing_line(lines: list[str], fallback: str = "") -> str:
    """The line of `lines` (a failed step's output, oldest first) that says what went wrong."""
    meaningful = [c for c in (clean(line) for line in lines) if c.strip() and not is_bookkeeping(c)]
    last_traceback = max((i for i, line in enumerate(meaningful) if line.startswith("Traceback (most recent call")),
                         default=None)
    if last_traceback is not None:
        for line in meaningful[last_traceback + 1:]:
            if not line[:1].isspace() and _EXCEPTION.match(line):
                return line.strip()
    causes = [line for line in meaningful if _CAUSE.search(line)]
    if causes:
        return causes[-1].strip()
    errors = [i for i, line in enumerate(meaningful) if _ERROR.search(line)]
    if errors:
        first = errors[-1]
        while first - 1 in errors:  # the first of the last run of error lines: pip's says which requirement
            first -= 1
        return meaningful[first].strip()
    return meaningful[-1].strip() if meaningful else fallback
