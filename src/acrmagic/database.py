"""SQLite the way acrmagic's stores use it: one file in WAL mode (readers never block the writer), one
connection per thread (sqlite3 connections are not shared between threads), every write one short
`BEGIN IMMEDIATE` transaction (the write lock taken up front, so two writers never deadlock upgrading
a read lock). Several processes at once (kernels, the command line, a scheduler) are safe."""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path
from typing import Callable

from .errors import StoreError


class Database:
    def __init__(self, path: Path, schema: str, what: str,
                 migrate: Callable[[sqlite3.Connection], None] | None = None):
        """Open (or create) `path` with `schema`; `migrate` first updates a file an older acrmagic wrote."""
        self.path = path
        deadline = time.monotonic() + 60
        while True:
            try:
                self._prepare(schema, migrate)
                break
            except sqlite3.OperationalError as e:
                # switching the journal mode and the schema script can meet another process's write; SQLite
                # may answer "locked" at once instead of waiting for it, so wait here
                if "locked" not in str(e) or time.monotonic() > deadline:
                    raise StoreError(f"cannot open the {what} {path}: {e}") from None
                time.sleep(0.05)
            except sqlite3.Error as e:
                raise StoreError(f"cannot open the {what} {path}: {e}") from None
        self._local = threading.local()

    def _prepare(self, schema: str, migrate) -> None:
        db = sqlite3.connect(self.path, timeout=60)
        try:
            if db.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
                db.execute("PRAGMA journal_mode=WAL")  # persistent, for every later connection too
            if migrate is not None:
                migrate(db)
            db.executescript(schema)
        finally:
            db.close()

    def connection(self) -> sqlite3.Connection:
        """This thread's connection."""
        db = getattr(self._local, "db", None)
        if db is None:
            db = self._local.db = sqlite3.connect(self.path, timeout=60, isolation_level=None)
            # WAL + NORMAL: a commit survives a crash of the process; only a power loss may lose the last ones
            db.execute("PRAGMA synchronous=NORMAL")
        return db

    def transaction(self) -> "Transaction":
        """`with db.transaction() as tx: tx.execute(...)`: one IMMEDIATE transaction."""
        return Transaction(self.connection())

    def read(self, sql: str, args=()) -> list:
        return self.connection().execute(sql, args).fetchall()


class Transaction:
    def __init__(self, db: sqlite3.Connection):
        self.db = db

    def execute(self, sql: str, args=()):
        return self.db.execute(sql, args)

    def __enter__(self) -> "Transaction":
        self.db.execute("BEGIN IMMEDIATE")
        return self

    def __exit__(self, exc_type, exc, tb):
        self.db.execute("ROLLBACK" if exc_type else "COMMIT")
