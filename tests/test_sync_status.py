"""The node's sync status over HTTP (``GET /v1/admin/sync/status``, admin key) and on the command line."""

from __future__ import annotations

import json
import time

import pytest

from tests.conftest import ADMIN_KEY, CLIENT_KEY

ROUTE = "/v1/admin/sync/status"


@pytest.fixture
def events_app(data_dir):
    from edge.app import create_app

    application = create_app({"DATA_DIR": str(data_dir), "PLUGINS": ["catalog", "events"], "CLIENT_KEY": CLIENT_KEY,
                              "ADMIN_KEY": ADMIN_KEY, "HUB_URL": "http://hub-user:hub-secret@127.0.0.1:9/",
                              "SYNC_WORKER": False}, watch=False)
    yield application
    application.extensions["storefront_edge"].close()


def test_sync_status_needs_the_admin_key(client, client_headers):
    assert client.get(ROUTE).status_code == 401
    assert client.get(ROUTE, headers=client_headers).status_code == 403


def test_sync_status_counts_pending_events_and_the_lag_since_the_last_success(events_app, data_dir):
    from edge.sync.worker import write_status

    client, admin = events_app.test_client(), {"Authorization": f"Bearer {ADMIN_KEY}"}
    before = client.get(ROUTE, headers=admin).get_json()
    assert before["joined"] is True and before["capturing"] is True
    assert before["lag_seconds"] is None and before["last_round"] == {}
    assert "hub-secret" not in json.dumps(before), "the hub URL's password must not be shown"
    posted = client.post("/v1/events", json={"kind": "view", "payload": {"sku": "A"}}, headers=admin)
    assert posted.status_code == 201
    write_status(data_dir, last_success=time.time() - 30, last_result={"pushed": 4, "pulled": 2, "bundles": {}})
    after = client.get(ROUTE, headers=admin).get_json()
    assert after["pending_changes"] == before["pending_changes"] + 1
    assert after["last_seq"] == before["last_seq"] + 1
    assert 29 <= after["lag_seconds"] < 60
    assert after["last_round"]["last_result"]["pushed"] == 4


def test_sync_status_command_prints_the_same_report(runner, data_dir, monkeypatch):
    from edge.cli.main import cli

    monkeypatch.setenv("STOREFRONT_EDGE_PLUGINS", "catalog")
    result = runner.invoke(cli, ["--data-dir", str(data_dir), "sync", "status"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["joined"] is False and report["hub_url"] is None and report["lag_seconds"] is None
    assert report["capturing"] is True and report["pending_changes"] == 0, "the node captures changes whatever plugins are loaded"
