"""Sync belongs to the node: capture, sync state and the worker whatever plugins are loaded (no events plugin here)."""

from __future__ import annotations

from edge.sync.worker import sync_once
from tests.pg_server import hub_backend, pg_server  # noqa: F401 (fixtures)
from tests.test_sync_support import FlaskTransport, hub, hub_store, make_edge, node_of, register  # noqa: F401


def _catalog_only_edge(folder, token=None, **config):
    return make_edge(folder, token, PLUGINS=["catalog"], EXTRA_PLUGINS=[], **config)


def test_a_node_without_the_events_plugin_still_captures_and_syncs(hub, tmp_path):
    hub.test_client().post("/v1/hub/tables/catalog_items/publish", json={"upsert": [{"sku": "a1", "title": "Apple", "price": 1.5}]})
    edge = _catalog_only_edge(tmp_path / "edge", register(hub, "store-1"))
    node = node_of(edge)
    assert set(node.plugins.plugins) == {"catalog"}
    db = node.db()
    assert db["_sync_state"].exists() and db["_changes"].exists()
    triggers = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'")}
    assert "_sync_stock_levels_ins" in triggers and "_sync_catalog_items_guard_ins" in triggers
    db["stock_levels"].insert({"id": "default/a1", "sku": "a1", "on_hand": -2})
    result = sync_once(node, FlaskTransport(hub))
    assert result["pushed"] == 1 and result["pulled"] >= 1
    assert db["catalog_items"].get("default/a1")["title"] == "Apple"
    assert [(r["sku"], r["on_hand"]) for r in hub_store(hub).rows("stock_levels")] == [("a1", -2)]


def test_the_node_starts_its_sync_worker_and_stops_it_at_close(tmp_path):
    edge = _catalog_only_edge(tmp_path / "edge", "store-1.secret", HUB_URL="http://127.0.0.1:9", SYNC_WORKER=True,
                              SYNC_INTERVAL=60)
    node = node_of(edge)
    worker = node.sync_worker
    assert worker is not None and worker.thread.is_alive()
    second = node_of(_catalog_only_edge(tmp_path / "edge", "store-1.secret", HUB_URL="http://127.0.0.1:9", SYNC_WORKER=True))
    assert second.sync_worker is None, "one worker per data folder: the election lock is held"
    node.close()
    assert not worker.thread.is_alive() and node.sync_worker is None
    second.close()


def test_a_standalone_node_captures_without_a_worker(tmp_path):
    node = node_of(_catalog_only_edge(tmp_path / "edge"))
    try:
        node.db()["stock_levels"].insert({"id": "default/x", "sku": "x", "on_hand": 3})
        assert node.sync_worker is None
        assert [r["tbl"] for r in node.db()["_changes"].rows] == ["stock_levels"]
    finally:
        node.close()
