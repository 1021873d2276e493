"""Apply a delta or snapshot to a store: idempotent, by table policy, with the cursor in the same transaction.

Per origin the receiver keeps ``_sync_cursors(origin, epoch, seq)``. A delta is accepted when it starts
at or before ``seq + 1`` (changes at or below ``seq`` are skipped, so a duplicate or an old replay is a
no-op); a gap is refused with 409 so that the sender resends from the cursor. A new epoch (first contact,
or a sender restored from a backup) must start at the beginning of the sender's log (``log_start``);
the old epoch is retired and later deltas of it are refused. A snapshot replaces its tables wholesale.

Policies: ``hub_owned`` upserts and deletes as told; ``append_only`` inserts with ``ON CONFLICT DO
NOTHING`` and ignores updates and deletes; ``last_writer_wins`` keeps the change with the higher
(clock, origin) and remembers deletions as tombstones; ``counter`` adds the captured differences.
"""

from __future__ import annotations

import contextlib
import datetime
import json

from edge.errors import Conflict

from .capture import _q
from .delta import Delta


class Applier:
    """Applies deltas to one store; ``relog`` re-logs accepted last-writer-wins changes (the hub does)."""

    def __init__(self, db, tables: dict, relog: bool = False):
        self.db, self.tables, self.relog = db, tables, relog
        self._columns: dict[str, set] = {}
        self._sql: dict[tuple, str] = {}

    def columns(self, name: str) -> set:
        """The columns of table ``name`` here (empty when the table does not exist), cached."""
        if name not in self._columns:
            self._columns[name] = {c.name for c in self.db[name].columns} if self.db[name].exists() else set()
        return self._columns[name]

    # -- transaction and cursor ---------------------------------------------------------------
    @contextlib.contextmanager
    def _transaction(self):
        conn = self.db.conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.execute("UPDATE _sync_state SET applying = 1 WHERE id = 1")
            yield
            conn.execute("UPDATE _sync_state SET applying = 0 WHERE id = 1")
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise

    def cursor(self, origin: str) -> tuple[str | None, int]:
        """``(epoch, seq)`` applied so far from ``origin`` (``(None, 0)`` before the first delta)."""
        row = self.db.execute("SELECT epoch, seq FROM _sync_cursors WHERE origin = ?", [origin]).fetchone()
        return (row[0], row[1]) if row else (None, 0)

    def _set_cursor(self, origin: str, epoch: str, seq: int, hlc: int | None) -> None:
        now = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
        self.db.execute("INSERT INTO _sync_cursors (origin, epoch, seq, hlc, updated_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT (origin) "
                        "DO UPDATE SET epoch = excluded.epoch, seq = excluded.seq, hlc = excluded.hlc, "
                        "updated_at = excluded.updated_at", [origin, epoch, seq, hlc, now])

    def _start_from(self, origin: str, meta: dict) -> int:
        """The cursor seq to apply after; raises 409 for a retired epoch or a gap."""
        epoch, seq = self.cursor(origin)
        if self.db.execute("SELECT 1 FROM _sync_retired WHERE origin = ? AND epoch = ?", [origin, meta["epoch"]]).fetchone():
            raise Conflict(f"epoch {meta['epoch']} of {origin} was replaced by a newer one", code="stale_epoch")
        if epoch != meta["epoch"]:
            if meta["from_seq"] > meta.get("log_start", 1):
                raise Conflict("a new epoch must start at the beginning of the sender's log", code="gap",
                               details={"epoch": epoch, "expected_from": None})
            if epoch is not None:
                self.db.execute("INSERT OR IGNORE INTO _sync_retired VALUES (?, ?)", [origin, epoch])
            return meta["from_seq"] - 1
        if meta["from_seq"] > seq + 1:
            raise Conflict(f"delta starts at {meta['from_seq']} but {seq + 1} is expected", code="gap",
                           details={"epoch": epoch, "expected_from": seq + 1})
        return seq

    # -- applying -------------------------------------------------------------------------------
    def apply(self, delta: Delta, origin: str | None = None) -> dict:
        """Apply ``delta`` in one transaction; return ``{"applied", "skipped", "epoch", "seq"}``."""
        meta, origin = delta.meta, origin or delta.meta["origin"]
        with self._transaction():
            if delta.kind == "snapshot":
                applied, skipped, after = self._snapshot(delta), 0, None
                self.db.execute("DELETE FROM _sync_retired WHERE origin = ? AND epoch = ?", [origin, meta["epoch"]])
            else:
                after = self._start_from(origin, meta)
                applied = skipped = 0
                for change in delta.changes:
                    if change[0] <= after:
                        skipped += 1
                        continue
                    self._one(change, origin)
                    applied += 1
            seq = meta["to_seq"] if after is None else max(after, meta["to_seq"])
            last = delta.changes[-1] if delta.changes and delta.kind != "snapshot" and delta.changes[-1][0] == seq else None
            self._set_cursor(origin, meta["epoch"], seq, last[5] if last else None)
            self._advance_clock(delta)
        return {"applied": applied, "skipped": skipped, "epoch": meta["epoch"], "seq": seq}

    def _advance_clock(self, delta: Delta) -> None:
        top = max((c[5] or 0 for c in delta.changes), default=0)
        self.db.execute("UPDATE _sync_state SET hlc = max(hlc, ?) WHERE id = 1", [top])

    def _one(self, change, origin: str) -> None:
        seq, tbl, pk, op, row, hlc, change_origin, _ = change
        table = self.tables.get(tbl)
        if table is None or not self.columns(tbl):
            return  # a table this receiver does not have (yet): nothing to keep
        data = json.loads(row) if row else {}
        getattr(self, f"_{table.policy}")(table, op, pk, data, hlc, change_origin or origin, change)

    def _filtered(self, table, data: dict) -> dict:
        known = self.columns(table.name)
        return {k: v for k, v in data.items() if k in known}

    def _upsert(self, table, data: dict, mode: str = "update") -> None:
        data = self._filtered(table, data)
        cols = tuple(data)
        sql = self._sql.get((table.name, cols, mode))
        if sql is None:
            names = ", ".join(_q(c) for c in cols)
            sets = ", ".join(f"{_q(c)} = excluded.{_q(c)}" for c in cols if c != table.key)
            action = f"DO UPDATE SET {sets}" if mode == "update" and sets else "DO NOTHING"
            sql = self._sql[(table.name, cols, mode)] = (f"INSERT INTO {_q(table.name)} ({names}) VALUES "
                                                          f"({', '.join('?' for _ in cols)}) ON CONFLICT ({_q(table.key)}) {action}")
        self.db.conn.execute(sql, [data[c] for c in cols])

    def _delete(self, table, pk) -> None:
        self.db.execute(f"DELETE FROM {_q(table.name)} WHERE {_q(table.key)} = ?", [pk])

    def _hub_owned(self, table, op, pk, data, hlc, origin, change) -> None:
        self._delete(table, pk) if op == "D" else self._upsert(table, data)

    def _append_only(self, table, op, pk, data, hlc, origin, change) -> None:
        if op == "I":
            self._upsert(table, data, mode="nothing")

    def _last_writer_wins(self, table, op, pk, data, hlc, origin, change) -> None:
        current = self.db.execute("SELECT hlc, origin FROM _lww_versions WHERE tbl = ? AND pk = ?", [table.name, pk]).fetchone()
        if current is not None and (current[0], current[1]) >= (hlc, origin or ""):
            return
        self._delete(table, pk) if op == "D" else self._upsert(table, data)
        self.db.execute("INSERT INTO _lww_versions (tbl, pk, hlc, origin, deleted) VALUES (?, ?, ?, ?, ?) ON CONFLICT (tbl, pk) "
                        "DO UPDATE SET hlc = excluded.hlc, origin = excluded.origin, deleted = excluded.deleted",
                        [table.name, pk, hlc, origin or "", int(op == "D")])
        if self.relog:
            self.db.execute("INSERT INTO _changes (tbl, pk, op, row, hlc, origin, schema_ver) VALUES (?, ?, ?, ?, ?, ?, ?)",
                            [table.name, pk, op, change[4], hlc, origin, change[7]])

    def _counter(self, table, op, pk, data, hlc, origin, change) -> None:
        data = self._filtered(table, data)
        numeric = [c for c, v in data.items() if c != table.key and isinstance(v, (int, float)) and not isinstance(v, bool)]
        cols = list(data)
        sets = ", ".join(f"{_q(c)} = {_q(c)} + excluded.{_q(c)}" if c in numeric else f"{_q(c)} = excluded.{_q(c)}"
                         for c in cols if c != table.key) or f"{_q(table.key)} = excluded.{_q(table.key)}"
        self.db.execute(f"INSERT INTO {_q(table.name)} ({', '.join(_q(c) for c in cols)}) VALUES ({', '.join('?' for _ in cols)}) "
                        f"ON CONFLICT ({_q(table.key)}) DO UPDATE SET {sets}", [data[c] for c in cols])

    def _snapshot(self, delta: Delta) -> int:
        names = [n for n in delta.meta.get("tables", []) if n in self.tables and self.db[n].exists()]
        for name in names:
            self.db.execute(f"DELETE FROM {_q(name)}")
            if self.tables[name].policy == "last_writer_wins":
                self.db.execute("DELETE FROM _lww_versions WHERE tbl = ?", [name])
        count = 0
        for seq, tbl, pk, op, row, hlc, origin, _ in delta.changes:
            if tbl in names:
                self._upsert(self.tables[tbl], json.loads(row))
                count += 1
        return count
