"""Many stores on one node: store routing, keys scoped to stores, per-store catalogs and events, and
answers a cache may keep (ETag, Cache-Control, Vary, 304)."""

from __future__ import annotations

import re

import pytest

from edge.app import create_app
from plugins.catalog.importer import import_catalog
from tests.cdn_support import ADMIN, bearer, store_config, write_catalog


@pytest.fixture
def shops(tmp_path):
    """A node of two stores; both sell SKU ``A1`` at their own price."""
    app = create_app(store_config(tmp_path / "var"), watch=False)
    node = app.extensions["storefront_edge"]
    media = node.data_dir / "media" / "catalog"
    import_catalog(node.db(), write_catalog(tmp_path / "n", [("A1", "Apple north", 1.0), ("B2", "Bread", 2.0)]), media, "north")
    import_catalog(node.db(), write_catalog(tmp_path / "s", [("A1", "Apple south", 3.0)], colour=(10, 200, 10)), media, "south")
    yield app
    node.close()


def _error(response, status: int, code: str) -> None:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/json" and response.get_json()["error"]["code"] == code


def test_each_store_sees_its_own_catalog_under_its_prefix(shops):
    client = shops.test_client()
    north = client.get("/v1/stores/north/catalog/items", headers=bearer("north")).get_json()
    south = client.get("/v1/stores/south/catalog/items", headers=bearer("south")).get_json()
    assert [(i["sku"], i["price"]) for i in north["items"]] == [("A1", 1.0), ("B2", 2.0)] and north["total"] == 2
    assert [(i["sku"], i["price"], i["title"]) for i in south["items"]] == [("A1", 3.0, "Apple south")]
    assert re.fullmatch(r"/v1/stores/north/catalog/images/A1/[0-9a-f]{16}/0\.png", north["items"][0]["image_urls"][0])
    assert client.get("/v1/stores/south/catalog/items/A1", headers=bearer("south")).get_json()["price"] == 3.0
    assert client.get("/v1/stores/north/catalog/items/A1", headers={"Authorization": f"Bearer {ADMIN}"}).get_json()["price"] == 1.0


def test_a_key_of_one_store_is_refused_on_another(shops):
    client = shops.test_client()
    _error(client.get("/v1/stores/south/catalog/items", headers=bearer("north")), 403, "wrong_store")
    _error(client.get("/v1/stores/south/catalog/items/A1", headers=bearer("north")), 403, "wrong_store")
    url = client.get("/v1/stores/south/catalog/items/A1", headers=bearer("south")).get_json()["image_urls"][0]
    _error(client.get(url, headers=bearer("north")), 403, "wrong_store")
    _error(client.get("/v1/stores/south/catalog/items", headers={"Authorization": "Bearer nobody"}), 403, "wrong_key")
    _error(client.get("/v1/stores/south/catalog/items"), 401, "missing_key")


@pytest.mark.parametrize("path, status, code", [
    ("/v1/stores/east/catalog/items", 404, "unknown_store"),
    ("/v1/stores/North/catalog/items", 400, "bad_store"),
    ("/v1/stores/no_rth/catalog/items", 400, "bad_store"),
    ("/v1/stores/%2e%2e/catalog/items", 400, "bad_store"),
    (f"/v1/stores/{'a' * 65}/catalog/items", 400, "bad_store"),
    ("/v1/catalog/items", 400, "store_required"),
    ("/v1/stores/north/admin/bundles", 404, "not_found"),
])
def test_bad_stores_are_json_errors_and_never_another_stores_data(shops, path, status, code):
    response = shops.test_client().get(path, headers={"Authorization": f"Bearer {ADMIN}"})
    _error(response, status, code)
    assert b"Apple" not in response.data


