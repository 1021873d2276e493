"""Apply a delta or snapshot to a store: idempotent, by table policy, with the cursor in the same transaction.

Per origin the receiver keeps ``_sync_cursors(origin, epoch, seq)``. A delta is accepted when it starts
at or before ``seq + 1`` (changes at or below ``seq`` are skipped, so a duplicate or an old replay is a
no-op); a gap is refused with 409 so that the sender resends from the cursor. A new epoch (first contact,
or a sender restored from a backup) must start at the beginning of the sender's log (``log_start``);
the old epoch is retired and later deltas of it are refused. A snapshot replaces its tables wholesale.

The work is done in SQL: the delta is attached to the store's connection as an in-memory database
(``_delta``), the changes to apply are staged in ``_delta.todo`` with the key set of each row, every
policy marks the rows it keeps (``pick``), and one ``INSERT ... SELECT json_extract(...) ... ON CONFLICT``
per (table, key set) writes them. Nothing is decoded row by row in Python.

Policies: ``hub_owned`` keeps the last change of each key (upsert, or delete); ``append_only`` inserts
with ``ON CONFLICT DO NOTHING`` and ignores updates and deletes; ``last_writer_wins`` keeps the change
with the highest (clock, origin) of each key when it is newer than the stored version, and remembers
deletions as tombstones; ``counter`` adds the captured differences of the numeric columns (see
:mod:`edge.sync.capture`) and sets the other columns from the last change.

Counters and double counting: a store applies its own differences when it writes them, so it skips
counter changes of its own origin that come back (the hub re-logs every edge's differences, with their
origin, for the other edges). A snapshot sets counters to the sender's totals, which include the
receiver's changes only up to the sender's cursor of it; the receiver re-adds its own logged changes
after that cursor (the snapshot's ``cursors``), which the sender has not counted yet.
"""

from __future__ import annotations

import contextlib
import datetime

from edge.errors import Conflict
from edge.store import write_transaction

from .capture import _q, column_types, counter_columns, state
from .delta import Delta, create_tables, fill
from .protocol import COLUMNS, LOGGED, Header, column_list

SRC = "_delta"


def _path(column: str) -> str:
    """The SQL literal of the JSON path of ``column`` in a captured row."""
    return "'" + f'$."{column}"'.replace("'", "''") + "'"



def plan_start(epoch: str | None, seq: int, retired: bool, origin: str, header: Header) -> tuple[int, str | None]:
    """Where to apply a delta from: ``(cursor seq to apply after, epoch to retire or None)``.

    The receiver holds ``(epoch, seq)`` for ``origin``; ``retired`` says whether the delta's epoch was
    replaced already. Raises 409 ``stale_epoch`` for a retired epoch and ``gap`` for a delta that
    starts past the cursor (or a new epoch that does not start at the beginning of its log).
    """
    if retired:
        raise Conflict(f"epoch {header.epoch} of {origin} was replaced by a newer one", code="stale_epoch")
    if epoch != header.epoch:
        if header.from_seq > (header.log_start or 1):
            raise Conflict("a new epoch must start at the beginning of the sender's log", code="gap",
                           details={"epoch": epoch, "expected_from": None})
        return header.from_seq - 1, epoch
    if max(header.from_seq, header.log_start or 1) > seq + 1:  # the sender no longer holds what comes after the cursor
        raise Conflict(f"delta starts at {max(header.from_seq, header.log_start or 1)} but {seq + 1} is expected", code="gap",
                       details={"epoch": epoch, "expected_from": seq + 1})
    return seq, None


