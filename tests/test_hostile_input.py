"""Hostile input inside the app: JSON limits on every JSON body, integer ranges on every numeric query
parameter, path confinement of every file route, idempotent events, and no server path in any message."""

from __future__ import annotations

import json

import pytest

from edge.app import create_app
from edge.jsonlimits import JsonRefused, loads
from tests.conftest import GREETER

DEEP = b"[" * 10_000 + b"]" * 10_000


def _error(response, status: int, code: str | None = None) -> dict:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/json"
    error = response.get_json()["error"]
    if code:
        assert error["code"] == code, error
    return error


@pytest.fixture
def events_app(app_config):
    application = create_app({**app_config, "PLUGINS": ["catalog", "events", "greeter"]}, watch=False)
    yield application
    application.extensions["storefront_edge"].close()


@pytest.fixture
def events_client(events_app):
    return events_app.test_client()


def _post_event(client, headers, body: bytes):
    return client.post("/v1/events", data=body, headers=headers, content_type="application/json")


HOSTILE_JSON = [
    ("nested 10,000 deep", DEEP, 400, "too_deep"),
    ("payload nested 10,000 deep", b'{"kind": "view", "payload": {"a": ' + DEEP + b"}}", 400, "too_deep"),
    ("payload nested past the depth limit", b'{"kind": "view", "payload": ' + b'{"a": ' * 40 + b"1" + b"}" * 41, 400, "too_deep"),
    ("NaN", b'{"kind": "view", "payload": {"a": NaN}}', 400, "non_finite_number"),
    ("Infinity", b'{"kind": "view", "payload": {"a": -Infinity}}', 400, "non_finite_number"),
    ("a float past a double", b'{"kind": "view", "payload": {"a": 1e400}}', 400, "non_finite_number"),
    ("an integer past 64 bits", b'{"kind": "view", "payload": {"a": 18446744073709551616}}', 400, "number_out_of_range"),
    ("an integer of 5,000 digits", b'{"kind": "view", "payload": {"a": ' + b"9" * 5000 + b"}}", 400, "number_out_of_range"),
    ("a lone surrogate in a value", b'{"kind": "view", "payload": {"a": "\\ud800"}}', 400, "invalid_string"),
    ("a lone surrogate in a key", b'{"kind": "view", "payload": {"\\udfff": 1}}', 400, "invalid_string"),
    ("raw bytes that are not UTF-8", b'{"kind": "view", "payload": {"a": "\xed\xa0\x80"}}', 400, "malformed_json"),
    ("malformed", b'{"kind": ', 400, "malformed_json"),
]


@pytest.mark.parametrize("case, body, status, code", HOSTILE_JSON, ids=[c[0] for c in HOSTILE_JSON])
def test_hostile_json_on_events_is_4xx_and_stores_nothing(events_client, events_app, client_headers, case, body, status, code):
    _error(_post_event(events_client, client_headers, body), status, code)
    assert events_app.extensions["storefront_edge"].db()["events"].count == 0
    assert _post_event(events_client, client_headers, b'{"kind": "view"}').status_code == 201


def test_every_json_route_refuses_deep_json(events_client, events_app, make_bundle, client_headers, admin_headers):
    """The plugin route, the admin route and the events route: the same 400, the node keeps serving."""
    node = events_app.extensions["storefront_edge"]
    node.registry.install(make_bundle("1.0.0"))
    node.watcher.refresh()
    for path, headers in (("/v1/greeter/double", client_headers), ("/v1/events", client_headers),
                          ("/v1/admin/bundles/1.0.0/activate", admin_headers)):
        _error(events_client.post(path, data=DEEP, headers=headers, content_type="application/json"), 400, "too_deep")
    assert events_client.get("/healthz").status_code == 200


def test_json_bodies_have_a_size_limit_of_their_own(app_config, installed, client_headers):
    app = create_app({**app_config, "MAX_JSON_BYTES": 100}, watch=False)
    try:
        body = json.dumps({"values": [1.0, 2.0, 3.0, 4.0], "pad": " " * 200}).encode()
        error = _error(app.test_client().post("/v1/greeter/double", data=body, headers=client_headers,
                                              content_type="application/json"), 413, "request_entity_too_large")
        assert "100 bytes" in error["message"]
    finally:
        app.extensions["storefront_edge"].close()


def test_the_json_loader_limits_size_and_depth_and_keeps_valid_documents():
    assert loads(b'{"a": [1, 2.5, "x", null, true]}', max_bytes=100) == {"a": [1, 2.5, "x", None, True]}
    assert loads(b"[" * 32 + b"]" * 32, max_bytes=100) is not None
    with pytest.raises(JsonRefused, match="deeper"):
        loads(b"[" * 33 + b"]" * 33, max_bytes=100)
    with pytest.raises(JsonRefused) as refused:
        loads(b"[" + b"1," * 100 + b"1]", max_bytes=100)
    assert refused.value.code == "too_large"


# -- events: an optional client event_id makes a retry idempotent ---------------------------------

