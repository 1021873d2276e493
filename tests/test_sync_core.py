"""Capture, delta files and the applier on real SQLite files."""

from __future__ import annotations

import json

import pytest

from edge.hookspecs import SyncedTable
from edge.store import connect
from edge.sync import capture, delta as wire
from edge.sync.apply import Applier
from edge.sync.export import export_delta, export_snapshot, prune
from edge.errors import Conflict

EVENTS = SyncedTable("events", "edge_to_hub", "append_only", "id")
NOTES = SyncedTable("notes", "edge_to_hub", "last_writer_wins", "id")
STOCK = SyncedTable("stock", "edge_to_hub", "counter", "sku")
CATALOG = SyncedTable("catalog_items", "hub_to_edge", "hub_owned", "sku")
TABLES = {t.name: t for t in (EVENTS, NOTES, STOCK, CATALOG)}


def store(path, origin):
    db = connect(path)
    db["events"].create({"id": str, "kind": str, "origin": str}, pk="id")
    db["notes"].create({"id": str, "body": str}, pk="id")
    db["stock"].create({"sku": str, "qty": int}, pk="sku")
    db["catalog_items"].create({"sku": str, "title": str}, pk="sku")
    capture.install_triggers(db, TABLES, "edge")
    capture.set_origin(db, origin)
    return db


@pytest.fixture
def a(tmp_path):
    return store(tmp_path / "a.db", "a")


@pytest.fixture
def b(tmp_path):
    return store(tmp_path / "b.db", "b")


def ship(source, target, since=0):
    data = wire.encode(export_delta(source, since))
    return Applier(target, TABLES).apply(wire.decode(data))


def test_capture_records_every_write_with_a_rising_clock(a):
    a["events"].insert({"id": "e1", "kind": "view"})
    a["notes"].insert({"id": "n1", "body": "x"})
    a["notes"].update("n1", {"body": "y"})
    a["notes"].delete("n1")
    rows = a.execute("SELECT tbl, pk, op, row, hlc, origin FROM _changes ORDER BY seq").fetchall()
    assert [(r[0], r[1], r[2]) for r in rows] == [("events", "e1", "I"), ("notes", "n1", "I"), ("notes", "n1", "U"), ("notes", "n1", "D")]
    assert json.loads(rows[2][3]) == {"id": "n1", "body": "y"}
    clocks = [r[4] for r in rows]
    assert clocks == sorted(set(clocks)) and all(r[5] == "a" for r in rows)


def test_triggers_come_back_after_transform_and_follow_add_column(a):
    a["notes"].transform(rename={"body": "text"})
    assert capture.install_triggers(a, TABLES, "edge")  # transform dropped them: regenerated
    a["notes"].add_column("tag", str)
    assert capture.install_triggers(a, TABLES, "edge")  # column list changed: regenerated
    assert capture.install_triggers(a, TABLES, "edge") == []  # stable when nothing changed
    a["notes"].insert({"id": "n1", "text": "t", "tag": "g"})
    row = json.loads(a.execute("SELECT row FROM _changes").fetchone()[0])
    assert row == {"id": "n1", "text": "t", "tag": "g"}


def test_hub_owned_tables_are_read_only_on_a_joined_edge_but_not_standalone(a):
    a["catalog_items"].insert({"sku": "s1", "title": "standalone import"})  # guard off: allowed
    capture.set_guard(a, True)
    with pytest.raises(Exception, match="owned by the hub"):
        a["catalog_items"].insert({"sku": "s2", "title": "local"})
    assert a["catalog_items"].count == 1
    assert not a.execute("SELECT 1 FROM _changes WHERE tbl = 'catalog_items'").fetchone()


def test_delta_round_trip_and_atomic_file(a, tmp_path):
    a["events"].insert_all([{"id": f"e{i}", "kind": "view"} for i in range(10)])
    d = export_delta(a, 0)
    path = wire.write_file(d, tmp_path / "out.delta")
    read = wire.read_file(path)
    assert read.header.count == 10 and read.header.from_seq == 1 and read.header.to_seq == 10
    assert read.changes == d.changes
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


