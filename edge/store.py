"""The local store: one SQLite file in WAL mode, opened through sqlite-utils, with named migrations.

Each plugin contributes a ``sqlite_utils.Migrations`` set; every migration runs in a transaction
together with its record in ``_sqlite_migrations``. Connections are per thread.
"""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import sqlite_utils

STORE_FILE = "store.db"


def connect(path: str | Path) -> sqlite_utils.Database:
    """Open the store at ``path`` with WAL, a busy timeout and foreign keys on."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(str(path), timeout=30, check_same_thread=False)
    db = sqlite_utils.Database(conn)
    if db.journal_mode != "wal":
        db.enable_wal()
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA foreign_keys=ON")
    conn.execute("PRAGMA busy_timeout=30000")
    return db


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
