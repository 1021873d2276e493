"""Stores bound to a node by the hub's operator: a node syncs only the stores it was granted at registration or
with ``hub grant``; a node naming another store gets 403 and none of its rows, and cannot push its events.
Against a real gunicorn hub on loopback (SQLite and PostgreSQL) with edges syncing over HTTP."""

from __future__ import annotations

import json

import pytest
import requests

from edge.errors import ApiError
from edge.sync.worker import sync_once
from tests.pg_server import hub_backend, pg_server  # noqa: F401 (fixtures)
from tests.test_hub_gunicorn import admin, running_hub
from tests.test_sync_support import hub, hub_store, make_edge, node_of, register  # noqa: F401

pytestmark = pytest.mark.slow
CATALOG = "store,sku,title,price\nnorth,A1,Apple north,1\nsouth,A1,Apple south,3\n"


@pytest.fixture
def granted_hub(tmp_path, hub_backend):
    """A real hub with a catalog for north and south and node ``pop-1`` granted ``north`` only."""
    hub_dir = tmp_path / "hub"
    token = admin(hub_dir, hub_backend.url, "register-node", "pop-1", "--group", "cdn", "--stores", "north").strip()
    (tmp_path / "catalog.csv").write_text(CATALOG)
    admin(hub_dir, hub_backend.url, "publish", "catalog_items", str(tmp_path / "catalog.csv"))
    with running_hub(hub_dir, hub_backend.url, tmp_path / "hub.log") as url:
        yield url, token, hub_dir, hub_backend.url


def _hub_events(hub_dir, database_url) -> list[str]:
    from edge.hub.backends import open_store

    store = open_store(hub_dir, database_url, extra_plugins=["plugins.events.plugin"])
    try:
        return sorted(r["store"] for r in store.rows("events"))
    finally:
        store.close()


def _post(app, store: str) -> None:
    answer = app.test_client().post(f"/v1/stores/{store}/events", json={"kind": "view", "payload": {}},
                                    headers={"Authorization": "Bearer k"})
    assert answer.status_code == 201, answer.get_json()


def test_a_node_naming_an_ungranted_store_gets_none_of_its_rows_and_cannot_push(granted_hub, tmp_path):
    url, token, hub_dir, database_url = granted_hub
    edge = make_edge(tmp_path / "edge", token, HUB_URL=url, STORES="north,south", CLIENT_KEY="k")
    _post(edge, "south")
    with pytest.raises(ApiError) as refused:
        sync_once(node_of(edge))
    assert refused.value.status == 403 and "not granted" in str(refused.value)
    assert node_of(edge).db()["catalog_items"].count == 0 and _hub_events(hub_dir, database_url) == []
    answer = requests.get(url + "/v1/hub/sync/pull", headers={"Authorization": f"Bearer {token}", "X-Stores": "north,south"},
                          timeout=10)
    assert answer.status_code == 403 and answer.headers["Content-Type"] == "application/json"
    assert answer.json()["error"]["code"] == "store_not_granted"
    assert answer.json()["error"]["details"] == {"not_granted": ["south"], "granted": ["north"]}
    status = json.loads(admin(hub_dir, database_url, "status"))["nodes"]
    assert [(n["name"], n["granted_stores"]) for n in status] == [("pop-1", ["north"])]
    node_of(edge).close()


def test_a_granted_node_cannot_push_another_stores_rows(granted_hub, tmp_path):
    url, token, hub_dir, database_url = granted_hub
    edge = make_edge(tmp_path / "edge", token, HUB_URL=url, STORES="north", CLIENT_KEY="k")
    sync_once(node_of(edge))
    assert [r["id"] for r in node_of(edge).db()["catalog_items"].rows] == ["north/A1"]
    _post(edge, "north")
    node_of(edge).db()["events"].insert({"id": "01FORGED", "kind": "view", "payload": "{}", "store": "south",
                                         "created_at": "2026-12-01T00:00:00Z"})  # a tampered node's row
    with pytest.raises(ApiError) as refused:
        sync_once(node_of(edge))
    assert refused.value.status == 403 and "south" in str(refused.value)
    assert _hub_events(hub_dir, database_url) == []  # the whole push was refused
    node_of(edge).close()


def test_a_pull_without_x_stores_gets_the_granted_stores_only(granted_hub):
    from edge.sync.delta import decode

    url, token, _, _ = granted_hub
    answer = requests.get(url + "/v1/hub/sync/pull", headers={"Authorization": f"Bearer {token}"}, timeout=10)
    assert answer.status_code == 200
    rows = [json.loads(c.row) for c in decode(answer.content).changes if c.tbl == "catalog_items"]
    assert [(r["store"], r["title"]) for r in rows] == [("north", "Apple north")]


