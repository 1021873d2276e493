"""The PostgreSQL hub's policies the plugin tables do not reach: shared rows by clock with tombstones, counters,
replays and gaps, re-logging for the other edges, compaction; and the URL's password kept out of sight."""

from __future__ import annotations

import json

import pytest

from edge.errors import Conflict
from edge.hookspecs import SyncedTable
from edge.sync import delta as wire
from edge.sync.protocol import Header, PullRequest
from tests.pg_server import pg_server  # noqa: F401 (fixture)

TABLES = {"notes": SyncedTable("notes", "edge_to_hub", "last_writer_wins", "id"),
          "stock": SyncedTable("stock", "edge_to_hub", "counter", "sku")}
EARLIER, LATER = 1_000 << 16, 2_000 << 16


@pytest.fixture
def store(pg_server, tmp_path):
    from edge.hub.postgres import PostgresHubStore

    hub = PostgresHubStore(pg_server.create_database(), tmp_path, TABLES)
    yield hub
    hub.close()


def push(store, tmp_path, origin: str, *changes, epoch: str = "e1") -> dict:
    """Push changes ``(seq, tbl, pk, op, row dict, hlc)`` from ``origin`` as one delta file."""
    rows = [(seq, tbl, pk, op, json.dumps(row), hlc, origin, 1) for seq, tbl, pk, op, row, hlc in changes]
    header = Header(origin=origin, epoch=epoch, from_seq=rows[0][0], to_seq=rows[-1][0], log_start=1)
    return store.push(wire.encode(wire.seal(header, rows)), origin)


def pull(store, since: int, epoch: str | None):
    """What the store serves an edge at (``epoch``, ``since``), decoded (``None`` when up to date)."""
    data = store.pull("store-x", PullRequest(since, epoch))
    return None if data is None else wire.decode(data)


def test_shared_rows_keep_the_latest_clock_and_counters_add_up(store, tmp_path):
    push(store, tmp_path, "store-b", (1, "notes", "n", "I", {"id": "n", "body": "b"}, LATER),
         (2, "stock", "s", "I", {"sku": "s", "qty": 5, "label": "old"}, LATER))
    ack = push(store, tmp_path, "store-a", (1, "notes", "n", "U", {"id": "n", "body": "a"}, EARLIER),
               (2, "stock", "s", "U", {"sku": "s", "qty": -2, "label": "new"}, EARLIER))
    assert ack == {"applied": 2, "skipped": 0, "epoch": "e1", "seq": 2}
    assert store.rows("notes") == [{"id": "n", "body": "b"}]  # the older write loses whatever the arrival order
    assert store.rows("stock") == [{"sku": "s", "qty": 3, "label": "new"}]
    served = pull(store, 0, pull(store, 0, None).header.epoch).changes
    assert [(c[1], c[6], json.loads(c[4]).get("qty")) for c in served if c[1] == "stock"] == [("stock", "store-b", 5), ("stock", "store-a", -2)]
    replay = push(store, tmp_path, "store-a", (1, "notes", "n", "U", {"id": "n", "body": "a"}, EARLIER),
                  (2, "stock", "s", "U", {"sku": "s", "qty": -2, "label": "new"}, EARLIER))
    assert replay["applied"] == 0 and replay["skipped"] == 2 and store.rows("stock")[0]["qty"] == 3
    with pytest.raises(Conflict, match="expected"):
        push(store, tmp_path, "store-a", (5, "stock", "s", "U", {"sku": "s", "qty": 1}, LATER))
    assert store.cursor_of("store-a")["seq"] == 2 and store.rows("stock")[0]["qty"] == 3


def test_a_deletion_is_a_tombstone_and_accepted_changes_reach_the_other_edges(store, tmp_path):
    push(store, tmp_path, "store-b", (1, "notes", "n", "I", {"id": "n", "body": "b"}, LATER))
    push(store, tmp_path, "store-a", (1, "notes", "n", "D", {"id": "n"}, LATER + 1))
    push(store, tmp_path, "store-c", (1, "notes", "n", "U", {"id": "n", "body": "stale"}, LATER))
    assert store.rows("notes") == []
    snapshot = pull(store, 0, None)  # first contact
    assert snapshot.kind == "snapshot" and snapshot.changes == [] and snapshot.header.tables == ("notes", "stock")
    assert snapshot.header.cursors["store-a"] == {"epoch": "e1", "seq": 1}  # counters: what the hub has counted
    delta = pull(store, 0, snapshot.header.epoch)
    assert [(c[2], c[3], c[6]) for c in delta.changes] == [("n", "I", "store-b"), ("n", "D", "store-a")]
    assert pull(store, delta.header.to_seq, snapshot.header.epoch) is None
    assert store.compact(1) == 1
    assert pull(store, 0, snapshot.header.epoch).kind == "snapshot"  # behind the horizon


def test_a_new_epoch_retires_the_old_one(store, tmp_path):
    push(store, tmp_path, "store-a", (1, "notes", "n", "I", {"id": "n", "body": "1"}, EARLIER), (2, "notes", "m", "I", {"id": "m"}, EARLIER))
    push(store, tmp_path, "store-a", (1, "notes", "k", "I", {"id": "k", "body": "restored"}, LATER), epoch="e2")
    with pytest.raises(Conflict, match="replaced"):
        push(store, tmp_path, "store-a", (3, "notes", "x", "I", {"id": "x"}, LATER))
    assert store.cursor_of("store-a") == {"epoch": "e2", "seq": 1, "hlc": LATER}
    assert [r["id"] for r in store.rows("notes")] == ["k", "m", "n"]


def test_the_database_password_is_never_shown(pg_server, tmp_path):
    from edge.hub.base import redact
    from edge.hub.postgres import PostgresHubStore

    url = pg_server.create_database()
    hub = PostgresHubStore(url, tmp_path, TABLES)
    assert pg_server.password not in repr(hub) and "***" in repr(hub)
    hub.close()
    assert redact("host=h password='s e' user=u") == "host=h password=*** user=u"
    assert redact("postgresql://u@h/db?password=s&sslmode=require") == "postgresql://u@h/db?password=***&sslmode=require"
