"""HTTP behaviour: every error shape and status, keys, health, metrics, and bundle admin over HTTP."""

from __future__ import annotations

import pytest

from edge.app import create_app
from edge.bundles import archive


def _error(response, status: int, code: str | None = None) -> dict:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert set(body) == {"error"} and {"code", "message", "details"} <= set(body["error"])
    if code:
        assert body["error"]["code"] == code
    return body["error"]


def test_healthz_is_open(client):
    assert client.get("/healthz").get_json() == {"status": "ok"}


def test_readyz_without_bundle_is_503(client):
    report = client.get("/readyz")
    assert report.status_code == 503
    assert report.get_json()["bundles"] == {}


def test_unknown_route_is_404_json(client, client_headers):
    _error(client.get("/v1/nothing-here", headers=client_headers), 404, "not_found")


def test_wrong_method_is_405_json(client):
    _error(client.delete("/healthz"), 405, "method_not_allowed")


def test_missing_key_is_401_with_challenge(client):
    response = client.get("/v1/catalog/items")
    _error(response, 401, "missing_key")
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize("header", ["Bearer wrong", "Bearer client-key-for-tests-but-longer", "Bearer " + "x" * 500])
def test_wrong_key_is_403(client, header):
    _error(client.get("/v1/catalog/items", headers={"Authorization": header}), 403, "wrong_key")


def test_malformed_authorization_is_401(client):
    _error(client.get("/v1/catalog/items", headers={"Authorization": "Basic abc"}), 401, "malformed_key")


def test_client_key_cannot_do_admin_work(client, client_headers, admin_headers):
    _error(client.get("/v1/admin/bundles", headers=client_headers), 403, "wrong_key")
    assert client.get("/v1/admin/bundles", headers=admin_headers).status_code == 200


def test_admin_key_also_opens_plugin_routes(client, admin_headers):
    assert client.get("/v1/catalog/items", headers=admin_headers).status_code == 200


def test_malformed_json_is_400(client, installed, client_headers):
    response = client.post("/v1/greeter/double", data=b'{"values": [1, 2', headers=client_headers, content_type="application/json")
    _error(response, 400, "malformed_json")


def test_wrong_media_type_is_415(client, installed, client_headers):
    response = client.post("/v1/greeter/double", data=b"values=1", headers=client_headers, content_type="text/plain")
    assert _error(response, 415, "unsupported_media_type")["details"] == {"accepted": ["application/json"]}


def test_schema_violation_is_422_listing_fields(client, installed, client_headers):
    error = _error(client.post("/v1/greeter/double", json={"values": [1]}, headers=client_headers), 422, "invalid_request")
    assert error["details"][0]["field"] == "values"


def test_body_over_limit_is_413(app_config, installed, client_headers):
    app = create_app({**app_config, "MAX_CONTENT_LENGTH": 1000}, watch=False)
    response = app.test_client().post("/v1/greeter/double", data=b"{" + b" " * 5000 + b"}",
                                      headers=client_headers, content_type="application/json")
    assert "1000 bytes" in _error(response, 413, "request_entity_too_large")["message"]


def test_without_keys_only_loopback_is_served(data_dir):
    app = create_app({"DATA_DIR": str(data_dir), "PLUGINS": ["catalog"]}, watch=False)
    client = app.test_client()
    assert client.get("/v1/catalog/items", environ_base={"REMOTE_ADDR": "127.0.0.1"}).status_code == 200
    assert client.get("/v1/catalog/items", environ_base={"REMOTE_ADDR": "::1"}).status_code == 200
    _error(client.get("/v1/catalog/items", environ_base={"REMOTE_ADDR": "192.0.2.7"}), 403, "loopback_only")


def test_metrics_count_requests_by_route_and_status(client, installed, client_headers):
    client.post("/v1/greeter/double", json={"values": [1, 2, 3, 4]}, headers=client_headers)
    client.get("/v1/catalog/items/none", headers=client_headers)
    text = client.get("/metrics").get_data(as_text=True)
    assert 'storefront_edge_request_duration_seconds_count{method="POST",route="/v1/greeter/double",status="200"} 1.0' in text
    assert 'route="/v1/catalog/items/<sku>",status="404"' in text
    assert 'storefront_edge_inference_seconds_count{model="doubler"} 1.0' in text
    assert 'storefront_edge_bundle_active{name="test-bundle",version="1.0.0"} 1.0' in text


