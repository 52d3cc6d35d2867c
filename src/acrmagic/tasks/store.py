"""The task store: task definitions, their trigger state and the trigger outbox, in
ACRMAGIC_HOME/tasks.sqlite (WAL), apart from the run store.

    tasks   one row per task: the Task JSON (no secrets) and its trigger state (last commit seen,
            base-image digests watched, each timer's next occurrence, the last trigger error)
    fires   the outbox: a trigger that fired, waiting for (or linked to) the run it started

A trigger fires in one transaction that both advances the trigger state and adds the fire, so a
scheduler that dies at any point neither forgets a fire (it is in the outbox) nor fires twice (the
state moved with it). Starting the run from the outbox is checked against the run store by the
fire's payload, so a fire whose run was recorded just before a crash is linked, not run again.
"""

from __future__ import annotations

import json
import os
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from .. import config
from ..database import Database
from ..errors import UsageError
from ..runs.model import now
from .trigger_state import TimerState, TriggerState

PENDING, STARTED, DONE = "pending", "started", "done"
KEEP = object()  # `replace(commit_baseline=KEEP)`: the commit baseline stays as it is

_SCHEMA = """
CREATE TABLE IF NOT EXISTS tasks (
    name TEXT PRIMARY KEY COLLATE NOCASE,
    resource TEXT NOT NULL,
    state TEXT NOT NULL DEFAULT '{}'
);
CREATE TABLE IF NOT EXISTS fires (
    seq INTEGER PRIMARY KEY,
    id TEXT UNIQUE NOT NULL,
    task TEXT NOT NULL COLLATE NOCASE,
    kind TEXT NOT NULL,
    payload TEXT NOT NULL,
    created TEXT NOT NULL,
    status TEXT NOT NULL,
    run_id TEXT,
    run_status TEXT,
    error TEXT
);
CREATE INDEX IF NOT EXISTS fires_open ON fires(status);
"""


@dataclass
class Fire:
    """A trigger that fired: what kind (Commit, Image Update, Timer), its ACR-shaped payload, its run."""

    id: str
    task: str
    kind: str
    payload: dict
    created: str
    status: str = PENDING
    run_id: str | None = None
    run_status: str | None = None
    error: str | None = None


def new_fire_id() -> str:
    return "trg-" + uuid.uuid4().hex[:16]


