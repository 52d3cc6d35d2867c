"""The run store: SQLite (WAL) under ACRMAGIC_HOME, one row per run, logs as files beside it.

Several writers at once (kernels, the command line, a scheduler) are safe: every write is one short
`BEGIN IMMEDIATE` transaction, and run IDs come from a counter bumped inside that transaction.
A run left Queued/Running by a process that has died is marked Error when a store is next opened.
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
from pathlib import Path

from .. import config
from ..acrspec import base36
from ..database import Database, Transaction
from ..owner import process_start
from ..errors import RunNotFound, shown
from ..states import ERROR, QUEUED, RUNNING, STEP_CANCELED, STEP_QUEUED, STEP_RUNNING, STEP_SKIPPED
from .model import Run, now

ID_PREFIX = "la"  # local runs; ACR's IDs are two letters + a base-36 counter too (ca1, ca2, ...)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS runs (
    seq INTEGER PRIMARY KEY,
    run_id TEXT UNIQUE NOT NULL,
    status TEXT NOT NULL,
    task TEXT,
    owner_host TEXT,
    owner_pid INTEGER,
    owner_start TEXT,
    cancel_requested INTEGER NOT NULL DEFAULT 0,
    cancel_ref TEXT,
    record TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS runs_status ON runs(status);
"""


def _migrate(db: sqlite3.Connection) -> None:
    columns = {row[1] for row in db.execute("PRAGMA table_info(runs)")}
    if "engine_ref" in columns:  # a store written before targets had cancel references
        db.execute("ALTER TABLE runs RENAME COLUMN engine_ref TO cancel_ref")


