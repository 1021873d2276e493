"""Change capture: the sync tables and generated triggers, with a hybrid logical clock kept in SQL.

Every captured write appends to ``_changes(seq, tbl, pk, op, row, hlc, origin, schema_ver)``. The clock
lives in ``_sync_state.hlc`` as ``physical_ms * 65536 + counter``: each captured write sets it to
``max(hlc + 1, now_ms * 65536)``, and the applier raises it past every remote clock it sees, so clocks
only move forward even when a node's wall clock is skewed.

The triggers are generated from the synced tables and checked at every start-up
(:func:`install_triggers` replaces any that differ, e.g. after ``transform()`` dropped them or
``add_column`` changed the column list). ``_sync_state.applying`` is set by the applier inside its
transaction, so applied changes are neither captured again nor stopped by the guards. The capture
triggers carry no ``WHEN (SELECT applying ...)`` subquery: each of their statements reads the state row
anyway and adds ``applying = 0`` to its own ``WHERE`` (about 1.5 µs less per captured row).

Hub ownership on edges: ``_sync_state.guard = 1`` (set when the node is joined to a hub) makes
BEFORE triggers refuse local writes to hub-owned tables. A standalone node (no hub) keeps guard 0 and
may import its catalog locally (``init --demo``); when it joins a hub, the hub's first snapshot replaces
the hub-owned tables wholesale.
"""

from __future__ import annotations

import secrets

from edge.hookspecs import SyncedTable

from .protocol import LOGGED, column_list
from .tables import edge_sends, hub_captures

LOGGED_LIST = column_list(LOGGED)

SCHEMA = """
CREATE TABLE IF NOT EXISTS _sync_state (
    id INTEGER PRIMARY KEY CHECK (id = 1), origin TEXT, epoch TEXT NOT NULL, hlc INTEGER NOT NULL DEFAULT 0,
    applying INTEGER NOT NULL DEFAULT 0, guard INTEGER NOT NULL DEFAULT 0, acked INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS _changes (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, tbl TEXT NOT NULL, pk, op TEXT NOT NULL, row TEXT,
    hlc INTEGER NOT NULL, origin TEXT, schema_ver INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS _sync_cursors (
    origin TEXT PRIMARY KEY, epoch TEXT NOT NULL, seq INTEGER NOT NULL, hlc INTEGER, updated_at TEXT,
    mark_seq INTEGER, mark_hlc INTEGER);
CREATE TABLE IF NOT EXISTS _sync_retired (origin TEXT NOT NULL, epoch TEXT NOT NULL, PRIMARY KEY (origin, epoch));
CREATE TABLE IF NOT EXISTS _lww_versions (
    tbl TEXT NOT NULL, pk NOT NULL, hlc INTEGER NOT NULL, origin TEXT NOT NULL DEFAULT '',
    deleted INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (tbl, pk));
"""
NOW_MS = "CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)"
LIVE = "id = 1 AND applying = 0"  # the state row, unless the applier is writing (then nothing is captured)
TICK = f"UPDATE _sync_state SET hlc = max(hlc + 1, {NOW_MS} * 65536) WHERE {LIVE};"
NOT_APPLYING = "(SELECT applying FROM _sync_state WHERE id = 1) = 0"
NUMERIC = ("NUMERIC", "DECIMAL")


def ensure_schema(db) -> None:
    """Create the sync tables and the single state row (a fresh epoch) if they are missing."""
    for statement in SCHEMA.strip().split(";\n"):
        if statement.strip():
            db.execute(statement)
    present = {c.name for c in db["_sync_cursors"].columns}
    for column in ("mark_seq", "mark_hlc"):  # the last change applied from the origin (stores made before lack it)
        if column not in present:
            db.execute(f"ALTER TABLE _sync_cursors ADD COLUMN {column} INTEGER")
    db.execute("INSERT OR IGNORE INTO _sync_state (id, epoch) VALUES (1, ?)", [new_epoch()])
    db.conn.commit()


def new_epoch() -> str:
    """A new random epoch id (a store restored from a backup starts a new one)."""
    return secrets.token_hex(8)


