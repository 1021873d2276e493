"""Shared builders for the sync and hub tests: edge apps, a hub app, and a Flask test client as transport."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlencode

import pytest

EXTRA = ["plugins.events.plugin"]
HUB_URL = "http://hub.test"


class FlaskTransport:
    """A requests-like session that sends every call to a Flask app's test client."""

    def __init__(self, app):
        self.client = app.test_client()
        self.down = False

    def request(self, method, url, headers=None, timeout=None, params=None, data=None):
        import requests

        if self.down:
            raise requests.ConnectionError("hub down")
        path = url.split("://", 1)[-1].split("/", 1)[-1]
        path = "/" + path + ("?" + urlencode(params) if params else "")
        response = self.client.open(path, method=method, headers=headers, data=data)
        return _Response(response)


class _Response:
    def __init__(self, response):
        self.status_code, self.content = response.status_code, response.data
        response.close()

    def json(self):
        import json

        return json.loads(self.content)


def make_hub(folder: Path, database_url: str | None = None, **config):
    """A hub app in ``folder`` with the events plugin; on PostgreSQL at ``database_url`` when given."""
    from edge.hub.app import create_hub_app

    return create_hub_app({"DATA_DIR": str(folder), "EXTRA_PLUGINS": EXTRA, "DATABASE_URL": database_url, **config})


def hub_store(hub_app):
    """The hub app's store (SQLite or PostgreSQL)."""
    return hub_app.extensions["storefront_edge_hub"]["store"]


def register(hub_app, name: str, group: str = "stores", stores=None) -> str:
    """Register a node directly in the hub's store, granted ``stores`` (default ``default``); return its token."""
    return hub_store(hub_app).register_node(name, group, stores)


def make_edge(folder: Path, token: str | None = None, **config):
    """An edge app in ``folder`` joined to the test hub (no background worker; tests sync by hand)."""
    from edge.app import create_app

    overrides = {"DATA_DIR": str(folder), "EXTRA_PLUGINS": EXTRA, "SYNC_WORKER": False}
    if token:
        overrides.update(HUB_URL=HUB_URL, HUB_TOKEN=token)
    overrides.update(config)
    return create_app(overrides, watch=False)


def node_of(app):
    return app.extensions["storefront_edge"]


def post_event(app, kind: str = "view", **payload):
    response = app.test_client().post("/v1/events", json={"kind": kind, "payload": payload})
    assert response.status_code == 201, response.get_json()
    return response.get_json()["id"]


def event_ids(db) -> list[str]:
    return [r[0] for r in db.execute("SELECT id FROM events ORDER BY id")]


def hub_event_ids(hub_app) -> list[str]:
    """The ids of the events the hub holds, sorted."""
    return sorted(r["id"] for r in hub_store(hub_app).rows("events"))


def as_items(rows) -> list[list]:
    """Rows as sorted (column, value) lists, sorted: compares tables whatever their column order."""
    return sorted(sorted(row.items()) for row in rows)


@pytest.fixture
def hub(tmp_path, hub_backend):
    """A hub app on the test's backend (request ``hub_backend`` too: import it from tests.pg_server)."""
    app = make_hub(tmp_path / "hub", hub_backend.url)
    yield app
    hub_store(app).close()


def publish(hub_app, table: str, upsert=(), delete=()) -> dict:
    """Publish rows of a hub-owned table through the hub's admin route; return its answer."""
    response = hub_app.test_client().post(f"/v1/hub/tables/{table}/publish", json={"upsert": list(upsert), "delete": list(delete)})
    assert response.status_code == 200, response.get_json()
    return response.get_json()
