"""Read deltas and snapshots out of a store's change log.

A snapshot replaces the delta when the receiver's cursor is older than the compaction horizon (the
changes it needs were pruned), when it belongs to another epoch of this store, or when the delta
would exceed about half of a snapshot of the same tables.
"""

from __future__ import annotations

import json

from .capture import state
from .delta import Delta, create_tables, seal
from .protocol import Change, Header, column_list

SNAPSHOT_RATIO = 0.5
OUT = "_delta_out"


def last_seq(db) -> int:
    """The newest sequence number this store has ever captured (0 before the first)."""
    row = db.execute("SELECT seq FROM sqlite_sequence WHERE name = '_changes'").fetchone() if db["sqlite_sequence"].exists() else None
    return row[0] if row else 0


def horizon(db) -> int:
    """The oldest sequence still in the log minus one: cursors below it need a snapshot."""
    first = db.execute("SELECT min(seq) FROM _changes").fetchone()[0]
    return (first - 1) if first is not None else last_seq(db)


def _where(tables) -> tuple[str, list]:
    if tables is None:
        return "", []
    names = sorted(tables)
    return f" AND tbl IN ({', '.join('?' for _ in names)})", names


def export_delta(db, since: int, limit: int = 10_000, tables=None) -> Delta:
    """Changes after ``since`` (at most ``limit``), optionally only of ``tables``; ``to_seq`` says how far it reached.

    The rows go from the change log into an attached in-memory delta with one ``INSERT ... SELECT`` and
    the sha256 is computed by SQLite; inside an open transaction (where ``ATTACH`` is refused) the rows
    are read into Python instead.
    """
    if db.conn.in_transaction:
        return _export_rows(db, since, limit, tables)
    where, params = _where(tables)
    conn = db.conn
    conn.execute(f"ATTACH ':memory:' AS {OUT}")
    try:
        create_tables(conn, OUT)
        conn.execute("BEGIN")  # one read snapshot: the rows and the top sequence agree
        try:
            count = conn.execute(f"INSERT INTO {OUT}.changes SELECT {column_list()} FROM main._changes "
                                 f"WHERE seq > ?{where} ORDER BY seq LIMIT ?", [since, *params, limit]).rowcount
            last = conn.execute(f"SELECT max(seq) FROM {OUT}.changes").fetchone()[0]
            top, start = last_seq(db), horizon(db) + 1
        finally:
            conn.execute("COMMIT")
        raw = conn.serialize(name=OUT)
    finally:
        conn.execute(f"DETACH {OUT}")
    header = _delta_header(db, since, last if count == limit else max(top, since), start)
    return Delta(header.replace(count=count), raw=raw)


def _delta_header(db, since: int, to_seq: int, start: int) -> Header:
    info = state(db)
    return Header(origin=info["origin"], epoch=info["epoch"], from_seq=since + 1, to_seq=to_seq, log_start=start)


def _export_rows(db, since: int, limit: int, tables) -> Delta:
    where, params = _where(tables)
    with db.atomic():
        rows = db.execute(f"SELECT {column_list()} FROM _changes WHERE seq > ?{where} ORDER BY seq LIMIT ?",
                          [since, *params, limit]).fetchall()
        top, start = last_seq(db), horizon(db) + 1
    to_seq = rows[-1][0] if len(rows) == limit else max(top, since)
    return seal(_delta_header(db, since, to_seq, start), rows)


def export_snapshot(db, tables: dict, reason: str | None = None) -> Delta:
    """Every row of ``tables`` (name → SyncedTable) as ``S`` changes, valid up to the current sequence."""
    with db.atomic():
        info, to_seq, changes = state(db), last_seq(db), []
        for table in sorted(tables.values(), key=lambda t: t.name):
            if not db[table.name].exists():
                continue
            for row in db[table.name].rows:
                changes.append(Change(to_seq, table.name, row[table.key], "S", json.dumps(row, default=str), info["hlc"],
                                      info["origin"], 0))
        counters = any(t.policy == "counter" for t in tables.values())
        header = Header(origin=info["origin"], epoch=info["epoch"], from_seq=0, to_seq=to_seq, kind="snapshot",
                        tables=tuple(sorted(tables)), cursors=cursors(db) if counters else None, reason=reason)
    return seal(header, changes)


def cursors(db) -> dict:
    """What this store has applied from each origin: ``{origin: {"epoch", "seq"}}``.

    A snapshot carries them when it holds counters: the receiver re-adds its own changes that the snapshot
    does not include yet (those after its cursor here), so that its counters neither lose nor double them.
    """
    return {o: {"epoch": e, "seq": s} for o, e, s in db.execute("SELECT origin, epoch, seq FROM _sync_cursors")}


def needs_snapshot(db, since: int, epoch: str | None, tables: dict) -> bool:
    """Whether a receiver at (``epoch``, ``since``) should get a snapshot rather than a delta."""
    if since == 0 and epoch is None:
        return True
    if epoch != state(db)["epoch"] or since < horizon(db):
        return True
    where, params = _where(tables)
    pending = db.execute(f"SELECT count(*) FROM _changes WHERE seq > ?{where}", [since, *params]).fetchone()[0]
    rows = sum(db[name].count for name in tables if db[name].exists())
    return pending > SNAPSHOT_RATIO * max(rows, 1) and pending > 1000


def prune(db, upto: int) -> int:
    """Drop captured changes up to ``upto`` (acknowledged by the receiver); return how many."""
    with db.atomic():
        return db.execute("DELETE FROM _changes WHERE seq <= ?", [upto]).rowcount