def state(db) -> dict:
    """The ``_sync_state`` row."""
    return dict(zip(("origin", "epoch", "hlc", "guard", "acked"),
                    db.execute("SELECT origin, epoch, hlc, guard, acked FROM _sync_state WHERE id = 1").fetchone()))


def schema_version(db) -> int:
    """How many migrations this store has applied (stamped on every captured change)."""
    if not db["_sqlite_migrations"].exists():
        return 0
    return db.execute("SELECT count(*) FROM _sqlite_migrations").fetchone()[0]


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _json_of(columns, ref: str, counters=(), old=None, negate=False) -> str:
    parts = []
    for column in columns:
        value = f"{ref}.{_q(column)}"
        if column in counters:
            value = f"{value} - coalesce({old}.{_q(column)}, 0)" if old else (f"-{value}" if negate else value)
        parts.append(f"'{column}', {value}")
    return "json_object(" + ", ".join(parts) + ")"


def _log(table: SyncedTable, op: str, ref: str, row_json: str, version: int) -> str:
    sql = (f"INSERT INTO _changes ({LOGGED_LIST}) SELECT '{table.name}', "
           f"{ref}.{_q(table.key)}, '{op}', {row_json}, hlc, origin, {version} FROM _sync_state WHERE {LIVE};")
    if table.policy == "last_writer_wins":
        sql += (f" INSERT INTO _lww_versions (tbl, pk, hlc, origin, deleted) SELECT '{table.name}', {ref}.{_q(table.key)}, "
                f"hlc, coalesce(origin, ''), {int(op == 'D')} FROM _sync_state WHERE {LIVE} ON CONFLICT (tbl, pk) DO UPDATE "
                "SET hlc = excluded.hlc, origin = excluded.origin, deleted = excluded.deleted;")
    return sql


def counter_columns(table: SyncedTable, types: dict) -> list[str]:
    """The columns of ``table`` (``types``: column name → declared SQL type) whose changes are differences.

    One rule for capture and for both appliers: a counter table's columns other than the key whose declared
    type counts (:func:`counts`); text, untyped, boolean, date and other columns take the last change's value.
    """
    if table.policy != "counter":
        return []
    return [name for name, kind in types.items() if name != table.key and counts(kind)]


def counts(declared: str | None) -> bool:
    """Whether a column of this declared type holds an amount: integer or real affinity by SQLite's own rules
    (``INT`` anywhere; else ``REAL``/``FLOA``/``DOUB`` without ``CHAR``/``CLOB``/``TEXT``), or ``NUMERIC``/``DECIMAL``."""
    kind = (declared or "").upper()
    if "INT" in kind:
        return True
    if any(text in kind for text in ("CHAR", "CLOB", "TEXT")):
        return False
    return any(real in kind for real in ("REAL", "FLOA", "DOUB")) or kind.startswith(NUMERIC)


def column_types(db, name: str) -> dict:
    """Column name → declared type of table ``name`` (empty when it does not exist)."""
    return {c.name: c.type for c in db[name].columns} if db[name].exists() else {}


def _capture_triggers(db, table: SyncedTable, version: int) -> dict[str, str]:
    columns = [c.name for c in db[table.name].columns]
    counters = counter_columns(table, column_types(db, table.name))
    key = _q(table.key)
    name, on = f"_sync_{table.name}", f"ON {_q(table.name)}"  # no WHEN subquery: each statement checks LIVE
    update_body = (f"{TICK} INSERT INTO _changes ({LOGGED_LIST}) SELECT '{table.name}', OLD.{key}, 'D', "
                   f"json_object('{table.key}', OLD.{key}), hlc, origin, {version} FROM _sync_state WHERE {LIVE} AND OLD.{key} IS NOT NEW.{key}; "
                   + _log(table, "U", "NEW", _json_of(columns, "NEW", counters, "OLD"), version))
    delete_row = _json_of(columns, "OLD", counters, negate=True) if counters else f"json_object('{table.key}', OLD.{key})"
    return {
        f"{name}_ins": f"CREATE TRIGGER {name}_ins AFTER INSERT {on} BEGIN {TICK} "
                       f"{_log(table, 'I', 'NEW', _json_of(columns, 'NEW', counters), version)} END",
        f"{name}_upd": f"CREATE TRIGGER {name}_upd AFTER UPDATE {on} BEGIN {update_body} END",
        f"{name}_del": f"CREATE TRIGGER {name}_del AFTER DELETE {on} BEGIN {TICK} "
                       f"{_log(table, 'D', 'OLD', delete_row, version)} END",
    }