def test_admin_install_activate_rollback_over_http(client, node, admin_headers, client_headers, make_bundle, tmp_path):
    for version, scale in (("1.0.0", 2.0), ("1.1.0", 3.0)):
        body = archive.pack(make_bundle(version, scale=scale), tmp_path / f"{version}.tar.gz").read_bytes()
        response = client.post("/v1/admin/bundles", data=body, headers=admin_headers, content_type="application/gzip")
        assert response.status_code == 201, response.get_json()
    assert response.get_json()["active"] == {"test-bundle": "1.1.0"}
    double = lambda: client.post("/v1/greeter/double", json={"values": [1, 1, 1, 1]}, headers=client_headers).get_json()  # noqa: E731
    assert double()["values"][0] == 3.0
    assert client.post("/v1/admin/bundles/rollback", headers=admin_headers).get_json()["active"] == {"test-bundle": "1.0.0"}
    assert {k: v for k, v in double().items() if k in ("values", "bundle")} == {"values": [2.0] * 4, "bundle": "1.0.0"}
    assert client.post("/v1/admin/bundles/1.1.0/activate", headers=admin_headers).get_json()["active"] == {"test-bundle": "1.1.0"}
    assert double()["bundle"] == "1.1.0"
    assert client.post("/v1/admin/bundles/test-bundle/rollback", headers=admin_headers).get_json()["active"] == {"test-bundle": "1.0.0"}
    listing = client.post("/v1/admin/bundles/test-bundle/1.1.0/activate", headers=admin_headers).get_json()
    assert listing["active"] == {"test-bundle": "1.1.0"} and listing["history"] == {"test-bundle": ["1.0.0"]}


def test_admin_install_errors_are_json_and_keep_active(client, installed, admin_headers, make_bundle, tmp_path):
    _error(client.post("/v1/admin/bundles", data=b"x", headers=admin_headers, content_type="text/plain"), 415)
    _error(client.post("/v1/admin/bundles", data=b"garbage", headers=admin_headers, content_type="application/gzip"), 400, "bad_archive")
    older = archive.pack(make_bundle("0.9.0"), tmp_path / "old.tar.gz").read_bytes()
    _error(client.post("/v1/admin/bundles", data=older, headers=admin_headers, content_type="application/gzip"), 409, "downgrade_refused")
    _error(client.post("/v1/admin/bundles/9.9.9/activate", headers=admin_headers), 404, "not_installed")
    _error(client.post("/v1/admin/bundles/not-a-version/activate", headers=admin_headers), 422, "bad_version")
    _error(client.post("/v1/admin/bundles/1.0.0/activate", data=b"{", headers=admin_headers, content_type="application/json"), 400)
    assert client.get("/v1/admin/bundles", headers=admin_headers).get_json()["active"] == {"test-bundle": "1.0.0"}


def test_admin_upload_over_bundle_limit_is_413(app_config, admin_headers):
    app = create_app({**app_config, "MAX_BUNDLE_BYTES": 2000}, watch=False)
    response = app.test_client().post("/v1/admin/bundles", data=b"\0" * 10_000, headers=admin_headers, content_type="application/gzip")
    _error(response, 413)


def test_catalog_routes(client, node, client_headers):
    node.db()["catalog_items"].insert({"id": "default/A-1", "sku": "A-1", "title": "Apple", "price": 1.5, "category": "Fruit", "images": '["A-1/0.jpg"]'})
    listing = client.get("/v1/catalog/items?category=Fruit", headers=client_headers).get_json()
    assert listing["total"] == 1 and listing["items"][0]["image_urls"] == ["/v1/catalog/images/A-1/0.jpg"]
    assert client.get("/v1/catalog/items/A-1", headers=client_headers).get_json()["title"] == "Apple"
    _error(client.get("/v1/catalog/items?limit=0", headers=client_headers), 422)
    _error(client.get("/v1/catalog/images/A-1/0.jpg", headers=client_headers), 404)
    _error(client.get("/v1/catalog/images/..%2F..%2Fstore.db/x", headers=client_headers), 404)
