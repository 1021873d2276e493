"""Apply a checked edge delta to the PostgreSQL hub: idempotent, by table policy, cursor in the same transaction.

The same rules as :class:`edge.sync.apply.Applier` on a SQLite hub: a delta starting after ``seq + 1``
is a gap (409), changes at or below the cursor are skipped, a new epoch must start at the beginning of
the sender's log and retires the old one. Pushes of one origin are serialised by an advisory lock.
Append-only rows are inserted keyed by ``(origin, key)`` with ``ON CONFLICT DO NOTHING``; shared rows
follow last-writer-wins by (clock, origin) with tombstones and are re-logged for the other edges;
counters add the captured differences and are re-logged too (an edge skips its own that come back).
"""

from __future__ import annotations

import json

from . import pg_log
from .base import HUB_ORIGIN, now
from .pg_schema import SHARED, key_text, q

UPSERT = ("INSERT INTO {t} AS old (origin, key, row, hlc, writer, deleted) VALUES (%s, %s, %s::jsonb, %s, %s, %s) "
          "ON CONFLICT (origin, key) DO UPDATE SET row = CASE WHEN excluded.deleted OR old.deleted THEN excluded.row "
          "ELSE old.row || excluded.row END, hlc = excluded.hlc, writer = excluded.writer, deleted = excluded.deleted")


def cursor(cur, origin: str) -> tuple[str | None, int]:
    """``(epoch, seq)`` applied so far from ``origin`` (``(None, 0)`` before its first delta)."""
    row = cur.execute("SELECT epoch, seq FROM hub_cursors WHERE origin = %s", [origin]).fetchone()
    return (row["epoch"], row["seq"]) if row else (None, 0)


def start_from(cur, origin: str, meta: dict) -> int:
    """The cursor seq to apply after; raises 409 for a retired epoch or a gap (rules in ``plan_start``)."""
    from edge.sync.apply import plan_start

    epoch, seq = cursor(cur, origin)
    retired = cur.execute("SELECT 1 FROM hub_retired WHERE origin = %s AND epoch = %s", [origin, meta["epoch"]]).fetchone()
    start, retire = plan_start(epoch, seq, bool(retired), origin, meta)
    if retire is not None:
        cur.execute("INSERT INTO hub_retired VALUES (%s, %s) ON CONFLICT DO NOTHING", [origin, retire])
    return start


def set_cursor(cur, origin: str, epoch: str, seq: int, hlc: int | None, top: int) -> None:
    """Record what was applied from ``origin`` and the highest clock it sent (the hub's clock passes it)."""
    cur.execute("INSERT INTO hub_cursors (origin, epoch, seq, hlc, max_hlc, updated_at) VALUES (%s, %s, %s, %s, %s, %s) "
                "ON CONFLICT (origin) DO UPDATE SET epoch = excluded.epoch, seq = excluded.seq, hlc = excluded.hlc, "
                "max_hlc = greatest(hub_cursors.max_hlc, excluded.max_hlc), updated_at = excluded.updated_at",
                [origin, epoch, seq, hlc, top, now()])


class Writer:
    """Writes one delta's changes by policy; append-only inserts and re-logged changes are batched."""

    def __init__(self, cur, tables: dict, origin: str):
        self.cur, self.tables, self.origin = cur, tables, origin
        self.inserts: dict[str, list] = {}
        self.relog: list[tuple] = []

    def one(self, change: tuple) -> None:
        """Apply one change ``(seq, tbl, pk, op, row, hlc, origin, schema_ver)``."""
        _, tbl, pk, op, row, hlc, change_origin, _ = change
        table = self.tables.get(tbl)
        if table is not None:
            getattr(self, f"_{table.policy}")(table, op, pk, row, hlc, change_origin or self.origin)

    def flush(self) -> None:
        """Insert the batched append-only rows and re-log the accepted shared changes."""
        for name, rows in self.inserts.items():
            self.cur.executemany(f"INSERT INTO {q(name)} (origin, key, row, writer) VALUES (%s, %s, %s::jsonb, %s) "
                                 "ON CONFLICT (origin, key) DO NOTHING", rows)
        if self.relog:
            pg_log.append(self.cur, self.relog)

    def _append_only(self, table, op, pk, row, hlc, origin) -> None:
        if op == "I" and row:
            self.inserts.setdefault(table.name, []).append((origin, key_text(pk), row, origin))

    def _hub_owned(self, table, op, pk, row, hlc, origin) -> None:  # edges' pushes are refused before: not reached
        self.cur.execute(UPSERT.format(t=q(table.name)), [HUB_ORIGIN, key_text(pk), row or "{}", hlc, HUB_ORIGIN, op == "D"])

    def _last_writer_wins(self, table, op, pk, row, hlc, origin) -> None:
        current = self.cur.execute(f"SELECT hlc, writer FROM {q(table.name)} WHERE origin = %s AND key = %s FOR UPDATE",
                                   [SHARED, key_text(pk)]).fetchone()
        if current is not None and (current["hlc"], current["writer"]) >= (hlc, origin or ""):
            return
        data = row if op != "D" else json.dumps({table.key: pk})
        self.cur.execute(UPSERT.format(t=q(table.name)), [SHARED, key_text(pk), data or "{}", hlc, origin or "", op == "D"])
        self.relog.append((table.name, pk, op, row, hlc, origin))

    def _counter(self, table, op, pk, row, hlc, origin) -> None:
        data = json.loads(row) if row else {}
        current = self.cur.execute(f"SELECT row FROM {q(table.name)} WHERE origin = %s AND key = %s FOR UPDATE",
                                   [SHARED, key_text(pk)]).fetchone()
        merged = dict(current["row"]) if current else {}
        for column, value in data.items():
            numeric = column != table.key and isinstance(value, (int, float)) and not isinstance(value, bool)
            merged[column] = (merged.get(column) or 0) + value if numeric and current else value
        self.cur.execute(UPSERT.format(t=q(table.name)), [SHARED, key_text(pk), json.dumps(merged), hlc, origin or "", False])
        self.relog.append((table.name, pk, op, row, hlc, origin))  # the other edges add the same difference


def apply_push(cur, delta, origin: str, tables: dict) -> dict:
    """Apply a checked delta from ``origin`` inside the caller's transaction; return the ack."""
    meta = delta.meta
    cur.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [f"storefront-edge push {origin}"])
    after = start_from(cur, origin, meta)
    writer, applied, skipped = Writer(cur, tables, origin), 0, 0
    for change in delta.changes:
        if change[0] <= after:
            skipped += 1
            continue
        writer.one(change)
        applied += 1
    writer.flush()
    seq = max(after, meta["to_seq"])
    last = delta.changes[-1] if delta.changes and delta.changes[-1][0] == seq else None
    top = max((c[5] or 0 for c in delta.changes), default=0)
    set_cursor(cur, origin, meta["epoch"], seq, last[5] if last else None, top)
    return {"applied": applied, "skipped": skipped, "epoch": meta["epoch"], "seq": seq}
