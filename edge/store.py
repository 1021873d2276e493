"""The local store: one SQLite file in WAL mode, opened through sqlite-utils, with named migrations.

Each plugin contributes a ``sqlite_utils.Migrations`` set; every migration runs in a transaction
together with its record in ``_sqlite_migrations``. Connections are per thread.

Writes go through :func:`write_transaction` (``BEGIN IMMEDIATE``). A deferred transaction (``BEGIN``,
what ``db.atomic()`` opens) that reads before it writes — sqlite-utils' ``insert`` reads the table's
schema first, a trigger or an ``INSERT ... SELECT`` reads rows — takes a WAL read snapshot, and when
another process commits before its first write, SQLite answers ``database is locked`` at once: the
busy timeout cannot help, since waiting would not make the snapshot current. Taking the write lock
first makes every write wait its turn (up to the busy timeout) instead.
"""

from __future__ import annotations

import contextlib
import random
import sqlite3
import threading
import time
from pathlib import Path

import sqlite_utils

STORE_FILE = "store.db"
BUSY_TIMEOUT_MS = 30_000
BEGIN_ATTEMPTS = 4


def connect(path: str | Path) -> sqlite_utils.Database:
    """Open the store at ``path`` with WAL, a busy timeout and foreign keys on."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(str(path), timeout=30, check_same_thread=False)
    db = sqlite_utils.Database(conn)
    if db.journal_mode != "wal":
        db.enable_wal()
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA foreign_keys=ON")
    conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    return db


def _is_busy(exc: sqlite3.OperationalError) -> bool:
    return "locked" in str(exc) or "busy" in str(exc)


def _begin_immediate(conn: sqlite3.Connection, attempts: int) -> None:
    for attempt in range(attempts):
        try:
            conn.execute("BEGIN IMMEDIATE")
            return
        except sqlite3.OperationalError as exc:
            if not _is_busy(exc) or attempt == attempts - 1:
                raise
            time.sleep(random.uniform(0.01, 0.05) * 2 ** attempt)  # after a whole busy timeout: rare


@contextlib.contextmanager
def write_transaction(db: sqlite_utils.Database, attempts: int = BEGIN_ATTEMPTS):
    """A transaction that holds the write lock from its start (``BEGIN IMMEDIATE``), committed on success.

    Every read inside sees the latest committed data, so no write in it can fail with ``database is
    locked``; taking the lock waits up to the busy timeout and is retried ``attempts`` times. Inside an
    open transaction it nests as a savepoint (``db.atomic()``).
    """
    conn = db.conn
    if conn.in_transaction:
        with db.atomic():
            yield db
        return
    _begin_immediate(conn, attempts)
    try:
        yield db
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    try:
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise


def migrate(db: sqlite_utils.Database, migration_sets) -> list[str]:
    """Apply every pending migration of every set; return the names applied, in order."""
    applied = []
    for migrations in migration_sets:
        pending = [m.name for m in migrations.pending(db)]
        migrations.apply(db)
        applied += [f"{migrations.name}:{name}" for name in pending]
    return applied


class Store:
    """Hands each thread its own connection to the node's store file."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._local = threading.local()

    def db(self) -> sqlite_utils.Database:
        """This thread's connection (opened on first use)."""
        db = getattr(self._local, "db", None)
        if db is None:
            db = self._local.db = connect(self.path)
        return db

    def close(self) -> None:
        """Close this thread's connection, if any."""
        db = getattr(self._local, "db", None)
        if db is not None:
            db.close()
            self._local.db = None