class RunStore:
    def __init__(self, home: str | os.PathLike | None = None):
        self.home = Path(home) if home else config.home()
        self.home.mkdir(parents=True, exist_ok=True)
        self.path = self.home / "runs.sqlite"
        self.logs = self.home / "logs"
        self.logs.mkdir(exist_ok=True)
        self.db = Database(self.path, _SCHEMA, "run store", migrate=_migrate)
        self.reap_orphans()

    # -- writing ---------------------------------------------------------------------------------
    def reserve_id(self, prefix: str = ID_PREFIX) -> str:
        """The next run ID of this store (for targets that do not assign their own)."""
        with self.db.transaction() as db:
            return self._next_id(db, prefix)

    @staticmethod
    def _next_id(db: Transaction, prefix: str) -> str:
        row = db.execute("SELECT value FROM counters WHERE name=?", (prefix,)).fetchone()
        n = (row[0] if row else 0) + 1
        db.execute("INSERT INTO counters(name, value) VALUES(?, ?) ON CONFLICT(name) DO UPDATE SET value=?",
                   (prefix, n, n))
        return prefix + base36(n)

    def create(self, run: Run, prefix: str = ID_PREFIX) -> Run:
        """Store `run` with this process as its owner and a log file; a run without an ID gets the next one."""
        pid = os.getpid()
        with self.db.transaction() as db:
            if not run.run_id:
                run.run_id = self._next_id(db, prefix)
            else:
                self._set_aside(db, run.run_id)
            run.log_path = str(self.logs / f"{run.run_id}.log")
            db.execute("INSERT INTO runs(run_id, status, task, owner_host, owner_pid, owner_start, cancel_ref, record) "
                       "VALUES(?, ?, ?, ?, ?, ?, ?, ?)",
                       (run.run_id, run.status, run.task, socket.gethostname(), pid, process_start(pid),
                        run.cancel_ref, json.dumps(run.to_record())))
        Path(run.log_path).touch()
        return run

    def _set_aside(self, db: Transaction, run_id: str) -> None:
        """A service that gives its own IDs can give one again (two registries, a restarted emulator):
        the earlier run keeps its record as `<id>~<n>`, and the ID names the run just started."""
        row = db.execute("SELECT seq, record FROM runs WHERE run_id=?", (run_id,)).fetchone()
        if row is None:
            return
        seq, record = row
        old = Run.from_record(json.loads(record))
        old.run_id = f"{run_id}~{seq}"
        if old.log_path and Path(old.log_path).exists():  # its log goes with it
            moved = Path(old.log_path).with_name(f"{old.run_id}.log")
            Path(old.log_path).replace(moved)
            old.log_path = str(moved)
        db.execute("UPDATE runs SET run_id=?, record=? WHERE seq=?", (old.run_id, json.dumps(old.to_record()), seq))

    def save(self, run: Run) -> None:
        with self.db.transaction() as db:
            db.execute("UPDATE runs SET status=?, task=?, record=? WHERE run_id=?",
                       (run.status, run.task, json.dumps(run.to_record()), run.run_id))

    def request_cancel(self, run_id: str) -> None:
        """Flag a run for cancel: the process that owns it sees the flag and stops it."""
        with self.db.transaction() as db:
            if db.execute("SELECT 1 FROM runs WHERE run_id=?", (run_id,)).fetchone() is None:
                raise RunNotFound(f"no run {shown(run_id)} in {self.path}")
            db.execute("UPDATE runs SET cancel_requested=1 WHERE run_id=?", (run_id,))

    def owner_alive(self, run_id: str) -> bool:
        """Is the process that records this run still running (on this host)?"""
        rows = self.db.read("SELECT owner_host, owner_pid, owner_start FROM runs WHERE run_id=?", (run_id,))
        if not rows:
            return False
        host, pid, start = rows[0]
        return host == socket.gethostname() and bool(pid) and start is not None and process_start(pid) == start

    def cancel_requested(self, run_id: str) -> bool:
        rows = self.db.read("SELECT cancel_requested FROM runs WHERE run_id=?", (run_id,))
        return bool(rows and rows[0][0])

    def reap_orphans(self) -> list[str]:
        """Mark Error the unfinished runs of this host whose owning process no longer exists."""
        host = socket.gethostname()
        with self.db.transaction() as db:
            rows = db.execute("SELECT run_id, owner_pid, owner_start, record FROM runs "
                              "WHERE status IN (?, ?) AND owner_host=?", (QUEUED, RUNNING, host)).fetchall()
            reaped = []
            for run_id, pid, start, record in rows:
                if pid and process_start(pid) == start and start is not None:
                    continue  # still running
                run = Run.from_record(json.loads(record))
                if run.backend != "local":  # a cloud run goes on in its registry without the process that started it
                    continue
                run.status, run.finish_time = ERROR, now()
                run.error = f"the process that ran it (pid {pid}) exited before the run finished"
                for step in run.steps:
                    if step.status in (STEP_QUEUED, STEP_RUNNING):
                        step.status = STEP_CANCELED if step.status == STEP_RUNNING else STEP_SKIPPED
                db.execute("UPDATE runs SET status=?, record=? WHERE run_id=?",
                           (run.status, json.dumps(run.to_record()), run_id))
                reaped.append(run_id)
        return reaped

    # -- reading ---------------------------------------------------------------------------------
    def get(self, run_id: str) -> Run:
        rows = self.db.read("SELECT record FROM runs WHERE run_id=?", (run_id,))
        if not rows:
            raise RunNotFound(f"no run {shown(run_id)} in {self.path}")
        return Run.from_record(json.loads(rows[0][0]))

    @staticmethod
    def _where(status: str | None, task: str | None, text: str | None) -> tuple[str, list]:
        where, args = [], []
        if status:
            where.append("status = ? COLLATE NOCASE")
            args.append(status)
        if task:
            where.append("task = ?")
            args.append(task)
        if text:  # anywhere in the record: run ID, images, errors, source
            where.append("(run_id LIKE ? OR record LIKE ?)")
            args += [f"%{text}%", f"%{text}%"]
        return (" WHERE " + " AND ".join(where) if where else ""), args

    def list(self, status: str | None = None, task: str | None = None, top: int | None = None,
             text: str | None = None, offset: int = 0) -> list[Run]:
        """Runs, newest first, optionally filtered by status, task name and text; `top` at most, from `offset`."""
        where, args = self._where(status, task, text)
        sql = f"SELECT record FROM runs{where} ORDER BY seq DESC"
        if top or offset:
            sql += " LIMIT ? OFFSET ?"
            args += [int(top) if top else -1, int(offset)]
        return [Run.from_record(json.loads(r[0])) for r in self.db.read(sql, args)]

    def count(self, status: str | None = None, task: str | None = None, text: str | None = None) -> int:
        where, args = self._where(status, task, text)
        return self.db.read(f"SELECT COUNT(*) FROM runs{where}", args)[0][0]


__all__ = ["RunStore"]
