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

from edge.sync.capture import counter_columns
from edge.sync.protocol import Change

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


def start_from(cur, origin: str, header) -> int:
    """The cursor seq to apply after; raises 409 for a retired epoch or a gap (rules in ``plan_start``)."""
    from edge.sync.apply import plan_start

    epoch, seq = cursor(cur, origin)
    retired = cur.execute("SELECT 1 FROM hub_retired WHERE origin = %s AND epoch = %s", [origin, header.epoch]).fetchone()
    start, retire = plan_start(epoch, seq, bool(retired), origin, header)
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

    def __init__(self, cur, tables: dict, origin: str, column_types: dict | None = None):
        self.cur, self.tables, self.origin, self.column_types = cur, tables, origin, column_types or {}
        self.inserts: dict[str, list] = {}
        self.relog: list[Change] = []

    def one(self, change: Change) -> None:
        """Apply one change by its table's policy."""
        table = self.tables.get(change.tbl)
        if table is not None:
            change = change._replace(origin=change.origin or self.origin)
            getattr(self, f"_{table.policy}")(table, change)

    def counters(self, table) -> set | None:
        """The columns of counter ``table`` that hold differences (as the edges' capture decides), when known."""
        types = self.column_types.get(table.name)
        return None if types is None else set(counter_columns(table, types))

    def flush(self) -> None:
        """Insert the batched append-only rows and re-log the accepted shared changes."""
        for name, rows in self.inserts.items():
            self.cur.executemany(f"INSERT INTO {q(name)} (origin, key, row, writer) VALUES (%s, %s, %s::jsonb, %s) "
                                 "ON CONFLICT (origin, key) DO NOTHING", rows)
        if self.relog:
            pg_log.append(self.cur, self.relog)

    def _append_only(self, table, c: Change) -> None:
        if c.op == "I" and c.row:
            self.inserts.setdefault(table.name, []).append((c.origin, key_text(c.pk), c.row, c.origin))

    def _hub_owned(self, table, c: Change) -> None:  # edges' pushes are refused before: not reached
        self.cur.execute(UPSERT.format(t=q(table.name)), [HUB_ORIGIN, key_text(c.pk), c.row or "{}", c.hlc, HUB_ORIGIN, c.op == "D"])

    def _last_writer_wins(self, table, c: Change) -> None:
        current = self.cur.execute(f"SELECT hlc, writer FROM {q(table.name)} WHERE origin = %s AND key = %s FOR UPDATE",
                                   [SHARED, key_text(c.pk)]).fetchone()
        if current is not None and (current["hlc"], current["writer"]) >= (c.hlc, c.origin or ""):
            return
        data = c.row if c.op != "D" else json.dumps({table.key: c.pk})
        self.cur.execute(UPSERT.format(t=q(table.name)), [SHARED, key_text(c.pk), data or "{}", c.hlc, c.origin or "", c.op == "D"])
        self.relog.append(c)

    def _counter(self, table, c: Change) -> None:
        data = json.loads(c.row) if c.row else {}
        current = self.cur.execute(f"SELECT row FROM {q(table.name)} WHERE origin = %s AND key = %s FOR UPDATE",
                                   [SHARED, key_text(c.pk)]).fetchone()
        merged = dict(current["row"]) if current else {}
        counters = self.counters(table)
        for column, value in data.items():
            counted = column in counters if counters is not None else is_number(value)
            merged[column] = (merged.get(column) or 0) + value if counted and is_number(value) and current else value
        self.cur.execute(UPSERT.format(t=q(table.name)), [SHARED, key_text(c.pk), json.dumps(merged), c.hlc, c.origin or "", False])
        self.relog.append(c)  # the other edges add the same difference


def is_number(value) -> bool:
    """Whether a JSON value is a number (``True``/``False`` are not)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def apply_push(cur, delta, origin: str, tables: dict, column_types: dict | None = None) -> dict:
    """Apply a checked delta from ``origin`` inside the caller's transaction; return the ack."""
    header = delta.header
    cur.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [f"storefront-edge push {origin}"])
    after = start_from(cur, origin, header)
    writer, applied, skipped = Writer(cur, tables, origin, column_types), 0, 0
    for change in delta.changes:
        if change.seq <= after:
            skipped += 1
            continue
        writer.one(change)
        applied += 1
    writer.flush()
    seq = max(after, header.to_seq)
    last = delta.changes[-1] if delta.changes and delta.changes[-1].seq == seq else None
    top = max((c.hlc or 0 for c in delta.changes), default=0)
    set_cursor(cur, origin, header.epoch, seq, last.hlc if last else None, top)
    return {"applied": applied, "skipped": skipped, "epoch": header.epoch, "seq": seq}