def test_an_image_of_another_store_is_not_reachable_by_its_sku(shops):
    client = shops.test_client()
    south_url = client.get("/v1/stores/south/catalog/items/A1", headers=bearer("south")).get_json()["image_urls"][0]
    digest = south_url.split("/")[-2]
    _error(client.get(f"/v1/stores/north/catalog/images/A1/{digest}/0.png", headers=bearer("north")), 404, "unknown_image")
    _error(client.get("/v1/stores/north/catalog/images/A1/..%2f.stores/0.png", headers=bearer("north")), 404, "not_found")


def test_events_carry_their_store(shops):
    client = shops.test_client()
    answer = client.post("/v1/stores/south/events", json={"kind": "view", "payload": {"sku": "A1"}}, headers=bearer("south"))
    assert answer.status_code == 201 and answer.headers["Cache-Control"] == "no-store"
    row = shops.extensions["storefront_edge"].db()["events"].get(answer.get_json()["id"])
    assert row["store"] == "south"


def test_catalog_answers_carry_etag_cache_control_and_vary_and_answer_304(shops):
    client, headers = shops.test_client(), bearer("north")
    first = client.get("/v1/stores/north/catalog/items", headers=headers)
    etag = first.headers["ETag"]
    assert re.fullmatch(r'"[0-9a-f]{32}"', etag) and first.headers["Cache-Control"] == "public, max-age=60, stale-if-error=86400"
    assert "Authorization" in first.headers["Vary"]
    again = client.get("/v1/stores/north/catalog/items", headers={**headers, "If-None-Match": f'W/"x", {etag}'})
    assert again.status_code == 304 and again.data == b"" and again.headers["ETag"] == etag
    other = client.get("/v1/stores/north/catalog/items", headers={**headers, "If-None-Match": '"other"'})
    assert other.status_code == 200 and other.get_json()["total"] == 2
    south = client.get("/v1/stores/south/catalog/items", headers=bearer("south")).headers["ETag"]
    assert south != etag


def test_an_image_url_names_its_content_and_is_immutable(shops, tmp_path):
    client, headers = shops.test_client(), bearer("north")
    url = client.get("/v1/stores/north/catalog/items/A1", headers=headers).get_json()["image_urls"][0]
    with client.get(url, headers=headers) as image:
        assert image.status_code == 200 and image.mimetype == "image/png" and image.data.startswith(b"\x89PNG")
    assert image.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    assert image.headers["ETag"] == f'"{url.split("/")[-2]}"'
    assert client.get(url, headers={**headers, "If-None-Match": image.headers["ETag"]}).status_code == 304
    _error(client.get(url.replace(url.split("/")[-2], "0" * 16), headers=headers), 404, "unknown_image")


def test_a_catalog_change_changes_the_etags_at_once(shops, tmp_path):
    client, headers = shops.test_client(), bearer("north")
    before_list = client.get("/v1/stores/north/catalog/items", headers=headers)
    before_item = client.get("/v1/stores/north/catalog/items/A1", headers=headers)
    south_before = client.get("/v1/stores/south/catalog/items", headers=bearer("south")).headers["ETag"]
    node = shops.extensions["storefront_edge"]
    csv_path = write_catalog(tmp_path / "n2", [("A1", "Apple north", 1.5)], colour=(1, 2, 3))
    import_catalog(node.db(), csv_path, node.data_dir / "media" / "catalog", "north")
    after_item = client.get("/v1/stores/north/catalog/items/A1", headers={**headers, "If-None-Match": before_item.headers["ETag"]})
    assert after_item.status_code == 200 and after_item.get_json()["price"] == 1.5
    assert after_item.get_json()["image_urls"] != before_item.get_json()["image_urls"]  # new photo, new URL
    assert client.get("/v1/stores/north/catalog/items", headers=headers).headers["ETag"] != before_list.headers["ETag"]
    assert client.get("/v1/stores/south/catalog/items", headers=bearer("south")).headers["ETag"] == south_before
    _error(client.get(before_item.get_json()["image_urls"][0], headers=headers), 404, "unknown_image")


