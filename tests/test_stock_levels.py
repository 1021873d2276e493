"""Stock levels as a counter: sales on edges, deliveries at the hub, everyone converges, nothing counts twice.

The hub runs as the real Flask app (test client as transport); the tests read and write the hub's SQLite
file through their own connection, as an admin tool at the hub would.
"""

from __future__ import annotations

import pytest

from edge.store import connect
from edge.sync import delta as wire
from edge.sync.apply import Applier
from edge.sync.export import export_delta
from edge.sync.worker import Round, make_client, pull, sync_once
from tests.test_sync_support import FlaskTransport, make_edge, make_hub, node_of, register


def hub_file(folder):
    """A connection of our own to the hub's store file."""
    return connect(folder / "hub" / "hub.db")


def deliver(db, sku: str, quantity: int) -> None:
    """A delivery at the hub: add to the stock on hand (creating the row)."""
    with db.atomic():
        db.execute("INSERT INTO stock_levels (id, sku, on_hand) VALUES ('default/' || ?, ?, ?) ON CONFLICT (id) "
                   "DO UPDATE SET on_hand = on_hand + excluded.on_hand", [sku, sku, quantity])


def sell(db, sku: str, quantity: int = 1) -> None:
    """A sale on an edge: take from the stock on hand."""
    with db.atomic():
        db.execute("UPDATE stock_levels SET on_hand = on_hand - ? WHERE sku = ?", [quantity, sku])


def levels(db) -> dict:
    return dict(db.execute("SELECT sku, on_hand FROM stock_levels ORDER BY sku").fetchall())


@pytest.fixture
def fleet(tmp_path):
    """A hub with stock delivered, and two edges that have pulled it."""
    hub = make_hub(tmp_path / "hub")
    edges = [make_edge(tmp_path / f"e{i}", register(hub, f"store-{i}")) for i in (1, 2)]
    hub_db = hub_file(tmp_path)
    deliver(hub_db, "apple", 100)
    deliver(hub_db, "bread", 40)
    for edge in edges:
        sync_once(node_of(edge), FlaskTransport(hub))
    return hub, edges, hub_db


def test_edges_start_from_the_hubs_stock(fleet):
    hub, edges, hub_db = fleet
    assert [levels(node_of(e).db()) for e in edges] == [{"apple": 100, "bread": 40}] * 2


def test_two_edges_and_the_hub_change_stock_concurrently_and_converge(fleet):
    hub, (e1, e2), hub_db = fleet
    db1, db2 = node_of(e1).db(), node_of(e2).db()
    for _ in range(3):
        sell(db1, "apple")
    sell(db1, "bread", 2)
    sell(db2, "apple", 5)
    deliver(hub_db, "apple", 20)
    deliver(hub_db, "cheese", 7)  # a new SKU at the hub while the edges sell
    sync_once(node_of(e2), FlaskTransport(hub))
    sell(db2, "bread")  # after its first sync, before e1 pushed
    sync_once(node_of(e1), FlaskTransport(hub))
    sync_once(node_of(e2), FlaskTransport(hub))
    sync_once(node_of(e1), FlaskTransport(hub))
    expected = {"apple": 100 - 3 - 5 + 20, "bread": 40 - 2 - 1, "cheese": 7}
    assert levels(hub_db) == levels(db1) == levels(db2) == expected
    for edge in (e1, e2, e1):  # more rounds change nothing: no change is counted twice
        sync_once(node_of(edge), FlaskTransport(hub))
    assert levels(hub_db) == levels(db1) == levels(db2) == expected


def test_an_edge_behind_a_compacted_log_gets_a_snapshot_and_keeps_its_unpushed_sales(fleet, tmp_path):
    from edge.hub.sync import compact

    hub, (e1, e2), hub_db = fleet
    db1 = node_of(e1).db()
    sell(db1, "apple", 7)  # not pushed yet
    deliver(hub_db, "apple", 10)
    sell(node_of(e2).db(), "bread", 4)
    sync_once(node_of(e2), FlaskTransport(hub))
    dropped = compact(hub_db, 0)
    assert dropped > 0 and hub_db["_changes"].count == 0
    node = node_of(e1)
    tables = __import__("edge.sync.tables", fromlist=["synced_tables"]).synced_tables(node.plugins)
    pulled = pull(db1, make_client(node, FlaskTransport(hub)), tables, Round({}, tmp_path))  # a pull before any push: a snapshot
    assert pulled > 0
    assert levels(db1) == {"apple": 100 + 10 - 7, "bread": 40 - 4}  # the hub's totals plus its own unpushed sale
    sync_once(node, FlaskTransport(hub))  # the sale reaches the hub; its echo is not applied again
    sync_once(node_of(e2), FlaskTransport(hub))
    assert levels(hub_db) == levels(db1) == levels(node_of(e2).db()) == {"apple": 103, "bread": 36}


def test_a_replayed_or_overlapping_counter_delta_counts_once(tmp_path):
    from edge.hookspecs import SyncedTable
    from edge.sync import capture

    tables = {"stock_levels": SyncedTable("stock_levels", "edge_to_hub", "counter", "sku")}
    stores = []
    for name in ("shop", "hub"):
        db = connect(tmp_path / f"{name}.db")
        db["stock_levels"].create({"sku": str, "on_hand": int}, pk="sku")
        capture.install_triggers(db, tables, "edge")
        capture.set_origin(db, name)
        stores.append(db)
    shop, hub = stores
    shop["stock_levels"].insert({"sku": "s", "on_hand": 10})
    sell(shop, "s", 3)
    first = wire.encode(export_delta(shop, 0, limit=1))
    sell(shop, "s", 2)
    applier = Applier(hub, tables, relog=True)
    applier.apply(wire.decode(first))
    for _ in range(2):  # an overlapping delta, then the same again
        applier.apply(wire.decode(wire.encode(export_delta(shop, 0))))
    assert levels(hub) == levels(shop) == {"s": 5}
    assert hub.execute("SELECT count(*), sum(json_extract(row, '$.on_hand')) FROM _changes").fetchone() == (3, 5)  # relogged once
    Applier(shop, tables).apply(wire.decode(wire.encode(export_delta(hub, 0))), origin="hub")  # its own echo
    assert levels(shop) == {"s": 5}
