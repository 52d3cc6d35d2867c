"""One log vocabulary, read back: a run's log -> the events that wrote it (step states, step lines).

The run recorder writes every event as a line (`Event.line()`); this turns such lines back into
events, so the replay of a recorded run and an ACR log blob followed as it streams fill the same
views. Three shapes of line:

    #<n> <text>       a BuildKit vertex of a quick build: its name first, then `CACHED <name>`,
                      `DONE <s>s` or `ERROR[ <s>s]: <message>`, or a line of its output
    [<step>] <text>   a task step's line, as the local target labels them
    <text>            a run-level line; or acr-builder's own step lines (`Executing step ID: ...`,
                      `Step ID: ... marked as ...`, see taskfile/steplog.py), with or without its
                      timestamp. An ACR agent does not label a step's output, so an unlabelled line
                      (a `#<n>` line too) belongs to the one step running, when exactly one is.
"""

from __future__ import annotations

import re
from typing import Iterable

from .events import Event, LogEvent, StepEvent, StepRecord
from .states import STEP_CACHED, STEP_FAILED, STEP_RUNNING, STEP_SUCCEEDED
from .taskfile.steplog import STARTED, parse_step_line

_VERTEX = re.compile(r"^#(\d+) (.*)$")
_DONE = re.compile(r"^DONE(?: (\d+(?:\.\d+)?)s)?$")
_ERROR = re.compile(r"^ERROR(?: (\d+(?:\.\d+)?)s)?: (.*)$")
_LABELLED = re.compile(r"^\[([^\]\s]+)\] (.*)$")


class LogReader:
    """Feed it lines (`line`) or chunks of a stream (`feed`, then `flush`); it returns events.

    `steps` are the steps a record already knows (a task's plan), so their numbers stay the same."""

    def __init__(self, steps: Iterable[StepRecord] = ()):
        self.numbers: dict[str, int] = {s.name: s.number for s in steps}
        self.vertices: dict[int, str] = {}  # BuildKit vertex number -> its name
        self.running: list[str] = []  # task steps acr-builder said are executing, in order
        self._partial = ""

    # -- streaming ------------------------------------------------------------------------------------
    def feed(self, chunk: str) -> list[Event]:
        """A piece of a log as it arrives (CRLF or LF line ends); a partial last line waits for the next."""
        lines = (self._partial + chunk).split("\n")
        self._partial = lines.pop()
        return [ev for line in lines for ev in self.line(line)]

    def flush(self) -> list[Event]:
        rest, self._partial = self._partial, ""
        return self.line(rest) if rest.strip("\r") else []

    # -- one line -------------------------------------------------------------------------------------
    def line(self, text: str) -> list[Event]:
        text = text.rstrip("\r\n")
        m = _VERTEX.match(text)
        if m and len(self.running) != 1:  # inside an ACR step, a build's vertex lines are that step's output
            return [self._vertex(int(m.group(1)), m.group(2))]
        m = _LABELLED.match(text)
        if m and (m.group(1) in self.numbers or self._step_line(m.group(2)) is not None):
            return self._task_line(m.group(1), m.group(2))
        return self._task_line(None, text)

    def _vertex(self, number: int, text: str) -> Event:
        name = self.vertices.get(number)
        if name is None:
            cached = text.startswith("CACHED ")
            name = self.vertices[number] = text[len("CACHED "):] if cached else text
            return StepEvent(name, STEP_CACHED if cached else STEP_RUNNING, number, duration=0.0 if cached else None)
        if text in (name, f"CACHED {name}"):
            return StepEvent(name, STEP_CACHED if text != name else STEP_RUNNING, number)
        done, error = _DONE.match(text), _ERROR.match(text)
        if done:
            return StepEvent(name, STEP_SUCCEEDED, number, duration=_seconds(done.group(1)))
        if error:
            return StepEvent(name, STEP_FAILED, number, duration=_seconds(error.group(1)), error=error.group(2))
        return LogEvent(text, step=name, number=number)

    def _task_line(self, label: str | None, text: str) -> list[Event]:
        parsed = self._step_line(text)
        if parsed is not None:
            kind, step, state, elapsed = parsed
            number = self._number(step)
            if kind == STARTED:
                if step not in self.running:
                    self.running.append(step)
                return [LogEvent(text, step=step, number=number, label=f"[{step}]"),
                        StepEvent(step, STEP_RUNNING, number, logged=False)]
            if step in self.running:
                self.running.remove(step)
            return [LogEvent(text, step=step, number=number, label=f"[{step}]"),
                    StepEvent(step, state, number, duration=elapsed, logged=False)]
        if label is None and len(self.running) == 1:  # an ACR agent's unlabelled output of the one running step
            label = self.running[0]
        if label is None:
            return [LogEvent(text)]
        return [LogEvent(text, step=label, number=self._number(label), label=f"[{label}]")]

    @staticmethod
    def _step_line(text: str):
        return parse_step_line(text)

    def _number(self, step: str) -> int:
        if step not in self.numbers:
            self.numbers[step] = max([0, *self.numbers.values(), *self.vertices]) + 1
        return self.numbers[step]


def _seconds(text: str | None) -> float | None:
    return float(text) if text else None


def read_log(lines: Iterable[str], steps: Iterable[StepRecord] = ()) -> list[Event]:
    """Every event a whole log holds."""
    reader = LogReader(steps)
    return [ev for line in lines for ev in reader.line(line)]
