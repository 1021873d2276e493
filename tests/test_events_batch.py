"""``POST /v1/events``: batches (all or nothing, 413 past the limit), structured commerce events, event ids."""

from __future__ import annotations

import pytest

from tests.conftest import ADMIN_KEY, CLIENT_KEY


@pytest.fixture
def events_app(data_dir):
    from edge.app import create_app

    app = create_app({"DATA_DIR": str(data_dir), "PLUGINS": ["events"], "CLIENT_KEY": CLIENT_KEY, "ADMIN_KEY": ADMIN_KEY,
                      "PLUGIN_CONFIG": {"events": {"max_batch": 5}}}, watch=False)
    yield app
    app.extensions["storefront_edge"].close()


def _post(app, body, **kw):
    return app.test_client().post("/v1/events", json=body, headers={"Authorization": f"Bearer {CLIENT_KEY}"}, **kw)


def _stored(app) -> list[tuple]:
    import json

    db = app.extensions["storefront_edge"].db()
    return [(r[0], json.loads(r[1])) for r in db.execute("SELECT kind, payload FROM events ORDER BY id")]


def test_a_batch_is_stored_in_order_with_the_structured_fields_in_the_payload(events_app):
    batch = [{"kind": "view", "session_id": "s1", "sku": "A"},
             {"kind": "click", "session_id": "s1", "sku": "B", "client_ts": "2026-01-01T10:00:00+00:00"},
             {"kind": "cart", "session_id": "s1", "sku": "B", "quantity": 2, "price": 3.5, "payload": {"screen": "kiosk"}}]
    response = _post(events_app, batch)
    assert response.status_code == 201, response.get_json()
    answers = response.get_json()["events"]
    assert [a["kind"] for a in answers] == ["view", "click", "cart"] and len({a["id"] for a in answers}) == 3
    assert _stored(events_app) == [
        ("view", {"session_id": "s1", "sku": "A"}),
        ("click", {"session_id": "s1", "sku": "B", "client_ts": "2026-01-01T10:00:00+00:00"}),
        ("cart", {"screen": "kiosk", "session_id": "s1", "sku": "B", "quantity": 2, "price": 3.5})]


def test_one_bad_event_refuses_the_whole_batch_with_its_index(events_app):
    batch = [{"kind": "view", "session_id": "s1", "sku": "A"}, {"kind": "click", "sku": "B"},
             {"kind": "view", "sku": "C"}]
    response = _post(events_app, batch)
    assert response.status_code == 422
    body = response.get_json()
    assert body["error"]["code"] == "invalid_event" and body["error"]["details"]["index"] == 1
    assert body["error"]["details"]["problems"], "the field problems of that event are listed"
    assert _stored(events_app) == []


@pytest.mark.parametrize("event", [{"kind": "view", "sku": "A", "quantity": 0}, {"kind": "view", "sku": "A", "price": -1},
                                   {"kind": "view", "quantity": 2}, {"kind": "view", "session_id": "x" * 200},
                                   {"kind": "view", "sku": "A", "client_ts": "yesterday"}, {"kind": "refund"}])
def test_malformed_commerce_fields_get_422_with_field_details(events_app, event):
    response = _post(events_app, event)
    assert response.status_code == 422 and response.get_json()["error"]["details"]
    assert _stored(events_app) == []


def test_an_over_long_batch_is_413_and_an_empty_one_422(events_app):
    response = _post(events_app, [{"kind": "view", "session_id": "s", "sku": str(i)} for i in range(6)])
    assert response.status_code == 413 and response.get_json()["error"]["code"] == "batch_too_large"
    assert _post(events_app, []).status_code == 422
    assert _stored(events_app) == []


def test_event_ids_make_batches_idempotent_within_and_across_posts(events_app):
    batch = [{"kind": "view", "session_id": "s1", "sku": "A", "event_id": "e-1"},
             {"kind": "view", "session_id": "s1", "sku": "A", "event_id": "e-1"},
             {"kind": "view", "session_id": "s1", "sku": "B", "event_id": "e-2"}]
    first = _post(events_app, batch).get_json()["events"]
    assert first[0]["id"] == first[1]["id"], "a repeat inside the batch is the same event"
    again = _post(events_app, batch).get_json()["events"]
    assert [a["id"] for a in again] == [a["id"] for a in first], "a retried batch is answered the same"
    assert len(_stored(events_app)) == 2
    reused = _post(events_app, [{"kind": "view", "session_id": "s1", "sku": "Z", "event_id": "e-2"}])
    assert reused.status_code == 409 and len(_stored(events_app)) == 2


def test_todays_single_events_keep_working(events_app):
    response = _post(events_app, {"kind": "order", "payload": {"total": 12}})
    assert response.status_code == 201 and response.get_json()["kind"] == "order"
    assert _stored(events_app) == [("order", {"total": 12})]


def test_the_node_origin_is_none_before_the_sync_tables_exist_and_the_joined_name_after(tmp_path):
    import sqlite_utils

    from edge.sync.capture import ensure_schema
    from edge.api import node_origin

    db = sqlite_utils.Database(tmp_path / "store.db")
    assert node_origin(db) is None
    ensure_schema(db)
    assert node_origin(db) is None  # the tables exist, the node has not joined a hub yet
    db.execute("UPDATE _sync_state SET origin = 'store-7' WHERE id = 1")
    assert node_origin(db) == "store-7"
    db.close()


def test_the_node_origin_gives_no_none_for_a_sync_state_it_cannot_read(tmp_path):
    import sqlite3

    import sqlite_utils

    from edge.api import node_origin

    db = sqlite_utils.Database(tmp_path / "store.db")
    db.execute("CREATE TABLE _sync_state (id INTEGER PRIMARY KEY)")  # not the table the sync layer makes
    with pytest.raises(sqlite3.OperationalError):
        node_origin(db)
    db.close()
