"""Publishing any hub-owned table: upserts and deletes over HTTP and the command line, checked against the table's
schema with every bad row reported, on both hub backends; a refused publication changes nothing anywhere."""

from __future__ import annotations

import json

import pytest

from edge.sync.worker import sync_once
from tests.pg_server import hub_backend, pg_server  # noqa: F401 (fixtures)
from tests.test_sync_support import FlaskTransport, as_items, hub, hub_store, make_edge, node_of, publish, register  # noqa: F401

ROUTE = "/v1/hub/tables/{}/publish"


def _post(hub, table, **kwargs):
    return hub.test_client().post(ROUTE.format(table), **kwargs)


def test_upserts_and_deletes_reach_an_edge(hub, tmp_path):
    publish(hub, "catalog_items", [{"sku": "a", "title": "Apple", "price": 1.5, "images": ["a/0.jpg"]},
                                   {"sku": "b", "title": "Bread", "price": 2}, {"sku": "c", "title": "Cheese", "price": 9.9}])
    edge = make_edge(tmp_path / "edge", register(hub, "store-1"))
    node = node_of(edge)
    sync_once(node, FlaskTransport(hub))
    assert node.db()["catalog_items"].get("a")["images"] == '["a/0.jpg"]'
    assert publish(hub, "catalog_items", [{"sku": "a", "title": "Apple", "price": 1.25}], delete=["c"]) == {
        "table": "catalog_items", "upserted": 1, "deleted": 1}
    sync_once(node, FlaskTransport(hub))
    rows = {r["sku"]: r for r in node.db()["catalog_items"].rows}
    assert sorted(rows) == ["a", "b"] and (rows["a"]["images"], rows["a"]["price"]) == ('["a/0.jpg"]', 1.25), "partial upsert"
    assert rows["b"]["currency"] == "EUR" and rows["b"]["in_stock"] == 1, "a new row gets the columns' defaults"
    assert as_items(node.db()["catalog_items"].rows) == as_items(hub_store(hub).rows("catalog_items"))


def test_csv_and_json_lines_bodies(hub):
    response = _post(hub, "catalog_items", data="sku,title,price,in_stock\nx,Xigua,3.5,0\ny,Yam,2,\n", content_type="text/csv")
    assert response.get_json()["upserted"] == 2
    rows = {r["sku"]: r for r in hub_store(hub).rows("catalog_items")}
    assert (rows["x"]["price"], rows["x"]["in_stock"], rows["y"]["in_stock"]) == (3.5, 0, 1), "an empty field takes the default"
    lines = '{"sku": "z", "title": "Zucchini", "price": 1}\n\n{"_op": "delete", "sku": "x"}\n'
    assert _post(hub, "catalog_items", data=lines, content_type="application/x-ndjson").get_json() == {
        "table": "catalog_items", "upserted": 1, "deleted": 1}
    assert [(r["sku"], r["price"]) for r in hub_store(hub).rows("catalog_items")] == [("y", 2.0), ("z", 1.0)]


BAD_ROWS = [
    {"sku": "ok", "title": "Fine", "price": 1},
    {"title": "No key", "price": 1},
    {"sku": "p", "title": "Priceless", "price": "free"},
    {"sku": "q", "title": "Huge", "price": 1, "in_stock": "1180591620717411303424"},
    {"sku": "r", "title": None, "price": 1},
    {"sku": "s", "title": "Extra", "price": 1, "colour": "red"},
    {"sku": "t", "price": 1},
    {"sku": "u", "title": 12, "price": 1},
    {"sku": "v", "title": "Bool", "price": 1, "in_stock": True},
    "not an object",
]


def test_every_bad_row_is_reported_and_nothing_changes(hub, tmp_path):
    publish(hub, "catalog_items", [{"sku": "keep", "title": "Kept", "price": 1}])
    edge = make_edge(tmp_path / "edge", register(hub, "store-1"))
    node = node_of(edge)
    sync_once(node, FlaskTransport(hub))
    cursor = node.db().execute("SELECT epoch, seq FROM _sync_cursors WHERE origin = 'hub'").fetchone()
    before = hub_store(hub).rows("catalog_items")
    response = _post(hub, "catalog_items", json={"upsert": BAD_ROWS, "delete": [None]})
    assert response.status_code == 422
    error = response.get_json()["error"]
    assert error["code"] == "invalid_rows" and error["message"].startswith("10 rows do not fit table catalog_items")
    by_line = {p["line"]: " ".join(p["errors"]) for p in error["details"]}
    assert sorted(by_line) == list(range(2, 12))
    assert "key is missing" in by_line[2] and "finite number" in by_line[3] and "expected an integer" in by_line[4]
    assert "may not be null" in by_line[5] and "no such column" in by_line[6] and "title: missing" in by_line[7]
    assert "expected text" in by_line[8] and "expected an integer" in by_line[9] and "JSON object" in by_line[10]
    assert hub_store(hub).rows("catalog_items") == before
    assert sync_once(node, FlaskTransport(hub))["pulled"] == 0
    assert node.db().execute("SELECT epoch, seq FROM _sync_cursors WHERE origin = 'hub'").fetchone() == cursor


