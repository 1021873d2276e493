"""A bundle switch under concurrent load on a real gunicorn node: zero failed requests, every worker switches."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time

import pytest
import requests

from tests.conftest import ADMIN_KEY, CLIENT_KEY, GREETER
from tests.servers import ROOT, gunicorn_node

pytestmark = pytest.mark.slow

ENV = {"STOREFRONT_EDGE_PLUGINS": "catalog,greeter", "STOREFRONT_EDGE_EXTRA_PLUGINS": json.dumps([GREETER]),
       "STOREFRONT_EDGE_CLIENT_KEY": CLIENT_KEY, "STOREFRONT_EDGE_ADMIN_KEY": ADMIN_KEY}


def _hammer(url: str, stop: threading.Event, results: list) -> None:
    session_headers = {"Authorization": f"Bearer {CLIENT_KEY}"}
    for _ in range(100_000):  # bounded; the stop event ends it far sooner
        if stop.is_set():
            return
        try:
            response = requests.post(url, json={"values": [1, 1, 1, 1]}, headers=session_headers, timeout=10)
            body = response.json()
            results.append((time.time(), response.status_code, body.get("bundle"), body.get("values", [None])[0], body.get("worker")))
        except requests.RequestException as exc:
            results.append((time.time(), "error", str(exc), None, None))


def test_hot_swap_under_load_has_no_failures(data_dir, make_bundle, tmp_path):
    from edge.bundles.registry import BundleRegistry

    BundleRegistry(data_dir).install(make_bundle("1.0.0", scale=2.0))
    newer = make_bundle("1.1.0", scale=3.0)
    with gunicorn_node(data_dir, ENV, log=tmp_path / "node.log") as (base, _):
        stop, results = threading.Event(), []
        threads = [threading.Thread(target=_hammer, args=(f"{base}/v1/greeter/double", stop, results)) for _ in range(4)]
        for thread in threads:
            thread.start()
        time.sleep(1.0)
        subprocess.run([sys.executable, "-m", "edge", "--data-dir", str(data_dir), "bundle", "install", str(newer)],
                       check=True, capture_output=True, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}, timeout=60)
        activated = (data_dir / "bundles" / "state.json").stat().st_mtime
        time.sleep(3.0)
        stop.set()
        for thread in threads:
            thread.join(timeout=30)
        workers = _versions_by_worker(f"{base}/v1/greeter/double")
    failures = [r for r in results if r[1] != 200]
    assert failures == [], failures[:5]
    assert all((r[2], r[3]) in {("1.0.0", 2.0), ("1.1.0", 3.0)} for r in results), "version and model must switch together"
    before = [r for r in results if r[0] < activated]
    assert before and all(r[2] == "1.0.0" for r in before)
    late = [r for r in results if r[0] > activated + 2.0]
    assert late and all(r[2] == "1.1.0" for r in late), "a worker still served the old bundle 2 s after activation"
    assert workers == {pid: "1.1.0" for pid in workers} and len(workers) == 2, workers


def _versions_by_worker(url: str) -> dict:
    """Ask until both workers have answered (bounded); map worker pid to the bundle version it serves."""
    seen = {}
    for _ in range(500):
        body = requests.post(url, json={"values": [1, 1, 1, 1]}, headers={"Authorization": f"Bearer {CLIENT_KEY}"}, timeout=10).json()
        seen[body["worker"]] = body["bundle"]
        if len(seen) == 2:
            break
    return seen


def _hammer_models(base: str, stop: threading.Event, results: list, models) -> None:
    headers = {"Authorization": f"Bearer {CLIENT_KEY}"}
    for i in range(100_000):  # bounded; the stop event ends it far sooner
        if stop.is_set():
            return
        model = models[i % len(models)]
        try:
            response = requests.post(f"{base}/v1/greeter/run/{model}", json={"values": [1, 1, 1, 1]}, headers=headers, timeout=10)
            body = response.json()
            results.append((time.time(), model, response.status_code, body.get("bundle_name"), body.get("bundle"),
                            body.get("values", [None])[0]))
        except requests.RequestException as exc:
            results.append((time.time(), model, "error", str(exc), None, None))


def _cli(data_dir, *args) -> None:
    subprocess.run([sys.executable, "-m", "edge", "--data-dir", str(data_dir), "bundle", *map(str, args)],
                   check=True, capture_output=True, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}, timeout=60)


def test_three_names_one_upgraded_and_rolled_back_under_load_while_the_others_serve(data_dir, make_bundle, tmp_path):
    from edge.bundles.registry import BundleRegistry

    def named(name, version, model, scale):
        return make_bundle(version, scale=scale, name=name, models={model: {"file": "doubler.onnx", "runtime": "onnx"}})

    registry = BundleRegistry(data_dir)
    for name, model, scale in (("vision", "doubler", 2.0), ("fraud", "scorer", 5.0), ("recs", "ranker", 7.0)):
        registry.install(named(name, "1.0.0", model, scale))
    newer = named("vision", "1.1.0", "doubler", 3.0)
    expected = {("doubler", "vision", "1.0.0", 2.0), ("doubler", "vision", "1.1.0", 3.0),
                ("scorer", "fraud", "1.0.0", 5.0), ("ranker", "recs", "1.0.0", 7.0)}
    with gunicorn_node(data_dir, ENV, log=tmp_path / "node.log") as (base, _):
        stop, results = threading.Event(), []
        threads = [threading.Thread(target=_hammer_models, args=(base, stop, results, ("doubler", "scorer", "ranker")))
                   for _ in range(4)]
        for thread in threads:
            thread.start()
        time.sleep(1.0)
        _cli(data_dir, "install", newer)
        upgraded = (data_dir / "bundles" / "state.json").stat().st_mtime
        time.sleep(3.0)
        _cli(data_dir, "rollback", "vision")
        rolled_back = (data_dir / "bundles" / "state.json").stat().st_mtime
        time.sleep(3.0)
        stop.set()
        for thread in threads:
            thread.join(timeout=30)
    failures = [r for r in results if r[2] != 200]
    assert failures == [], failures[:5]
    assert {r[1:2] + r[3:] for r in results} <= expected, "each model comes from its own name, version and weights together"
    vision = [r for r in results if r[1] == "doubler"]
    assert all(r[4] == "1.1.0" for r in vision if upgraded + 2.0 < r[0] < rolled_back), "a worker missed the upgrade"
    assert all(r[4] == "1.0.0" for r in vision if r[0] > rolled_back + 2.0), "a worker missed the rollback"
    assert any(r[4] == "1.1.0" for r in vision) and sum(r[1] == "scorer" for r in results) > 10