@pytest.mark.parametrize("damage", ["truncate", "flip", "empty", "garbage"])
def test_damaged_deltas_are_refused_and_nothing_is_applied(a, b, damage):
    a["events"].insert_all([{"id": f"e{i}", "kind": "view"} for i in range(50)])
    data = wire.encode(export_delta(a, 0))
    bad = {"truncate": data[: len(data) // 2], "flip": data[:40] + bytes([data[40] ^ 0xFF]) + data[41:],
           "empty": b"", "garbage": b"not a delta at all"}[damage]
    with pytest.raises((wire.DeltaError, wire.DeltaMismatch)):
        Applier(b, TABLES).apply(wire.decode(bad))
    assert b["events"].count == 0 and Applier(b, TABLES).cursor("a") == (None, 0)


def test_tampered_changes_fail_the_sha256(a):
    a["events"].insert({"id": "e1", "kind": "view"})
    d = export_delta(a, 0)
    sealed = wire.decode(wire.encode(d))
    sealed.changes[0] = sealed.changes[0]._replace(row='{"id": "e1", "kind": "order"}')  # keeps the sha256 it was read with
    with pytest.raises(wire.DeltaMismatch):
        wire.decode(wire.encode(sealed))


def test_duplicate_reordered_and_replayed_deltas(a, b):
    a["events"].insert_all([{"id": f"e{i}", "kind": "view"} for i in range(5)])
    first = wire.encode(export_delta(a, 0))
    a["events"].insert_all([{"id": f"f{i}", "kind": "cart"} for i in range(5)])
    second = wire.encode(export_delta(a, 5))
    applier = Applier(b, TABLES)
    with pytest.raises(Conflict) as gap:  # the newer delta first: refused, nothing applied
        applier.apply(wire.decode(second))
    assert gap.value.code == "gap" and b["events"].count == 0
    assert applier.apply(wire.decode(first))["applied"] == 5
    assert applier.apply(wire.decode(first))["applied"] == 0  # duplicate
    assert applier.apply(wire.decode(second))["applied"] == 5
    assert applier.apply(wire.decode(first))["seq"] == 10  # old replay: no-op, cursor stays
    assert b["events"].count == 10 and applier.cursor("a")[1] == 10


def test_overlapping_delta_skips_what_was_applied(a, b):
    a["events"].insert_all([{"id": f"e{i}", "kind": "view"} for i in range(6)])
    Applier(b, TABLES).apply(wire.decode(wire.encode(export_delta(a, 0, limit=3))))
    result = ship(a, b)
    assert result == {"applied": 3, "skipped": 3, "epoch": capture.state(a)["epoch"], "seq": 6}
    assert b["events"].count == 6


def test_last_writer_wins_by_clock_then_origin_with_tombstones(a, b, tmp_path):
    c = store(tmp_path / "c.db", "c")
    a["notes"].insert({"id": "n", "body": "from a"})
    b["notes"].insert({"id": "n", "body": "from b"})  # later clock: wins everywhere
    b["notes"].delete("n")  # ... and then its deletion wins
    for source in (b, a):
        ship(source, c)
    assert c["notes"].count == 0
    assert c.execute("SELECT deleted, origin FROM _lww_versions WHERE pk = 'n'").fetchone() == (1, "b")
    ship(a, b)  # a's older insert does not resurrect b's deleted row
    assert b["notes"].count == 0


def test_counter_adds_differences(a, b):
    a["stock"].insert({"sku": "s", "qty": 10})
    a["stock"].update("s", {"qty": 7})
    ship(a, b)
    b_epoch = capture.state(b)["epoch"]
    assert b["stock"].get("s")["qty"] == 7 and b_epoch


def test_snapshot_replaces_tables(a, b):
    b["catalog_items"].insert({"sku": "local", "title": "stale"})
    a["catalog_items"].insert_all([{"sku": f"s{i}", "title": "t"} for i in range(3)])
    snap = export_snapshot(a, {"catalog_items": CATALOG})
    Applier(b, TABLES).apply(wire.decode(wire.encode(snap)), origin="hub")
    assert sorted(r["sku"] for r in b["catalog_items"].rows) == ["s0", "s1", "s2"]


def test_applied_changes_are_not_captured_again(a, b):
    a["events"].insert({"id": "e1", "kind": "view"})
    ship(a, b)
    assert b["_changes"].count == 0
    prune(a, 1)
    assert a["_changes"].count == 0


def test_new_epoch_retires_the_old_one(a, b):
    a["events"].insert({"id": "e1", "kind": "view"})
    old = wire.encode(export_delta(a, 0))
    ship(a, b)
    a.execute("UPDATE _sync_state SET epoch = 'restored'")
    a.conn.commit()
    assert ship(a, b)["epoch"] == "restored"
    with pytest.raises(Conflict) as stale:
        Applier(b, TABLES).apply(wire.decode(old))
    assert stale.value.code == "stale_epoch" and b["events"].count == 1


def test_hub_owned_keeps_the_last_change_of_each_key_within_one_delta(b, tmp_path):
    hub = connect(tmp_path / "hub.db")
    hub["catalog_items"].create({"sku": str, "title": str}, pk="sku")
    capture.install_triggers(hub, TABLES, "hub")
    capture.set_origin(hub, "hub")
    hub["catalog_items"].insert_all([{"sku": f"s{i}", "title": "t"} for i in range(3)])
    hub["catalog_items"].update("s0", {"title": "renamed"})
    hub["catalog_items"].delete("s1")
    hub["catalog_items"].insert({"sku": "s1", "title": "back"})
    hub["catalog_items"].delete("s2")
    b["catalog_items"].insert({"sku": "s2", "title": "stale copy"})
    assert ship(hub, b)["applied"] == 7
    assert sorted((r["sku"], r["title"]) for r in b["catalog_items"].rows) == [("s0", "renamed"), ("s1", "back")]


def test_a_row_without_a_column_the_receiver_has_keeps_its_default_or_value(a, b):
    b["notes"].add_column("tag", str, not_null_default="none")
    b["notes"].insert({"id": "kept", "body": "old", "tag": "mine"})
    a["notes"].insert({"id": "new", "body": "x"})
    a["notes"].insert({"id": "kept", "body": "newer"})  # later clock: wins, but carries no tag
    ship(a, b)
    assert b["notes"].get("new")["tag"] == "none" and b["notes"].get("kept") == {"id": "kept", "body": "newer", "tag": "mine"}


def test_the_hub_relogs_each_winning_last_writer_change_once_with_its_origin(a, b, tmp_path):
    hub = store(tmp_path / "hub.db", "hub")
    a["notes"].insert({"id": "n", "body": "a1"})
    a["notes"].update("n", {"body": "a2"})
    b["notes"].insert({"id": "m", "body": "b1"})
    for source in (a, b):
        Applier(hub, TABLES, relog=True).apply(wire.decode(wire.encode(export_delta(source, 0))))
    relogged = hub.execute("SELECT pk, origin, json_extract(row, '$.body') FROM _changes ORDER BY pk").fetchall()
    assert relogged == [("m", "b", "b1"), ("n", "a", "a2")]


def test_export_inside_an_open_transaction_gives_the_same_delta(a):
    a["events"].insert_all([{"id": f"e{i}", "kind": "view"} for i in range(20)])
    outside = export_delta(a, 3, limit=10)
    with a.atomic():
        inside = export_delta(a, 3, limit=10)
    assert inside.header == outside.header and inside.changes == outside.changes
    sealed = wire.decode(wire.encode(outside)).header
    assert sealed.sha256 == wire.digest(outside.changes, sealed) and sealed.to_seq == 13


def test_format_1_deltas_are_still_read_and_checked(a, b):
    import zstandard

    a["events"].insert_all([{"id": f"e{i}", "kind": "view"} for i in range(4)])
    current = export_delta(a, 0)
    old = wire.encode(current, wire.FORMAT_V1)
    assert Applier(b, TABLES).apply(wire.decode(old))["applied"] == 4 and b["events"].count == 4
    header = current.header.replace(format=wire.FORMAT_V1, sha256="0" * 64)
    forged = zstandard.ZstdCompressor().compress(wire.to_sqlite(wire.Delta(header, list(current.changes)), wire.FORMAT_V1))
    with pytest.raises(wire.DeltaMismatch):
        wire.decode(forged)


def test_a_delta_file_with_extra_objects_is_refused(a):
    import sqlite3

    import zstandard

    a["events"].insert({"id": "e1", "kind": "view"})
    conn = sqlite3.connect(":memory:")
    conn.deserialize(wire.to_sqlite(export_delta(a, 0)))
    conn.execute("CREATE VIEW sneaky AS SELECT 1")
    with pytest.raises(wire.DeltaError):
        wire.decode(zstandard.ZstdCompressor().compress(conn.serialize()))


def test_rows_captured_before_and_after_a_new_column_apply_in_one_delta(a, b):
    a["notes"].insert({"id": "n1", "body": "before"})
    a["notes"].add_column("tag", str)
    capture.install_triggers(a, TABLES, "edge")
    a["notes"].insert({"id": "n2", "body": "after", "tag": "x"})
    b["notes"].add_column("tag", str, not_null_default="none")
    assert ship(a, b)["applied"] == 2
    assert sorted((r["id"], r["tag"]) for r in b["notes"].rows) == [("n1", "none"), ("n2", "x")]