@pytest.mark.parametrize("table, kwargs, status, code", [
    ("nothing", {"json": {"upsert": []}}, 404, "unknown_table"),
    ("events", {"json": {"upsert": []}}, 404, "unknown_table"),  # edge-owned: never published by the hub
    ("stock_levels", {"json": {"upsert": []}}, 404, "unknown_table"),
    ("catalog_items", {"data": "x", "content_type": "text/plain"}, 415, "unsupported_media_type"),
    ("catalog_items", {"data": "{", "content_type": "application/json"}, 400, "malformed_json"),
    ("catalog_items", {"json": [1, 2]}, 422, "invalid_request"),
    ("catalog_items", {"json": {"upsert": [], "drop": []}}, 422, "invalid_request"),
    ("catalog_items", {"data": b"\xff\xfe", "content_type": "text/csv"}, 400, "bad_encoding"),
    ("catalog_items", {"data": "[" * 100_000 + "]" * 100_000, "content_type": "application/json"}, 400, "too_deep"),
    ("catalog_items", {"json": {"upsert": [{"sku": "q", "title": "Huge", "price": 1, "in_stock": 1 << 70}]}}, 400,
     "number_out_of_range"),
])
def test_bad_requests_are_clear_json_errors(hub, table, kwargs, status, code):
    response = _post(hub, table, **kwargs)
    assert response.status_code == status and response.get_json()["error"]["code"] == code


def test_a_bad_json_line_is_reported_by_line(hub):
    deep = "[" * 5000 + "]" * 5000
    lines = f'{{"sku": "a", "title": "A", "price": 1}}\n{{"sku": \n{deep}\n'
    error = _post(hub, "catalog_items", data=lines, content_type="application/x-ndjson").get_json()["error"]
    assert [p["line"] for p in error["details"]] == [2, 3] and hub_store(hub).rows("catalog_items") == []


def test_a_csv_integer_past_64_bits_is_reported_by_line(hub):
    text = "sku,title,price,in_stock\nok,Fine,1,1\nq,Huge,1,1180591620717411303424\n"
    response = _post(hub, "catalog_items", data=text, content_type="text/csv")
    assert response.status_code == 422
    (problem,) = response.get_json()["error"]["details"]
    assert problem["line"] == 3 and "does not fit 64 bits" in " ".join(problem["errors"])


def test_an_unreadable_csv_is_reported_not_raised(hub):
    text = "sku,title,price\na,A,1\nb,\"" + "x" * 200_000 + "\",2\n"
    response = _post(hub, "catalog_items", data=text, content_type="text/csv")
    assert response.status_code == 422 and "unreadable CSV" in response.get_json()["error"]["details"][0]["errors"][0]
    assert hub_store(hub).rows("catalog_items") == []


def test_the_publish_route_needs_the_admin_key(tmp_path):
    from tests.test_sync_support import make_hub

    app = make_hub(tmp_path / "hub", ADMIN_KEY="hub-admin")
    assert _post(app, "catalog_items", json={"upsert": []}).status_code == 401
    ok = _post(app, "catalog_items", json={"upsert": []}, headers={"Authorization": "Bearer hub-admin"})
    assert ok.status_code == 200 and ok.get_json()["upserted"] == 0


def test_hub_publish_command(runner, tmp_path, monkeypatch):
    from edge.cli.main import cli

    monkeypatch.setenv("STOREFRONT_EDGE_PLUGINS", "catalog")
    hub_dir = tmp_path / "hub"
    good = tmp_path / "rows.jsonl"
    good.write_text(json.dumps({"sku": "a", "title": "Apple", "price": 1}) + "\n")
    result = runner.invoke(cli, ["hub", "publish", "catalog_items", str(good), "--data-dir", str(hub_dir)])
    assert result.exit_code == 0 and "1 upserted, 0 deleted" in result.output, result.output
    bad = tmp_path / "rows.csv"
    bad.write_text("sku,title,price\nb,Bread,cheap\n,Nothing,1\nc,Cake,2\n")
    result = runner.invoke(cli, ["hub", "publish", "catalog_items", str(bad), "--data-dir", str(hub_dir)])
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert lines[0].startswith("line 2: price:") and lines[1].startswith("line 3: sku: the key is missing")
    assert lines[-1].startswith("Error: 2 rows do not fit table catalog_items") and "[invalid_rows]" in lines[-1]
    from edge.hub.backends import open_store

    assert [r["sku"] for r in open_store(hub_dir).rows("catalog_items")] == ["a"]
    unknown = runner.invoke(cli, ["hub", "publish", "nope", str(good), "--data-dir", str(hub_dir)])
    assert unknown.exit_code == 1 and "[unknown_table]" in unknown.output
    odd = tmp_path / "rows.txt"
    odd.write_text("x")
    assert "[unknown_format]" in runner.invoke(cli, ["hub", "publish", "catalog_items", str(odd), "--data-dir", str(hub_dir)]).output