def _guard_triggers(table: SyncedTable) -> dict[str, str]:
    message = (f"{table.name} is owned by the hub and read-only on this node; change it on the hub "
               "(e.g. storefront-edge hub publish-catalog)")
    when = f"WHEN {NOT_APPLYING} AND (SELECT guard FROM _sync_state WHERE id = 1) = 1"
    return {f"_sync_{table.name}_guard_{op[:3].lower()}":
            f"CREATE TRIGGER _sync_{table.name}_guard_{op[:3].lower()} BEFORE {op} ON {_q(table.name)} {when} "
            f"BEGIN SELECT RAISE(ABORT, '{message}'); END" for op in ("INSERT", "UPDATE", "DELETE")}


def expected_triggers(db, tables: dict[str, SyncedTable], role: str) -> dict[str, str]:
    """The trigger SQL a store of ``role`` (``edge`` or ``hub``) should have, by trigger name."""
    version, wanted = schema_version(db), {}
    for table in tables.values():
        if not db[table.name].exists():
            continue
        sends = edge_sends(table) if role == "edge" else hub_captures(table)
        if sends:
            wanted.update(_capture_triggers(db, table, version))
        if role == "edge" and table.policy == "hub_owned":
            wanted.update(_guard_triggers(table))
    return wanted


def install_triggers(db, tables: dict[str, SyncedTable], role: str) -> list[str]:
    """Check the sync triggers and (re)create every missing or stale one, in one transaction; return their names."""
    ensure_schema(db)
    wanted = expected_triggers(db, tables, role)
    changed = []
    with db.atomic():
        present = dict(db.execute("SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND name LIKE '\\_sync\\_%' ESCAPE '\\'").fetchall())
        for name in sorted(set(present) - set(wanted)):
            db.execute(f"DROP TRIGGER {_q(name)}")
            changed.append(name)
        for name, sql in wanted.items():
            if present.get(name) != sql:
                if name in present:
                    db.execute(f"DROP TRIGGER {_q(name)}")
                db.execute(sql)
                changed.append(name)
    return changed


def set_guard(db, on: bool) -> None:
    """Turn the hub-ownership guard on (node joined to a hub) or off (standalone)."""
    with db.atomic():
        db.execute("UPDATE _sync_state SET guard = ? WHERE id = 1", [int(on)])


def node_origin(db) -> str | None:
    """This store's origin name once the node has joined a hub (``None`` before: the hub stamps it); one query."""
    import sqlite3

    try:
        row = db.execute("SELECT origin FROM _sync_state WHERE id = 1").fetchone()
    except sqlite3.OperationalError as exc:
        if "no such table" not in str(exc):
            raise  # a store that cannot be read is no answer that the node never joined a hub
        return None  # no _sync_state table: the node never joined a hub
    return row[0] if row else None


def set_origin(db, origin: str) -> None:
    """Record this store's origin name (the node's name at the hub, or ``hub``)."""
    with db.atomic():
        db.execute("UPDATE _sync_state SET origin = ? WHERE id = 1", [origin])


def recapture(db, table: SyncedTable, origin: str) -> int:
    """Log every row of append-only ``table`` again as an insert (after a hub lost them); return how many.

    The hub inserts append-only rows with ``ON CONFLICT DO NOTHING``, so rows it kept are not doubled.
    """
    columns = [c.name for c in db[table.name].columns]
    row = _json_of(columns, "t")
    return db.execute(f"INSERT INTO _changes ({LOGGED_LIST}) SELECT '{table.name}', t.{_q(table.key)}, 'I', {row}, "
                      f"(SELECT hlc FROM _sync_state WHERE id = 1), ?, {schema_version(db)} FROM {_q(table.name)} t "
                      f"ORDER BY t.rowid", [origin]).rowcount
