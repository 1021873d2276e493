"""End to end: the hub under real gunicorn on 127.0.0.1, driven by the CLI, an edge syncing over HTTP."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from tests.test_sync_support import event_ids, make_edge, node_of, post_event

pytestmark = pytest.mark.slow
CLI = [str(Path(sys.executable).with_name("storefront-edge"))]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def hub_server(tmp_path):
    hub_dir, port = tmp_path / "hub", free_port()
    token = subprocess.run([*CLI, "hub", "register-node", "store-1", "--group", "stores", "--data-dir", str(hub_dir)],
                           capture_output=True, text=True, timeout=60, check=True).stdout.strip()
    process = subprocess.Popen([*CLI, "hub", "serve", "--port", str(port), "--workers", "2", "--data-dir", str(hub_dir)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
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
        yield url, token, hub_dir
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)
        process.stderr.close()


def test_edge_syncs_through_a_real_gunicorn_hub(hub_server, tmp_path):
    from edge.hub.store import open_hub
    from edge.sync.worker import sync_once

    url, token, hub_dir = hub_server
    assert token.startswith("store-1.")
    csv = tmp_path / "c.csv"
    csv.write_text("sku,title,price\na1,Apple,1.5\n")
    subprocess.run([*CLI, "hub", "publish-catalog", str(csv), "--data-dir", str(hub_dir)], check=True, timeout=60, capture_output=True)
    edge = make_edge(tmp_path / "edge", token, HUB_URL=url)
    posted = [post_event(edge, "order", n=i) for i in range(25)]
    result = sync_once(node_of(edge))
    assert result["pushed"] == 25 and result["pulled"] == 1
    db, _ = open_hub(hub_dir)
    assert event_ids(db) == sorted(posted)
    assert node_of(edge).db()["catalog_items"].get("a1")["title"] == "Apple"
    status = subprocess.run([*CLI, "hub", "status", "--data-dir", str(hub_dir)], capture_output=True, text=True, timeout=60, check=True)
    assert '"cursor_lag": 0' in status.stdout and token.split(".", 1)[1] not in status.stdout
    bad = requests.post(url + "/v1/hub/sync/push", data=b"x", headers={"Authorization": "Bearer store-1.nope"}, timeout=10)
    assert bad.status_code == 403 and bad.json()["error"]["code"] == "wrong_token"


def test_sync_worker_is_elected_once_per_data_dir(tmp_path):
    from edge.sync.worker import elect

    first = elect(tmp_path)
    assert first is not None and elect(tmp_path) is None
    first.close()
    again = elect(tmp_path)
    assert again is not None
    again.close()