class TaskStore:
    def __init__(self, home: str | os.PathLike | None = None):
        self.home = Path(home) if home else config.home()
        self.home.mkdir(parents=True, exist_ok=True)
        self.path = self.home / "tasks.sqlite"
        self.db = Database(self.path, _SCHEMA, "task store")

    # -- definitions --------------------------------------------------------------------------------------
    def create(self, resource: dict, state: TriggerState | dict) -> None:
        state = state.to_json() if isinstance(state, TriggerState) else state
        with self.db.transaction() as db:
            if db.execute("SELECT 1 FROM tasks WHERE name=?", (resource["name"],)).fetchone():
                raise UsageError(f"task {resource['name']} already exists (update it, or delete it first)")
            db.execute("INSERT INTO tasks(name, resource, state) VALUES(?, ?, ?)",
                       (resource["name"], json.dumps(resource), json.dumps(state)))

    def get(self, name: str) -> dict:
        rows = self.db.connection().execute("SELECT resource FROM tasks WHERE name=?", (name,)).fetchall()
        if not rows:
            raise UsageError(f"no task {name!r} (acrmagic task list shows the tasks)")
        return json.loads(rows[0][0])

    def names(self) -> list[str]:
        return [r[0] for r in self.db.connection().execute("SELECT name FROM tasks ORDER BY name")]

    def list(self) -> list[dict]:
        return [json.loads(r[0]) for r in self.db.connection().execute("SELECT resource FROM tasks ORDER BY name")]

    def all(self) -> list[tuple[dict, dict]]:
        """Every task with its trigger state, in one read (what a scheduler tick starts from)."""
        return [(json.loads(r), json.loads(s)) for r, s in
                self.db.connection().execute("SELECT resource, state FROM tasks ORDER BY name")]

    def all_text(self) -> list[tuple[str, str, str]]:
        """(name, Task JSON, state JSON) of every task, unparsed: a scheduler parses only what changed."""
        return self.db.connection().execute("SELECT name, resource, state FROM tasks ORDER BY name").fetchall()

    def replace(self, resource: dict, state_change: Callable[[dict], None] | None = None, *,
                commit_baseline=KEEP, timers: dict[str, TimerState] | None = None,
                keep_timers: set[str] = frozenset()) -> None:
        """A new definition of the task, and in the same transaction where its triggers start from:
        `commit_baseline` (unless KEEP), `timers` fresh except those named in `keep_timers`.
        (`state_change` edits the JSON directly: for callers not yet on the named changes.)"""
        with self.db.transaction() as db:
            row = db.execute("SELECT state FROM tasks WHERE name=?", (resource["name"],)).fetchone()
            if row is None:
                raise UsageError(f"no task {resource['name']!r}")
            state = json.loads(row[0])
            if state_change:
                state_change(state)
            if commit_baseline is not KEEP or timers is not None:
                typed = TriggerState.from_json(state)
                if commit_baseline is not KEEP:
                    typed.set_commit_baseline(commit_baseline)
                if timers is not None:
                    typed.restart_timers(timers, keep_timers)
                state = typed.to_json()
            db.execute("UPDATE tasks SET resource=?, state=? WHERE name=?",
                       (json.dumps(resource), json.dumps(state), resource["name"]))

    def delete(self, name: str) -> None:
        with self.db.transaction() as db:
            if db.execute("DELETE FROM tasks WHERE name=?", (name,)).rowcount == 0:
                raise UsageError(f"no task {name!r}")
            db.execute("UPDATE fires SET status=?, error=? WHERE task=? AND status=?",
                       (DONE, "the task was deleted", name, PENDING))

    # -- trigger state ----------------------------------------------------------------------------------------
    def state(self, name: str) -> dict:
        rows = self.db.connection().execute("SELECT state FROM tasks WHERE name=?", (name,)).fetchall()
        if not rows:
            raise UsageError(f"no task {name!r}")
        return json.loads(rows[0][0])

    def trigger_state(self, name: str) -> TriggerState:
        return TriggerState.from_json(self.state(name))

    # named changes, each one transaction on the state as stored now (nothing happens when the task is gone)
    def set_commit_baseline(self, name: str, head: str | None) -> None:
        self._change(name, lambda s: s.set_commit_baseline(head))

    def add_timers(self, name: str, fresh: dict[str, TimerState]) -> None:
        self._change(name, lambda s: s.add_timers(fresh))

    def learn_base_images(self, name: str, watch: dict[str, str], outputs: list[str]) -> None:
        self._change(name, lambda s: s.learn_base_images(watch, outputs))

    def set_trigger_errors(self, name: str, errors: dict[str, str]) -> None:
        self._change(name, lambda s: s.set_errors(errors))

    def record_trigger_error(self, name: str, trigger: str, message: str) -> None:
        self._change(name, lambda s: s.record_error(trigger, message))

    def clear_trigger_error(self, name: str, trigger: str) -> None:
        self._change(name, lambda s: s.clear_error(trigger))

    # named fires: the trigger advances and the fire is added in one transaction, or neither
    def fire_commit(self, name: str, kind: str, payload: dict, seen: str | None, head: str) -> Fire | None:
        return self._fire(name, kind, payload, lambda s: s.advance_commit(seen, head))

    def fire_timer(self, name: str, kind: str, payload: dict, timer: str, seen_next: str,
                   new: TimerState) -> Fire | None:
        return self._fire(name, kind, payload, lambda s: s.advance_timer(timer, seen_next, new))

    def fire_base_images(self, name: str, kind: str, payload: dict, images: list[dict]) -> Fire | None:
        return self._fire(name, kind, payload, lambda s: s.advance_base_images(images))

    def _change(self, name: str, change: Callable[[TriggerState], None]) -> None:
        self.change_state(name, lambda data: _typed(data, change))

    def _fire(self, name: str, kind: str, payload: dict, advance: Callable[[TriggerState], bool]) -> Fire | None:
        return self.fire(name, kind, payload, lambda data: None if _typed(data, advance) else False)

    def change_state(self, name: str, change: Callable[[dict], None]) -> dict | None:
        """Apply `change` to the task's current state (its JSON) in one transaction (None: the task is
        gone). The named changes above are built on it."""
        with self.db.transaction() as db:
            row = db.execute("SELECT state FROM tasks WHERE name=?", (name,)).fetchone()
            if row is None:
                return None
            state = json.loads(row[0])
            change(state)
            db.execute("UPDATE tasks SET state=? WHERE name=?", (json.dumps(state), name))
            return state

    def fire(self, name: str, kind: str, payload: dict, change: Callable[[dict], bool | None]) -> Fire | None:
        """Advance the trigger state with `change` and add the fire, atomically. `change` sees the state
        as stored now and returns False when the trigger has already moved on (another writer fired it)."""
        fire = Fire(payload.get("id") or new_fire_id(), name, kind, payload, now())
        with self.db.transaction() as db:
            row = db.execute("SELECT state FROM tasks WHERE name=?", (name,)).fetchone()
            if row is None:
                return None
            state = json.loads(row[0])
            if change(state) is False:
                return None
            db.execute("UPDATE tasks SET state=? WHERE name=?", (json.dumps(state), name))
            db.execute("INSERT INTO fires(id, task, kind, payload, created, status) VALUES(?, ?, ?, ?, ?, ?)",
                       (fire.id, name, kind, json.dumps(payload), fire.created, PENDING))
        return fire

    # -- the outbox ---------------------------------------------------------------------------------------------
    def open_fires(self) -> list[Fire]:
        """Fires not done yet, oldest first."""
        rows = self.db.connection().execute("SELECT id, task, kind, payload, created, status, run_id, run_status, error "
                                  "FROM fires WHERE status != ? ORDER BY seq", (DONE,)).fetchall()
        return [Fire(r[0], r[1], r[2], json.loads(r[3]), *r[4:]) for r in rows]

    def fires(self, task: str | None = None, top: int = 50) -> list[Fire]:
        where, args = ("WHERE task=?", [task]) if task else ("", [])
        rows = self.db.connection().execute(f"SELECT id, task, kind, payload, created, status, run_id, run_status, error "
                                  f"FROM fires {where} ORDER BY seq DESC LIMIT ?", (*args, top)).fetchall()
        return [Fire(r[0], r[1], r[2], json.loads(r[3]), *r[4:]) for r in rows]

    def mark(self, fire_id: str, status: str, run_id: str | None = None, run_status: str | None = None,
             error: str | None = None) -> None:
        with self.db.transaction() as db:
            db.execute("UPDATE fires SET status=?, run_id=COALESCE(?, run_id), run_status=COALESCE(?, run_status), "
                       "error=COALESCE(?, error) WHERE id=?", (status, run_id, run_status, error, fire_id))


def _typed(data: dict, change: Callable[[TriggerState], bool | None]):
    """Run a typed change on a state's JSON in place; what the change returned."""
    state = TriggerState.from_json(data)
    result = change(state)
    data.clear()
    data.update(state.to_json())
    return result