def test_an_x_stores_header_naming_no_store_is_a_bad_request_not_a_refusal(granted_hub):
    url, token, _, _ = granted_hub
    for header in ("", ",, ,"):
        answer = requests.get(url + "/v1/hub/sync/pull", headers={"Authorization": f"Bearer {token}", "X-Stores": header},
                              timeout=10)
        assert answer.status_code == 400, (header, answer.text)
        assert answer.json()["error"]["code"] == "no_stores" and answer.json()["error"]["details"] == {"granted": ["north"]}


def test_a_grant_widens_what_the_node_syncs(granted_hub, tmp_path):
    url, token, hub_dir, database_url = granted_hub
    assert admin(hub_dir, database_url, "grant", "pop-1", "--stores", "north,south").strip() == "pop-1: north,south"
    edge = make_edge(tmp_path / "edge", token, HUB_URL=url, STORES="north,south", CLIENT_KEY="k")
    _post(edge, "south")
    assert sync_once(node_of(edge))["pushed"] == 1
    assert sorted(r["id"] for r in node_of(edge).db()["catalog_items"].rows) == ["north/A1", "south/A1"]
    assert _hub_events(hub_dir, database_url) == ["south"]
    assert "granted=north,south" in admin(hub_dir, database_url, "nodes")
    node_of(edge).close()


def test_grants_through_the_admin_api_and_their_errors(hub):
    client = hub.test_client()
    made = client.post("/v1/hub/nodes", json={"name": "pop-9", "group": "cdn", "stores": ["east", "west"]})
    assert made.status_code == 201 and made.get_json()["stores"] == ["east", "west"]
    assert client.post("/v1/hub/nodes", json={"name": "pop-8", "group": "cdn"}).get_json()["stores"] == ["default"]
    assert client.put("/v1/hub/nodes/pop-9/stores", json={"stores": ["west"]}).get_json() == {"name": "pop-9", "stores": ["west"]}
    assert [n["granted_stores"] for n in hub_store(hub).status() if n["name"] == "pop-9"] == [["west"]]
    for path, body, status, code in [("/v1/hub/nodes/nobody/stores", {"stores": ["west"]}, 404, "unknown_node"),
                                     ("/v1/hub/nodes/pop-9/stores", {"stores": ["West Side"]}, 422, "bad_store"),
                                     ("/v1/hub/nodes/pop-9/stores", {"stores": ["a", "a"]}, 422, "bad_store"),
                                     ("/v1/hub/nodes/pop-9/stores", {"stores": []}, 422, "no_stores"),
                                     ("/v1/hub/nodes/pop-9/stores", {"stores": [" "]}, 422, "no_stores")]:
        answer = client.put(path, json=body)
        assert answer.status_code == status and answer.get_json()["error"]["code"] == code, answer.get_json()
    many = client.put("/v1/hub/nodes/pop-9/stores", json={"stores": ["X" * 200] * 3000})
    assert many.status_code == 422 and many.get_json()["error"]["code"] == "bad_store" and len(many.data) < 2000
    bad = client.post("/v1/hub/nodes", json={"name": "pop-7", "group": "cdn", "stores": ["../x"]})
    assert bad.status_code == 422 and hub_store(hub).node_row("pop-7") is None
    assert [n["granted_stores"] for n in hub_store(hub).status() if n["name"] == "pop-9"] == [["west"]]
    empty = client.post("/v1/hub/nodes", json={"name": "pop-6", "group": "cdn", "stores": []})
    assert empty.status_code == 422 and empty.get_json()["error"]["code"] == "no_stores"
    assert hub_store(hub).node_row("pop-6") is None


def test_hub_grant_of_no_store_is_refused_and_keeps_the_grant(tmp_path, runner):
    from edge.cli.main import cli

    hub_dir = str(tmp_path / "hub")
    assert runner.invoke(cli, ["hub", "register-node", "pop-1", "--group", "g", "--stores", "north",
                               "--data-dir", hub_dir]).exit_code == 0
    refused = runner.invoke(cli, ["hub", "grant", "pop-1", "--stores", " , ", "--data-dir", hub_dir])
    assert refused.exit_code != 0 and "at least one store" in refused.output and "Traceback" not in refused.output
    listed = runner.invoke(cli, ["hub", "nodes", "--data-dir", hub_dir])
    assert "north" in listed.output and "default" not in listed.output


def test_hub_grant_of_an_unknown_node_is_one_line(tmp_path, runner):
    from edge.cli.main import cli

    result = runner.invoke(cli, ["hub", "grant", "nobody", "--stores", "north", "--data-dir", str(tmp_path / "hub")])
    assert result.exit_code != 0 and "nobody" in result.output and "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1