@pytest.mark.parametrize("header, value", [
    ("If-None-Match", "abc"), ("If-None-Match", '"unterminated'), ("If-None-Match", '"a" "b"'),
    ("If-Match", "W/abc"), ("If-Modified-Since", "yesterday"),
])
def test_conditional_headers_that_do_not_parse_are_400(shops, header, value):
    response = shops.test_client().get("/v1/stores/north/catalog/items", headers={**bearer("north"), header: value})
    _error(response, 400, "bad_conditional")


def test_plugin_answers_default_to_no_store(shops):
    response = shops.test_client().get("/v1/stores/north/catalog/items/NOPE", headers=bearer("north"))
    assert response.status_code == 404 and response.headers["Cache-Control"] == "no-store"
    assert "Authorization" in response.headers["Vary"]


def test_a_one_store_node_answers_its_plain_routes_and_its_prefix(tmp_path):
    app = create_app({"DATA_DIR": str(tmp_path / "var"), "PLUGINS": ["catalog"], "CLIENT_KEY": "k"}, watch=False)
    node = app.extensions["storefront_edge"]
    try:
        import_catalog(node.db(), write_catalog(tmp_path / "c", [("A1", "Apple", 1.0)]), node.data_dir / "media" / "catalog")
        client, headers = app.test_client(), {"Authorization": "Bearer k"}
        plain = client.get("/v1/catalog/items", headers=headers).get_json()
        prefixed = client.get("/v1/stores/default/catalog/items", headers=headers).get_json()
        assert plain["items"][0]["image_urls"][0].startswith("/v1/catalog/images/A1/")
        assert prefixed["items"][0]["image_urls"][0].startswith("/v1/stores/default/catalog/images/A1/")
        with client.get(plain["items"][0]["image_urls"][0], headers=headers) as image:
            assert image.status_code == 200 and image.data.startswith(b"\x89PNG")
    finally:
        node.close()


@pytest.mark.parametrize("config, message", [
    ({"STORES": "north,North"}, "not a store id"),
    ({"STORES": "a,a"}, "twice"),
    ({"STORES": "a", "STORE_KEYS": {"b": "k"}}, "does not serve"),
])
def test_bad_store_settings_stop_the_start(tmp_path, config, message):
    with pytest.raises(ValueError, match=message):
        create_app({"DATA_DIR": str(tmp_path / "var"), "PLUGINS": ["catalog"], **config}, watch=False)


def test_store_keys_come_from_the_environment(tmp_path, monkeypatch):
    from edge.config import ENV_PREFIX, DEFAULTS, load_settings

    monkeypatch.setenv(f"{ENV_PREFIX}_STORES", "north,south")
    monkeypatch.setenv(f"{ENV_PREFIX}_STORE_KEYS__north", "1.50")
    settings = load_settings(ENV_PREFIX, DEFAULTS, {"DATA_DIR": str(tmp_path)})
    assert settings["STORES"] == ["north", "south"] and settings["STORE_KEYS"] == {"north": "1.50"}


def test_a_plugin_that_ignores_stores_answers_under_every_store_prefix(tmp_path):
    from tests.conftest import GREETER
    from tests.thirdparty import greeter_plugin

    greeter_plugin.STATE.update(healthy=True)
    app = create_app({**store_config(tmp_path / "var"), "PLUGINS": ["catalog", "greeter"], "EXTRA_PLUGINS": [GREETER]}, watch=False)
    try:
        client = app.test_client()
        for store in ("north", "south"):  # past the store and key checks: the plugin's own readiness (no bundle here)
            answer = client.get(f"/v1/stores/{store}/greeter/hello", headers=bearer(store))
            _error(answer, 503, "plugin_not_ready")
            assert answer.headers["Cache-Control"] == "no-store"
        _error(client.get("/v1/stores/south/greeter/hello", headers=bearer("north")), 403, "wrong_store")
        _error(client.get("/v1/greeter/hello", headers=bearer("north")), 400, "store_required")
    finally:
        app.extensions["storefront_edge"].close()
