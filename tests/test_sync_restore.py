"""A hub restored from a backup (SQLite file copy, PostgreSQL dump and restore) loses nothing; rounds stay bounded.

The restore scenario is the one a fault run found losing events: events synced, a backup, more events and
a catalog publish synced, the hub put back to the backup, then more events and another publish. Afterwards
the hub holds every event, the node's hub-owned tables equal the hub's, and both sides say what happened.
"""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
import threading
import time

import pytest

from edge.sync.worker import read_status, record_round, sync_once
from tests.pg_server import hub_backend, pg_server  # noqa: F401 (fixtures)
from tests.test_sync_support import (FlaskTransport, publish, as_items, event_ids, hub_event_ids, hub_store, make_edge, make_hub,
                                     node_of, post_event, register)


class Backup:
    """Back up and restore one hub: ``sqlite3 .backup`` of hub.db, or ``pg_dump``/``pg_restore`` into a new database."""

    def __init__(self, backend, folder):
        self.backend, self.folder, self.url = backend, folder, backend.url

    def take(self) -> None:
        if self.backend.server is None:
            with sqlite3.connect(self.folder / "hub" / "hub.db") as source, sqlite3.connect(self.folder / "backup.db") as target:
                source.backup(target)
            return
        dump = self.backend.server.bin / "pg_dump"
        subprocess.run([str(dump), "-Fc", "-f", str(self.folder / "hub.dump"), self.url], check=True, timeout=60, capture_output=True)

    def restore(self) -> str | None:
        """Put the backup in place of the hub's store; return the restored hub's database URL."""
        if self.backend.server is None:
            for suffix in ("", "-wal", "-shm"):
                (self.folder / "hub" / f"hub.db{suffix}").unlink(missing_ok=True)
            shutil.copy(self.folder / "backup.db", self.folder / "hub" / "hub.db")
            return None
        self.url = self.backend.server.create_database()
        restore = self.backend.server.bin / "pg_restore"
        subprocess.run([str(restore), "--no-owner", "-d", self.url, str(self.folder / "hub.dump")], check=True, timeout=60,
                       capture_output=True)
        return self.url


def _publish(hub, folder, rows: str) -> None:
    """Publish catalog rows written as ``sku,title,price`` lines through the hub's publish route."""
    records = [dict(zip(("sku", "title", "price"), line.split(","))) for line in rows.splitlines()]
    publish(hub, "catalog_items", [{**r, "price": float(r["price"])} for r in records])


@pytest.mark.parametrize("retained", [True, False], ids=["from the retained log", "from the append-only tables"])
def test_a_hub_restored_from_a_backup_gets_back_everything_the_nodes_hold(tmp_path, hub_backend, retained):
    retention = {} if retained else {"SYNC_RETAIN_HOURS": 0, "SYNC_RETAIN_CHANGES": 0}
    hub = make_hub(tmp_path / "hub", hub_backend.url)
    token = register(hub, "store-1")
    edge = make_edge(tmp_path / "edge", token, **retention)
    node, backup = node_of(edge), Backup(hub_backend, tmp_path)
    _publish(hub, tmp_path, "a1,Apple,1\n")
    posted = [post_event(edge, "view", n=i) for i in range(10)]
    sync_once(node, FlaskTransport(hub))
    backup.take()
    posted += [post_event(edge, "cart", n=i) for i in range(50)]
    _publish(hub, tmp_path, "b2,Bread,2\n")  # published after the backup: the restored hub no longer has it
    assert sync_once(node, FlaskTransport(hub))["pushed"] == 50
    hub_store(hub).close()
    url = backup.restore()
    hub = make_hub(tmp_path / "hub", url)
    _publish(hub, tmp_path, "c3,Cheese,3\n")  # reuses the sequence number the node saw for Bread
    posted += [post_event(edge, "order", n=i) for i in range(5)]
    rounds = [sync_once(node, FlaskTransport(hub)) for _ in range(3)]
    assert hub_event_ids(hub) == sorted(posted) == event_ids(node.db())
    assert as_items(node.db()["catalog_items"].rows) == as_items(hub_store(hub).rows("catalog_items"))
    assert sorted(r["sku"] for r in node.db()["catalog_items"].rows) == ["a1", "c3"]
    notices = " ".join(rounds[0]["notices"])
    assert "the hub lost changes 11..60 of this node" in notices and "no longer has hub changes" in notices
    assert ("re-sending them from the retained log" in notices) == retained and not rounds[1]["notices"] and rounds[2]["pushed"] == 0
    record_round(node.data_dir, rounds[0])
    assert read_status(node.data_dir)["last_notices"]["notices"] == rounds[0]["notices"]
    state = hub.test_client().get("/v1/hub/status").get_json()["hub"]
    assert sorted(n["code"] for n in state["notices"]) == ["hub_lost_changes", "hub_restored"]
    assert {n["node"] for n in state["notices"]} == {"store-1"}
    hub_store(hub).close()