def test_a_retried_event_is_stored_once_and_answered_the_same(events_client, events_app, client_headers):
    body = json.dumps({"kind": "cart", "payload": {"sku": "A-1"}, "event_id": "kiosk-7:0001"}).encode()
    first, again = (_post_event(events_client, client_headers, body) for _ in range(2))
    assert first.status_code == again.status_code == 201
    assert first.get_json() == again.get_json() and first.get_json()["event_id"] == "kiosk-7:0001"
    db = events_app.extensions["storefront_edge"].db()
    assert db["events"].count == 1
    other = json.dumps({"kind": "cart", "payload": {"sku": "B-2"}, "event_id": "kiosk-7:0001"}).encode()
    _error(_post_event(events_client, client_headers, other), 409, "event_id_reused")
    assert db["events"].count == 1
    without = _post_event(events_client, client_headers, b'{"kind": "view"}')
    assert without.status_code == 201 and "event_id" not in without.get_json()


@pytest.mark.parametrize("event_id", ["", "a" * 129, "has space", "../x", "-leading-dash"])
def test_an_unusable_event_id_is_422(events_client, client_headers, event_id):
    body = json.dumps({"kind": "view", "event_id": event_id}).encode()
    _error(_post_event(events_client, client_headers, body), 422, "invalid_request")


# -- integer ranges on every numeric query parameter ----------------------------------------------

OUT_OF_RANGE = ["9223372036854775808", "-1", "99999999999999999999999", "1e3", "abc", ""]


@pytest.mark.parametrize("value", OUT_OF_RANGE)
@pytest.mark.parametrize("name", ["offset", "limit"])
def test_catalog_paging_outside_its_range_is_422(client, client_headers, name, value):
    _error(client.get(f"/v1/catalog/items?{name}={value}", headers=client_headers), 422, "invalid_request")


def test_catalog_paging_at_the_edge_of_its_range_answers(client, client_headers):
    page = client.get("/v1/catalog/items?offset=9223372036854775807&limit=500", headers=client_headers)
    assert page.status_code == 200 and page.get_json()["items"] == []


@pytest.fixture
def sqlite_hub(tmp_path):
    from tests.test_sync_support import hub_store, make_hub, register

    app = make_hub(tmp_path / "hub", None)
    yield app, register(app, "n1")
    hub_store(app).close()


def test_hub_cursor_outside_its_range_is_422(sqlite_hub):
    hub, token = sqlite_hub
    for value in ("9223372036854775808", "-1", "abc"):
        response = hub.test_client().get(f"/v1/hub/sync/pull?since={value}", headers={"Authorization": f"Bearer {token}"})
        _error(response, 422, "invalid_request")


# -- path confinement of every file-serving route -------------------------------------------------

@pytest.fixture
def planted(node):
    media = node.data_dir / "media"
    (media / "catalog" / "A-1").mkdir(parents=True)
    (media / "catalog" / "A-1" / "0.jpg").write_bytes(b"\xff\xd8\xff image")
    (media / "canary.txt").write_text("outside the catalog folder")
    (node.data_dir / "canary.txt").write_text("outside the media folder")
    (media / "catalog" / "A-1" / "link.jpg").symlink_to(media / "canary.txt")
    return media


@pytest.mark.parametrize("path", [
    "/v1/catalog/images/../canary.txt", "/v1/catalog/images/%2e%2e/canary.txt", "/v1/catalog/images/%2E%2E/canary.txt",
    "/v1/catalog/images/A-1/..%2f..%2fcanary.txt", "/v1/catalog/images/A-1/%2e%2e", "/v1/catalog/images/./canary.txt",
    "/v1/catalog/images/A-1/link.jpg", "/v1/catalog/images/A-1/%00.jpg", "/v1/catalog/images/A-1/missing.jpg",
    "/v1/catalog/images/..%5c..%5ccanary.txt/x",
])
def test_catalog_images_never_leave_their_folder(client, client_headers, planted, path):
    response = client.get(path, headers=client_headers)
    assert response.status_code == 404 and b"outside" not in response.data


def test_catalog_images_inside_their_folder_are_served(client, client_headers, planted):
    with client.get("/v1/catalog/images/A-1/0.jpg", headers=client_headers) as response:
        assert response.status_code == 200 and response.data == b"\xff\xd8\xff image"


@pytest.mark.parametrize("digest", ["..", "../hub.db", "%2e%2e%2fhub.db", "a" * 63, "A" * 64, "0" * 64])
def test_hub_bundle_downloads_never_leave_their_folder(sqlite_hub, digest):
    hub, token = sqlite_hub
    response = hub.test_client().get(f"/v1/hub/bundles/{digest}", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 404 and response.mimetype == "application/json"


# -- no server path in an error -------------------------------------------------------------------

def test_error_messages_never_show_the_data_folder(app, data_dir):
    from edge.errors import BadRequest

    @app.get("/v1/raise-a-path")
    def _raise():
        raise BadRequest(f"cannot read {data_dir}/bundles/.staging-x/model.onnx")

    message = _error(app.test_client().get("/v1/raise-a-path"), 400)["message"]
    assert message == "cannot read model.onnx"
