"""End to end: the hub under real gunicorn on 127.0.0.1, driven by the CLI, an edge syncing over HTTP.

The hub runs on each backend: SQLite in its data folder, and a real PostgreSQL server on loopback (its URL
given to ``hub serve`` in the environment and to the admin commands as ``--database-url``).
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from tests.pg_server import hub_backend, pg_server  # noqa: F401 (fixtures)
from tests.test_sync_support import make_edge, node_of, post_event

pytestmark = pytest.mark.slow
CLI = [str(Path(sys.executable).with_name("storefront-edge"))]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def admin(hub_dir, url, *args) -> str:
    """Run ``storefront-edge hub ARGS`` against the hub's data folder (and database); return its output."""
    database = ["--database-url", url] if url else []
    return subprocess.run([*CLI, "hub", *args, "--data-dir", str(hub_dir), *database], capture_output=True, text=True,
                          timeout=60, check=True).stdout


@contextlib.contextmanager
def running_hub(hub_dir: Path, database_url: str | None, log_path: Path):
    """``storefront-edge hub serve`` (gunicorn, 2 workers) on a free loopback port; yields its base URL."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "STOREFRONT_EDGE_HUB_DATABASE_URL"}
    if database_url:
        env["STOREFRONT_EDGE_HUB_DATABASE_URL"] = database_url
    log = open(log_path, "w+")
    process = subprocess.Popen([*CLI, "hub", "serve", "--port", str(port), "--workers", "2", "--data-dir", str(hub_dir)],
                               stdout=log, stderr=subprocess.STDOUT, start_new_session=True, env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                if requests.get(url + "/healthz", timeout=1).status_code == 200:
                    break
            except requests.ConnectionError:
                time.sleep(0.1)
        else:
            pytest.fail("the hub did not start")
        yield url
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)
        log.close()


@pytest.fixture
def hub_server(tmp_path, hub_backend):
    hub_dir = tmp_path / "hub"
    token = admin(hub_dir, hub_backend.url, "register-node", "store-1", "--group", "stores").strip()
    with running_hub(hub_dir, hub_backend.url, tmp_path / "hub.log") as url:
        yield url, token, hub_dir, hub_backend.url


def test_edge_syncs_through_a_real_gunicorn_hub(hub_server, tmp_path):
    from edge.hub.backends import open_store
    from edge.sync.worker import sync_once

    url, token, hub_dir, database_url = hub_server
    assert token.startswith("store-1.")
    csv = tmp_path / "c.csv"
    csv.write_text("sku,title,price\na1,Apple,1.5\n")
    admin(hub_dir, database_url, "publish-catalog", str(csv))
    edge = make_edge(tmp_path / "edge", token, HUB_URL=url)
    posted = [post_event(edge, "order", n=i) for i in range(25)]
    result = sync_once(node_of(edge))
    assert result["pushed"] == 25 and result["pulled"] == 1
    store = open_store(hub_dir, database_url, extra_plugins=["plugins.events.plugin"])
    assert sorted(r["id"] for r in store.rows("events")) == sorted(posted)
    store.close()
    assert node_of(edge).db()["catalog_items"].get("default/a1")["title"] == "Apple"
    assert not (hub_dir / "hub.db").exists() if database_url else (hub_dir / "hub.db").exists()
    status = admin(hub_dir, database_url, "status")
    assert '"cursor_lag": 0' in status and token.split(".", 1)[1] not in status
    bad = requests.post(url + "/v1/hub/sync/push", data=b"x", headers={"Authorization": "Bearer store-1.nope"}, timeout=10)
    assert bad.status_code == 403 and bad.json()["error"]["code"] == "wrong_token"
    if database_url:  # the server names its store but never shows the password
        password = database_url.split("@", 1)[0].rsplit(":", 1)[1]
        served = (tmp_path / "hub.log").read_text()
        assert "hub store: postgresql://hubtest:***@127.0.0.1" in served and password not in served


def test_sync_worker_is_elected_once_per_data_dir(tmp_path):
    from edge.sync.worker import elect

    first = elect(tmp_path)
    assert first is not None and elect(tmp_path) is None
    first.close()
    again = elect(tmp_path)
    assert again is not None
    again.close()
