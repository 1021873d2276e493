"""Every conflict policy, the same cases against both appliers: SQLite (``edge.sync.apply``) and PostgreSQL
(``edge.hub.pg_apply``). Text-typed and other non-numeric columns of a counter take the last value on both;
only the columns the capture rule calls numeric (:func:`edge.sync.capture.counter_columns`) add up.
"""

from __future__ import annotations

import json

import pytest

from edge.hookspecs import SyncedTable
from edge.store import connect
from edge.sync import capture, delta as wire
from edge.sync.apply import Applier
from edge.sync.protocol import Change, Header
from tests.pg_server import pg_server  # noqa: F401 (fixture)

TABLES = {t.name: t for t in (SyncedTable("events", "edge_to_hub", "append_only", "id"),
                              SyncedTable("notes", "edge_to_hub", "last_writer_wins", "id"),
                              SyncedTable("stock", "edge_to_hub", "counter", "sku"),
                              SyncedTable("catalog_items", "hub_to_edge", "hub_owned", "sku"))}
SCHEMA = ("CREATE TABLE events (id TEXT PRIMARY KEY, kind TEXT)", "CREATE TABLE notes (id TEXT PRIMARY KEY, body TEXT)",
          "CREATE TABLE stock (sku TEXT PRIMARY KEY, qty BIGINT, weight REAL, label TEXT, price DECIMAL(8, 2), code VARCHAR(8), "
          "flag BOOLEAN)",
          "CREATE TABLE catalog_items (sku TEXT PRIMARY KEY, title TEXT)")
EARLY, LATE = 1_000 << 16, 2_000 << 16


def _sqlite_store(path):
    db = connect(path)
    for statement in SCHEMA:
        db.execute(statement)
    capture.install_triggers(db, TABLES, "hub")
    capture.set_origin(db, "hub")
    return db


class SqliteSide:
    """The SQLite applier as a hub uses it (re-logging)."""

    def __init__(self, tmp_path, pg_server):
        self.db = _sqlite_store(tmp_path / "hub.db")

    def apply(self, delta, origin):
        Applier(self.db, TABLES, relog=True).apply(delta, origin=origin)

    def rows(self, table):
        return sorted(self.db[table].rows, key=lambda r: r[TABLES[table].key])

    def close(self):
        self.db.close()


class PostgresSide:
    """The PostgreSQL writer, with the column types the plugins' migrations declare (here: the same SQLite schema)."""

    def __init__(self, tmp_path, pg_server):
        from edge.hub.postgres import PostgresHubStore

        types_db = _sqlite_store(tmp_path / "types.db")
        types = {name: capture.column_types(types_db, name) for name in TABLES}
        types_db.close()
        self.store = PostgresHubStore(pg_server.create_database(), tmp_path, TABLES, column_types=types)

    def apply(self, delta, origin):
        from edge.hub import pg_apply

        with self.store.transaction() as cur:
            pg_apply.apply_push(cur, delta, origin, TABLES, self.store.column_types)

    def rows(self, table):
        return sorted(self.store.rows(table), key=lambda r: r[TABLES[table].key])

    def close(self):
        self.store.close()


@pytest.fixture(params=[SqliteSide, PostgresSide], ids=["sqlite", "postgres"])
def side(request, tmp_path):
    server = request.getfixturevalue("pg_server") if request.param is PostgresSide else None
    applier = request.param(tmp_path, server)
    applier.sent = {}
    yield applier
    applier.close()


def send(side, origin, *changes):
    """Apply ``(tbl, pk, op, row dict, hlc)`` changes from ``origin`` as its next delta."""
    first = side.sent.get(origin, 0) + 1
    rows = [Change(first + i, tbl, pk, op, json.dumps(row), hlc, origin, 1) for i, (tbl, pk, op, row, hlc) in enumerate(changes)]
    side.sent[origin] = first + len(rows) - 1
    side.apply(wire.decode(wire.encode(wire.seal(Header(origin=origin, epoch="e1", from_seq=first, to_seq=side.sent[origin],
                                                        log_start=1), rows))), origin)