class Applier:
    """Applies deltas to one store; ``relog`` re-logs accepted last-writer-wins changes (the hub does)."""

    def __init__(self, db, tables: dict, relog: bool = False):
        self.db, self.tables, self.relog = db, tables, relog
        self._columns: dict[str, dict] = {}

    def columns(self, name: str) -> dict:
        """The columns of table ``name`` here with their declared types (empty when it does not exist), cached."""
        if name not in self._columns:
            self._columns[name] = column_types(self.db, name)
        return self._columns[name]

    # -- transaction and cursor ---------------------------------------------------------------
    @contextlib.contextmanager
    def _transaction(self):
        with write_transaction(self.db):
            self.db.execute("UPDATE _sync_state SET applying = 1 WHERE id = 1")
            yield
            self.db.execute("UPDATE _sync_state SET applying = 0 WHERE id = 1")

    @contextlib.contextmanager
    def _attached(self, delta: Delta):
        """``delta`` attached as the in-memory database ``_delta`` for the duration of the block."""
        conn = self.db.conn
        conn.execute(f"ATTACH ':memory:' AS {SRC}")
        try:
            if delta.materialized:
                create_tables(conn, SRC)
                fill(conn, SRC, delta.changes)
                conn.commit()
            else:
                conn.deserialize(delta.raw, name=SRC)
            yield
        finally:
            conn.execute(f"DETACH {SRC}")

    def cursor(self, origin: str) -> tuple[str | None, int]:
        """``(epoch, seq)`` applied so far from ``origin`` (``(None, 0)`` before the first delta)."""
        row = self.db.execute("SELECT epoch, seq FROM _sync_cursors WHERE origin = ?", [origin]).fetchone()
        return (row[0], row[1]) if row else (None, 0)

    def _set_cursor(self, origin: str, epoch: str, seq: int, hlc: int | None, snapshot: bool) -> None:
        """Record ``(epoch, seq)`` and the mark: the last change applied (a snapshot clears it; an empty delta keeps it)."""
        now = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
        last = self.db.execute(f"SELECT seq, hlc FROM {SRC}.changes ORDER BY rowid DESC LIMIT 1").fetchone()
        mark = (None, None) if snapshot or last is None else last
        self.db.execute("INSERT INTO _sync_cursors (origin, epoch, seq, hlc, updated_at, mark_seq, mark_hlc) VALUES (?, ?, ?, ?, ?, ?, ?) "
                        "ON CONFLICT (origin) DO UPDATE SET epoch = excluded.epoch, seq = excluded.seq, hlc = excluded.hlc, "
                        "updated_at = excluded.updated_at, mark_seq = CASE WHEN ? THEN excluded.mark_seq ELSE "
                        "coalesce(excluded.mark_seq, mark_seq) END, mark_hlc = CASE WHEN ? THEN excluded.mark_hlc ELSE "
                        "coalesce(excluded.mark_hlc, mark_hlc) END", [origin, epoch, seq, hlc, now, *mark, snapshot, snapshot])

    def mark(self, origin: str) -> tuple[int | None, int | None]:
        """``(seq, hlc)`` of the last change applied from ``origin`` (``(None, None)`` after a snapshot or before any)."""
        row = self.db.execute("SELECT mark_seq, mark_hlc FROM _sync_cursors WHERE origin = ?", [origin]).fetchone()
        return (row[0], row[1]) if row else (None, None)

    def _start_from(self, origin: str, header: Header) -> int:
        """The cursor seq to apply after; raises 409 for a retired epoch or a gap."""
        epoch, seq = self.cursor(origin)
        retired = self.db.execute("SELECT 1 FROM _sync_retired WHERE origin = ? AND epoch = ?", [origin, header.epoch]).fetchone()
        start, retire = plan_start(epoch, seq, bool(retired), origin, header)
        if retire is not None:
            self.db.execute("INSERT OR IGNORE INTO _sync_retired VALUES (?, ?)", [origin, retire])
        return start

    # -- applying -------------------------------------------------------------------------------
    def apply(self, delta: Delta, origin: str | None = None) -> dict:
        """Apply ``delta`` in one transaction; return ``{"applied", "skipped", "epoch", "seq"}``."""
        meta, origin = delta.header, origin or delta.header.origin
        with self._attached(delta), self._transaction():
            self._own = state(self.db)
            if delta.kind == "snapshot":
                applied, skipped, after = self._snapshot(meta, origin), 0, None
                self.db.execute("DELETE FROM _sync_retired WHERE origin = ? AND epoch = ?", [origin, meta.epoch])
            else:
                after = self._start_from(origin, meta)
                applied, skipped = self._changes(after, origin)
            seq = meta.to_seq if after is None else max(after, meta.to_seq)
            self._set_cursor(origin, meta.epoch, seq, None if after is None else self._last_clock(seq), after is None)
            self.db.execute(f"UPDATE _sync_state SET hlc = max(hlc, coalesce((SELECT max(hlc) FROM {SRC}.changes), 0)) WHERE id = 1")
        return {"applied": applied, "skipped": skipped, "epoch": meta.epoch, "seq": seq}

    def _last_clock(self, seq: int) -> int | None:
        """The clock of the delta's last change when it is change ``seq`` (how the sender recognises it)."""
        row = self.db.execute(f"SELECT seq, hlc FROM {SRC}.changes ORDER BY rowid DESC LIMIT 1").fetchone()
        return row[1] if row and row[0] == seq else None

    def _changes(self, after: int, origin: str) -> tuple[int, int]:
        """Apply the changes after ``after`` table by table; return ``(applied, skipped)``."""
        counts = self.db.execute(f"SELECT count(*) FILTER (WHERE seq > ?), count(*) FILTER (WHERE seq <= ?) FROM {SRC}.changes",
                                 [after, after]).fetchone()
        self.db.execute(f"UPDATE {SRC}.changes SET origin = ? WHERE origin IS NULL OR origin = ''", [origin])
        for (name,) in self.db.execute(f"SELECT DISTINCT tbl FROM {SRC}.changes WHERE seq > ?", [after]).fetchall():
            table = self.tables.get(name)
            if table is not None and self.columns(name):  # else a table this receiver does not have (yet)
                getattr(self, f"_{table.policy}")(Pick(table, after))
        return counts[0], counts[1]

    # -- writing the picked rows ------------------------------------------------------------------
    def _mask(self, table) -> str:
        """A bit mask of the receiver's columns present in a row (rows captured before a column was added lack it)."""
        return " | ".join(f"((json_type(row, {_path(c)}) IS NOT NULL) << {i})" for i, c in enumerate(self.columns(table.name)))

    def _column_sets(self, pick: Pick, where: str = "") -> list[tuple[str, list, list[str]]]:
        """``(condition, params, columns)`` per set of columns the picked rows carry (the key among them)."""
        mask, names = self._mask(pick.table), list(self.columns(pick.table.name))
        masks = [m for (m,) in self.db.execute(f"SELECT DISTINCT {mask} {pick.sql}{where}", pick.params).fetchall()]
        sets = []
        for m in masks:
            condition, params = f"{pick.sql}{where}", list(pick.params)
            if len(masks) > 1:  # usually every row carries the same columns: no need to filter by mask
                condition, params = f"{condition} AND ({mask}) = ?", params + [m]
            columns = [c for i, c in enumerate(names) if m >> i & 1]
            if pick.table.key in columns:
                sets.append((condition, params, columns))
        return sets

    def _upsert(self, pick: Pick, mode: str = "update") -> None:
        """Insert the picked rows in sequence order; on a key conflict update them (or do nothing)."""
        table = pick.table
        for condition, params, cols in self._column_sets(pick, " AND op != 'D'"):
            sets = ", ".join(f"{_q(c)} = excluded.{_q(c)}" for c in cols if c != table.key)
            action = f"DO UPDATE SET {sets}" if mode == "update" and sets else "DO NOTHING"
            values = ", ".join(f"json_extract(row, {_path(c)})" for c in cols)
            self.db.execute(f"INSERT INTO main.{_q(table.name)} ({', '.join(map(_q, cols))}) SELECT {values} {condition} "
                            f"ORDER BY seq ON CONFLICT ({_q(table.key)}) {action}", params)

    def _delete(self, pick: Pick) -> None:
        """Delete the rows whose picked change is a deletion."""
        self.db.execute(f"DELETE FROM main.{_q(pick.table.name)} WHERE {_q(pick.table.key)} IN (SELECT pk {pick.sql} AND op = 'D')",
                        pick.params)

    # -- policies -----------------------------------------------------------------------------------
    def _hub_owned(self, pick: Pick) -> None:
        pick.where(f"seq IN (SELECT max(seq) {pick.sql} GROUP BY pk)", pick.params)
        self._delete(pick)
        self._upsert(pick)

    def _append_only(self, pick: Pick) -> None:
        pick.where("op = 'I'")
        self._upsert(pick, mode="nothing")

    def _last_writer_wins(self, pick: Pick) -> None:
        """Per key the change with the highest (clock, origin), when newer than the stored version (ties: the first)."""
        self.db.execute(f"DROP TABLE IF EXISTS {SRC}.won")
        self.db.execute(f"""CREATE TABLE {SRC}.won AS SELECT w.id FROM (SELECT rowid AS id, pk, hlc, origin, row_number() OVER
            (PARTITION BY pk ORDER BY hlc DESC, origin DESC, seq) AS rank {pick.sql}) w
            LEFT JOIN main._lww_versions v ON v.tbl = ? AND v.pk = w.pk
            WHERE w.rank = 1 AND (v.hlc IS NULL OR (w.hlc, w.origin) > (v.hlc, v.origin))""", [*pick.params, pick.table.name])
        pick.where(f"rowid IN (SELECT id FROM {SRC}.won)")
        self._delete(pick)
        self._upsert(pick)
        self.db.execute(f"INSERT INTO _lww_versions (tbl, pk, hlc, origin, deleted) SELECT tbl, pk, hlc, origin, op = 'D' {pick.sql} "
                        "ON CONFLICT (tbl, pk) DO UPDATE SET hlc = excluded.hlc, origin = excluded.origin, deleted = excluded.deleted",
                        pick.params)
        if self.relog:
            self._relog(pick)

    def _counter(self, pick: Pick) -> None:
        """Add the differences of other origins (this store's own are counted already); relog them on the hub."""
        pick.where("origin IS NOT ?", [self._own["origin"]])
        self._add(pick)
        if self.relog:
            self._relog(pick)

    def _relog(self, pick: Pick) -> None:
        """Append the picked changes to this store's own log, with their origin and clock (the hub serves them on)."""
        self.db.execute(f"INSERT INTO _changes ({column_list(LOGGED)}) SELECT {column_list(LOGGED)} {pick.sql} ORDER BY seq",
                        pick.params)

    def _add(self, pick: Pick) -> None:
        """Add the differences of the numeric columns per key; the other columns take the last change's values."""
        table, types = pick.table, self.columns(pick.table.name)
        for condition, params, cols in self._column_sets(pick):
            counters = [c for c in cols if c in counter_columns(table, types)]
            values = ", ".join((f"coalesce(sum(json_extract(row, {_path(c)})), 0)" if c in counters
                                else f"json_extract(row, {_path(c)})") + f" AS c{i}" for i, c in enumerate(cols))
            sets = ", ".join(f"{_q(c)} = coalesce({_q(c)}, 0) + excluded.{_q(c)}" if c in counters else f"{_q(c)} = excluded.{_q(c)}"
                             for c in cols if c != table.key) or f"{_q(table.key)} = excluded.{_q(table.key)}"
            grouped = f"SELECT {values}, max(seq) {condition} GROUP BY json_extract(row, {_path(table.key)})"
            self.db.execute(f"INSERT INTO main.{_q(table.name)} ({', '.join(map(_q, cols))}) SELECT {', '.join(f'c{i}' for i in range(len(cols)))} "
                            f"FROM ({grouped}) WHERE true ON CONFLICT ({_q(table.key)}) DO UPDATE SET {sets}", params)

    def _snapshot(self, meta: Header, origin: str) -> int:
        """Replace the snapshot's tables with its rows; return how many rows it held for them."""
        names = [n for n in meta.tables or () if n in self.tables and self.db[n].exists()]
        for name in names:
            self.db.execute(f"DELETE FROM {_q(name)}")
            if self.tables[name].policy == "last_writer_wins":
                self.db.execute("DELETE FROM _lww_versions WHERE tbl = ?", [name])
            self._upsert(Pick(self.tables[name], None))
        marks = ", ".join("?" for _ in names) or "NULL"
        count = self.db.execute(f"SELECT count(*) FROM {SRC}.changes WHERE tbl IN ({marks})", names).fetchone()[0]
        for name in names:
            if self.tables[name].policy == "counter":
                self._readd_own(self.tables[name], meta.cursors or {})
        return count

    def _readd_own(self, table, cursors: dict) -> None:
        """Add back this store's logged changes of counter ``table`` that the snapshot's sender has not applied yet."""
        cursor = cursors.get(self._own["origin"] or "") or {}
        since = cursor.get("seq", 0) if cursor.get("epoch") == self._own["epoch"] else 0
        readded = ", ".join("'R'" if c == "op" else c for c in COLUMNS)  # 'R': re-added, not a change of the sender
        self.db.execute(f"INSERT INTO {SRC}.changes SELECT {readded} FROM main._changes WHERE tbl = ? AND seq > ?", [table.name, since])
        pick = Pick(table, None)
        pick.where("op = 'R'")
        self._add(pick)


class Pick:
    """The changes of one table a policy writes: a SQL ``FROM ... WHERE`` over ``_delta.changes`` and its parameters."""

    def __init__(self, table, after: int | None):
        self.table = table
        self.sql = f"FROM {SRC}.changes WHERE tbl = ?" + ("" if after is None else " AND seq > ?")
        self.params = [table.name] + ([] if after is None else [after])

    def where(self, condition: str, params=()) -> None:
        """Narrow the pick to the rows that also satisfy ``condition``."""
        self.sql += f" AND ({condition})"
        self.params = self.params + list(params)
