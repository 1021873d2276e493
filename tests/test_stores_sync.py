"""Per-store tables and the hub: the hub publishes a catalog per store, each node pulls the rows of its own
stores only (deltas and snapshots, on both hub backends), and events reach the hub with their store."""

from __future__ import annotations

from edge.sync.worker import sync_once
from tests.pg_server import hub_backend, pg_server  # noqa: F401 (fixtures)
from tests.test_sync_support import FlaskTransport, hub, hub_store, make_edge, node_of, publish, register  # noqa: F401

CATALOG = [{"store": "north", "sku": "A1", "title": "Apple north", "price": 1.0},
           {"store": "south", "sku": "A1", "title": "Apple south", "price": 3.0},
           {"store": "west", "sku": "W9", "title": "Walnuts", "price": 7.0}]


def _catalog(app) -> list[tuple]:
    return sorted((r["id"], r["store"], r["sku"], r["price"]) for r in node_of(app).db()["catalog_items"].rows)


def test_each_node_pulls_only_its_stores_rows(hub, tmp_path):
    publish(hub, "catalog_items", CATALOG)
    both = make_edge(tmp_path / "both", register(hub, "pop-1", stores="north,south"), STORES="north,south")
    west = make_edge(tmp_path / "west", register(hub, "pop-2", stores="west"), STORES="west")
    for edge in (both, west):
        sync_once(node_of(edge), FlaskTransport(hub))  # the first pull is a snapshot
    assert _catalog(both) == [("north/A1", "north", "A1", 1.0), ("south/A1", "south", "A1", 3.0)]
    assert _catalog(west) == [("west/W9", "west", "W9", 7.0)]
    publish(hub, "catalog_items", [{"store": "south", "sku": "A1", "title": "Apple south", "price": 2.5},
                                   {"store": "west", "sku": "W8", "title": "Wafers", "price": 1.0}], delete=["north/A1"])
    for edge in (both, west):
        sync_once(node_of(edge), FlaskTransport(hub))  # now deltas: an upsert and a deletion per store
    assert _catalog(both) == [("south/A1", "south", "A1", 2.5)]
    assert _catalog(west) == [("west/W8", "west", "W8", 1.0), ("west/W9", "west", "W9", 7.0)]
    stores = {n["name"]: n["stores"] for n in hub_store(hub).status()}
    assert stores == {"pop-1": ["north", "south"], "pop-2": ["west"]}
    for edge in (both, west):
        node_of(edge).close()


def test_events_reach_the_hub_with_their_store(hub, tmp_path):
    edge = make_edge(tmp_path / "edge", register(hub, "pop-1", stores="north,south"), STORES="north,south", CLIENT_KEY="k")
    client = edge.test_client()
    for store in ("north", "south", "south"):
        answer = client.post(f"/v1/stores/{store}/events", json={"kind": "view", "payload": {"sku": "A1"}},
                             headers={"Authorization": "Bearer k"})
        assert answer.status_code == 201
    assert sync_once(node_of(edge), FlaskTransport(hub))["pushed"] == 3
    assert sorted(r["store"] for r in hub_store(hub).rows("events")) == ["north", "south", "south"]
    node_of(edge).close()


def test_a_publication_names_valid_stores_and_an_empty_store_is_the_default(hub):
    response = hub.test_client().post("/v1/hub/tables/catalog_items/publish", json={"upsert": [
        {"store": "North Side", "sku": "A1", "title": "Apple", "price": 1}, {"store": "north", "sku": "B2", "title": "Bread", "price": 2}]})
    assert response.status_code == 422 and response.get_json()["error"]["code"] == "invalid_rows"
    problems = response.get_json()["error"]["details"]
    assert [p["line"] for p in problems] == [1] and "not a store id" in problems[0]["errors"][0]
    assert hub_store(hub).rows("catalog_items") == []
    csv = "store,sku,title,price\n,A1,Apple,1\nnorth,A1,Apple north,2\n"
    assert hub.test_client().post("/v1/hub/tables/catalog_items/publish", data=csv, content_type="text/csv").status_code == 200
    assert sorted((r["id"], r["store"]) for r in hub_store(hub).rows("catalog_items")) == [("default/A1", "default"), ("north/A1", "north")]