def test_append_only_keeps_the_first_insert_and_ignores_updates_and_deletes(side):
    send(side, "store-a", ("events", "e1", "I", {"id": "e1", "kind": "view"}, EARLY),
         ("events", "e1", "I", {"id": "e1", "kind": "again"}, EARLY + 1),
         ("events", "e1", "U", {"id": "e1", "kind": "changed"}, EARLY + 2),
         ("events", "e1", "D", {"id": "e1"}, EARLY + 3), ("events", "e2", "I", {"id": "e2", "kind": "cart"}, EARLY + 4))
    send(side, "store-a", ("events", "e1", "I", {"id": "e1", "kind": "replayed"}, EARLY + 5))
    assert side.rows("events") == [{"id": "e1", "kind": "view"}, {"id": "e2", "kind": "cart"}]


def test_hub_owned_keeps_the_last_change_of_each_key(side):
    send(side, "hub", ("catalog_items", "s1", "I", {"sku": "s1", "title": "t"}, EARLY),
         ("catalog_items", "s2", "I", {"sku": "s2", "title": "gone"}, EARLY + 1),
         ("catalog_items", "s1", "U", {"sku": "s1", "title": "renamed"}, EARLY + 2),
         ("catalog_items", "s2", "D", {"sku": "s2"}, EARLY + 3))
    assert side.rows("catalog_items") == [{"sku": "s1", "title": "renamed"}]


def test_last_writer_wins_by_clock_then_origin_whatever_the_order_with_tombstones(side):
    send(side, "store-b", ("notes", "n", "I", {"id": "n", "body": "b, later"}, LATE))
    send(side, "store-a", ("notes", "n", "U", {"id": "n", "body": "a, earlier"}, EARLY),
         ("notes", "m", "I", {"id": "m", "body": "a"}, LATE))
    send(side, "store-c", ("notes", "m", "U", {"id": "m", "body": "c, same clock, higher origin"}, LATE))
    assert side.rows("notes") == [{"id": "m", "body": "c, same clock, higher origin"}, {"id": "n", "body": "b, later"}]
    send(side, "store-a", ("notes", "n", "D", {"id": "n"}, LATE + 1))
    send(side, "store-b", ("notes", "n", "U", {"id": "n", "body": "stale resurrection"}, LATE))
    assert side.rows("notes") == [{"id": "m", "body": "c, same clock, higher origin"}]


def test_counters_add_numeric_columns_and_set_text_and_other_columns(side):
    send(side, "store-a", ("stock", "s", "I", {"sku": "s", "qty": 5, "weight": 1.5, "label": "12", "price": 9.5, "code": "7",
                                                "flag": 1}, EARLY))
    send(side, "store-b", ("stock", "s", "U", {"sku": "s", "qty": -2, "weight": 0.5, "label": "new", "price": -1.5, "code": "9",
                                                "flag": 0}, EARLY))
    send(side, "store-a", ("stock", "s", "U", {"sku": "s", "qty": 10, "weight": 0.0, "label": "last", "price": 0.5, "code": "3",
                                                "flag": 1}, LATE))
    assert side.rows("stock") == [{"sku": "s", "qty": 13, "weight": 2.0, "label": "last", "price": 8.5, "code": "3", "flag": 1}]


def test_counter_columns_follow_the_declared_type():
    table = TABLES["stock"]
    types = {"sku": "TEXT", "qty": "INTEGER", "weight": "REAL", "label": "TEXT", "price": "DECIMAL(8, 2)", "code": "VARCHAR(8)",
             "n": "BIGINT", "x": "", "ratio": "DOUBLE PRECISION", "flag": "BOOLEAN", "day": "DATE", "blob": "BLOB", "f": "FLOAT"}
    assert capture.counter_columns(table, types) == ["qty", "weight", "price", "n", "ratio", "f"]
    assert capture.counter_columns(TABLES["notes"], {"id": "TEXT", "n": "INTEGER"}) == []
