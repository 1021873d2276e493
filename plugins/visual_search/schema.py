"""Full-text search over the catalog: an FTS5 table (BM25) on ``catalog_items(title, description)``.

The FTS table reads its text from ``catalog_items`` (external content) and three triggers keep it in
step with inserts, updates and deletes. ``ensure_fts`` is idempotent and runs both as this plugin's
migration and at every start-up, because the catalog table may be created after this migration set
runs, and because sqlite-utils ``transform()`` drops a table's triggers silently: missing triggers
are re-created and the index rebuilt. Writers should upsert catalog rows (which keeps their rowid);
``INSERT OR REPLACE`` bypasses delete triggers and leaves stale terms until the next rebuild.
"""

from __future__ import annotations

import sqlite3

from sqlite_utils import Migrations

TABLE, FTS = "catalog_items", "catalog_items_fts"
COLUMNS = ("title", "description")
TRIGGERS = {
    f"{FTS}_ai": f"AFTER INSERT ON {TABLE} BEGIN "
                 f"INSERT INTO {FTS}(rowid, title, description) VALUES (new.rowid, new.title, new.description); END",
    f"{FTS}_ad": f"AFTER DELETE ON {TABLE} BEGIN "
                 f"INSERT INTO {FTS}({FTS}, rowid, title, description) VALUES ('delete', old.rowid, old.title, old.description); END",
    f"{FTS}_au": f"AFTER UPDATE ON {TABLE} BEGIN "
                 f"INSERT INTO {FTS}({FTS}, rowid, title, description) VALUES ('delete', old.rowid, old.title, old.description); "
                 f"INSERT INTO {FTS}(rowid, title, description) VALUES (new.rowid, new.title, new.description); END",
}

migrations = Migrations("visual_search")


def _names(conn, kind: str) -> set[str]:
    return {row[0] for row in conn.execute("select name from sqlite_master where type = ?", [kind])}


def ensure_fts(db) -> bool:
    """Create the FTS table and its triggers where missing (then rebuild); return whether anything changed."""
    conn = db.conn
    if TABLE not in _names(conn, "table"):
        return False
    if FTS in _names(conn, "table") and set(TRIGGERS) <= _names(conn, "trigger"):
        return False
    own = not conn.in_transaction
    if own:
        conn.execute("BEGIN IMMEDIATE")
    try:
        conn.execute(f"CREATE VIRTUAL TABLE IF NOT EXISTS {FTS} USING fts5(title, description, content='{TABLE}', "
                     "content_rowid='rowid', tokenize='porter unicode61 remove_diacritics 2')")
        for name, body in TRIGGERS.items():
            conn.execute(f"CREATE TRIGGER IF NOT EXISTS {name} {body}")
        conn.execute(f"INSERT INTO {FTS}({FTS}) VALUES ('rebuild')")
    except sqlite3.Error:
        if own:
            conn.execute("ROLLBACK")
        raise
    if own:
        conn.execute("COMMIT")
    return True


@migrations()
def catalog_text_search(db):
    """Full-text search on catalog titles and descriptions (when the catalog table exists)."""
    ensure_fts(db)
