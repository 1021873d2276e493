"""The node's HTTP overhead against plain Flask, and the bundle install/activate/switch times.

All servers run under gunicorn with 2 workers on loopback, measured by wrk side by side in one run.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

from benchmarks.common import median, wrk
from tests import builders
from tests.servers import ROOT, free_port, gunicorn_node, wait_until

CLIENT, ADMIN = "bench-client-key", "bench-admin-key"
ENV = {"STOREFRONT_EDGE_PLUGINS": "catalog", "STOREFRONT_EDGE_CLIENT_KEY": CLIENT, "STOREFRONT_EDGE_ADMIN_KEY": ADMIN}


@contextlib.contextmanager
def reference_server():
    """Plain Flask under gunicorn -w 2 (sync workers), the figure the node's overhead is measured against."""
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "gunicorn", "--no-control-socket", "-w", "2", "-b", f"127.0.0.1:{port}", "benchmarks.reference_app:create_app()"],
                               cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        wait_until(f"http://127.0.0.1:{port}/healthz")
        yield f"http://127.0.0.1:{port}"
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=15)


def _prepare(data: Path) -> tuple:
    from edge.bundles.registry import BundleRegistry
    from edge.bundles.signing import generate_keypair
    from edge.store import connect

    private, public = generate_keypair(data / "keys")
    (data / "keys" / "trusted").mkdir()
    (data / "keys" / "trusted" / "signing.pub").write_bytes(public.read_bytes())
    folders = [builders.signed_bundle(data.parent / f"b{i}", private, version=f"1.{i}.0", scale=float(i + 2)) for i in range(2)]
    BundleRegistry(data).install(folders[0])
    return folders, connect


def _load(base: str) -> dict:
    figures = {}
    headers = {"Authorization": f"Bearer {CLIENT}"}
    for connections in (8, 32):
        figures[f"node_healthz_c{connections}"] = wrk(f"{base}/healthz", connections)
        figures[f"node_plugin_route_c{connections}"] = wrk(f"{base}/v1/catalog/items/BENCH-1", connections, headers=headers)
    return figures


def _switch_seconds(base: str, registry, version: str) -> float:
    """Seconds from activation until 20 answers in a row (both workers) report ``version``."""
    registry.activate("test-bundle", version)
    started, streak = time.monotonic(), 0
    for _ in range(20_000):
        served = requests.get(f"{base}/readyz", timeout=5).json()["bundles"].get("test-bundle", {}).get("version")
        streak = streak + 1 if served == version else 0
        if streak >= 20:
            return time.monotonic() - started
    raise TimeoutError("workers did not switch")


def _worker_rss_mb(server_pid: int) -> float:
    children = subprocess.run(["pgrep", "-P", str(server_pid)], capture_output=True, text=True).stdout.split()
    return sum(int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1e6 for pid in children)


def _bundle_figures(data: Path, base: str, folders) -> dict:
    from edge.bundles.registry import BundleRegistry

    registry = BundleRegistry(data, keep=20)
    installs = []
    for i in range(5):
        folder = builders.signed_bundle(data.parent / f"c{i}", data / "keys" / "signing.key", version=f"2.{i}.0")
        started = time.perf_counter()
        registry.install(folder)
        installs.append(time.perf_counter() - started)
    registry.install(folders[1], allow_downgrade=True, activate=False)
    switches = [_switch_seconds(base, registry, v) for v in ["1.1.0", "2.4.0"] * 5]
    return {"bundle_install_activate_ms_median": median(installs) * 1000,
            "bundle_switch_all_workers_ms_median": median(switches) * 1000,
            "bundle_switch_all_workers_ms_max": max(switches) * 1000}


def main() -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "var"
        data.mkdir()
        folders, connect = _prepare(data)
        with gunicorn_node(data, ENV) as (base, server_pid):
            db = connect(data / "store.db")
            db["catalog_items"].insert({"id": "default/BENCH-1", "sku": "BENCH-1", "title": "Bench item", "price": 1.0})
            with reference_server() as reference:
                figures = {f"reference_flask_healthz_c{c}": wrk(f"{reference}/healthz", c) for c in (8, 32)}
            figures.update(_load(base))
            rss_before = _worker_rss_mb(server_pid)
            figures.update(_bundle_figures(data, base, folders))
            figures["worker_rss_mb_before_cycles"] = rss_before
            figures["worker_rss_mb_after_12_installs_10_switches"] = _worker_rss_mb(server_pid)
    for c in (8, 32):
        ref, node = figures[f"reference_flask_healthz_c{c}"], figures[f"node_healthz_c{c}"]
        figures[f"node_vs_flask_rps_ratio_c{c}"] = node["rps"] / ref["rps"]
        figures[f"plugin_route_vs_flask_rps_ratio_c{c}"] = figures[f"node_plugin_route_c{c}"]["rps"] / ref["rps"]
    figures["table"] = _markdown(figures)
    print(figures["table"])
    return figures


def _markdown(f: dict) -> str:
    rows = ["| server / route | conns | req/s | p50 ms | p99 ms | non-2xx |", "|---|---|---|---|---|---|"]
    for key, label in (("reference_flask_healthz", "plain Flask /healthz"), ("node_healthz", "node /healthz"),
                       ("node_plugin_route", "node /v1/catalog/items/<sku>")):
        for c in (8, 32):
            r = f[f"{key}_c{c}"]
            rows.append(f"| {label} | {c} | {r['rps']:.0f} | {r['p50_ms']:.2f} | {r['p99_ms']:.2f} | {r['non_2xx']} |")
    return "\n".join(rows)


if __name__ == "__main__":
    print(json.dumps(main(), indent=2))