def test_a_push_that_skips_what_the_hub_lost_is_refused(tmp_path):
    from edge.errors import Conflict
    from edge.sync import delta as wire
    from edge.sync.protocol import Change, Header

    hub = make_hub(tmp_path / "hub")
    register(hub, "store-1")
    store = hub_store(hub)
    row = '{"id": "e%d", "kind": "view", "payload": "{}", "created_at": "t"}'
    first = [Change(i, "events", f"e{i}", "I", row % i, i, "store-1", 1) for i in (1, 2)]
    store.push(wire.encode(wire.seal(Header(origin="store-1", epoch="e", from_seq=1, to_seq=2, log_start=1), first)), "store-1")
    later = [Change(9, "events", "e9", "I", row % 9, 9, "store-1", 1)]  # the sender pruned 3..8: they would be lost
    with pytest.raises(Conflict) as gap:
        store.push(wire.encode(wire.seal(Header(origin="store-1", epoch="e", from_seq=3, to_seq=9, log_start=9), later)), "store-1")
    assert gap.value.code == "gap" and store.cursor_of("store-1")["seq"] == 2


def _distant(hub, delay: float = 0.02):
    """A transport to ``hub`` whose every request takes ``delay`` s longer (a hub across a network)."""
    transport = FlaskTransport(hub)
    forward = transport.request

    def request(*args, **kwargs):
        time.sleep(delay)
        return forward(*args, **kwargs)

    transport.request = request
    return transport


def test_a_round_under_steady_load_pushes_a_bounded_batch_then_pulls(tmp_path):
    from plugins.events.routes import record_event

    hub = make_hub(tmp_path / "hub")
    edge = make_edge(tmp_path / "edge", register(hub, "store-1"), SYNC_BATCH=50)
    node, stop, written = node_of(edge), threading.Event(), []

    def load():  # 200 events/s into the node's own store until the rounds are done (at most 20 s)
        from edge.store import connect

        db = connect(node.store.path)
        deadline = time.monotonic() + 20
        while not stop.is_set() and time.monotonic() < deadline:
            try:
                written.append(record_event(db, "view", {"n": len(written)})["id"])
            except sqlite3.OperationalError:  # "database is locked" of a deferred write: the load tries again
                db.conn.rollback()
            time.sleep(0.005)
        db.close()

    writer = threading.Thread(target=load)
    writer.start()
    try:
        while len(written) < 100:
            time.sleep(0.05)
        _publish(hub, tmp_path, "a1,Apple,1\n")
        rounds, before = [], []
        for _ in range(2):
            before.append(len(written))
            rounds.append(sync_once(node, _distant(hub)))
    finally:
        stop.set()
        writer.join()
    assert node.db()["catalog_items"].count == 1 and rounds[0]["pulled"] == 1
    for pushed, waiting in zip((r["pushed"] for r in rounds), before):  # what arrives during a round waits for the next
        assert 0 < pushed <= waiting + 50
    sync_once(node, FlaskTransport(hub))
    assert hub_event_ids(hub) == sorted(written)


def test_a_round_stops_at_its_bound_and_says_there_is_more(tmp_path):
    from plugins.events.routes import record_event

    hub = make_hub(tmp_path / "hub")
    edge = make_edge(tmp_path / "edge", register(hub, "store-1"), SYNC_BATCH=100, SYNC_ROUND_CHANGES=250)
    node = node_of(edge)
    for i in range(600):
        record_event(node.db(), "view", {"i": i})
    first = sync_once(node, FlaskTransport(hub))
    assert first["pushed"] == 250 and first["more"] is True
    assert [sync_once(node, FlaskTransport(hub))["pushed"] for _ in range(2)] == [250, 100]
    assert len(hub_event_ids(hub)) == 600


def test_counters_are_healed_from_the_retained_log_and_an_edge_restore_counts_nothing_twice(tmp_path):
    from tests.pg_server import HubBackend
    from tests.test_stock_levels import deliver, hub_file, levels, sell

    hub = make_hub(tmp_path / "hub")
    edge = make_edge(tmp_path / "edge", register(hub, "store-1"))
    node, backup = node_of(edge), Backup(HubBackend("sqlite"), tmp_path)
    deliver(hub_file(tmp_path), "apple", 100)
    sync_once(node, FlaskTransport(hub))
    backup.take()
    sell(node.db(), "apple", 3)
    sync_once(node, FlaskTransport(hub))
    hub_store(hub).close()
    backup.restore()
    hub = make_hub(tmp_path / "hub")
    assert levels(hub_file(tmp_path)) == {"apple": 100}  # the restored hub lost the sale
    sync_once(node, FlaskTransport(hub))
    assert levels(hub_file(tmp_path)) == levels(node.db()) == {"apple": 97}

    node.db().execute("PRAGMA wal_checkpoint(TRUNCATE)")  # now the edge is restored from its own backup
    shutil.copy(tmp_path / "edge" / "store.db", tmp_path / "edge-backup.db")
    sell(node.db(), "apple", 5)
    sync_once(node, FlaskTransport(hub))
    node.close()
    for suffix in ("-wal", "-shm"):
        (tmp_path / "edge" / f"store.db{suffix}").unlink(missing_ok=True)
    shutil.copy(tmp_path / "edge-backup.db", tmp_path / "edge" / "store.db")
    restored = node_of(make_edge(tmp_path / "edge", node.config["HUB_TOKEN"]))
    result = sync_once(restored, FlaskTransport(hub))
    assert "starting a new epoch" in " ".join(result["notices"])
    assert levels(hub_file(tmp_path)) == {"apple": 92}  # the retained first sale was not sent again
