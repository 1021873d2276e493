"""Platform figures, side by side in one run: bundles by name on a real gunicorn node, and publishing
hub-owned rows.

- **switch one name while two others stay active**: three bundle names (tiny ONNX models) active on a
  2-worker gunicorn node; one name is switched between two versions; the time from the switch until 20
  ``/readyz`` answers in a row (both workers) show the new version *and* the other two names unchanged.
- **worker memory over 100 installs and activations across three names**: each step installs a new
  version of one name (cycling the names) or rolls that name back, and waits until every worker serves
  it; the workers' RSS is sampled every 25 steps (flat means no model set is leaked).
- **publish 100,000 hub-owned rows and their arrival on an edge**: JSON lines of 100,000 catalog rows
  checked and written on a SQLite hub (and a PostgreSQL one when this machine can run it), then one edge's
  ``sync_once`` pulling them (the Flask test client as transport, as ``bench_sync`` does).

Run: ``.venv/bin/python -m benchmarks platform`` (or ``make bench``).
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
import time
from pathlib import Path

import requests

from benchmarks.common import median
from tests import builders
from tests.servers import gunicorn_node

NAMES = {"vision": "embedder", "fraud": "scorer", "recs": "ranker"}
SWITCHES = 10
STEPS = 100
ROWS = 100_000
ENV = {"STOREFRONT_EDGE_PLUGINS": "catalog"}


def _bundle(data: Path, name: str, version: str, scale: float = 2.0) -> Path:
    folder = data.parent / "sources" / f"{name}-{version}"
    return builders.signed_bundle(folder, data / "keys" / "signing.key", version=version, scale=scale, name=name,
                                  models={NAMES[name]: {"file": "doubler.onnx", "runtime": "onnx"}})


def _prepare(data: Path):
    from edge.bundles.registry import BundleRegistry
    from edge.bundles.signing import generate_keypair

    _, public = generate_keypair(data / "keys")
    (data / "keys" / "trusted").mkdir()
    (data / "keys" / "trusted" / "signing.pub").write_bytes(public.read_bytes())
    registry = BundleRegistry(data, keep=3)
    for name in NAMES:
        registry.install(_bundle(data, name, "1.0.0"))
    return registry


def _served(base: str) -> dict:
    return {n: b["version"] for n, b in requests.get(f"{base}/readyz", timeout=5).json()["bundles"].items()}


def _wait_for(base: str, wanted: dict, streak_needed: int = 20) -> float:
    """Seconds until ``streak_needed`` answers in a row serve exactly ``wanted``."""
    started, streak = time.monotonic(), 0
    for _ in range(50_000):
        streak = streak + 1 if _served(base) == wanted else 0
        if streak >= streak_needed:
            return time.monotonic() - started
    raise TimeoutError(f"workers did not reach {wanted}")


def _worker_rss_mb(server_pid: int) -> float:
    children = subprocess.run(["pgrep", "-P", str(server_pid)], capture_output=True, text=True).stdout.split()
    return sum(int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1e6 for pid in children)


def switch_one_name(base: str, registry, data: Path) -> dict:
    registry.install(_bundle(data, "vision", "1.1.0", 3.0))
    _wait_for(base, {"fraud": "1.0.0", "recs": "1.0.0", "vision": "1.1.0"})
    times = []
    for i in range(SWITCHES):
        version = ["1.0.0", "1.1.0"][i % 2]
        registry.activate("vision", version)
        times.append(_wait_for(base, {"fraud": "1.0.0", "recs": "1.0.0", "vision": version}))
    return {"switch_one_of_three_names_all_workers_ms_median": median(times) * 1000,
            "switch_one_of_three_names_all_workers_ms_max": max(times) * 1000}


def memory_over_steps(base: str, server_pid: int, registry, data: Path) -> dict:
    serving, minor, samples = dict(_served(base)), {n: 1 for n in NAMES}, {}
    for step in range(STEPS):
        name = list(NAMES)[step % 3]
        if (step // 3) % 2 == 0:
            minor[name] += 1
            registry.install(_bundle(data, name, f"1.{minor[name]}.0", 2.0 + step))
        else:
            registry.rollback(name)
        serving[name] = registry.active_version(name)
        _wait_for(base, serving, streak_needed=6)
        if step in (0, 24, 49, 74, 99):
            samples[step + 1] = round(_worker_rss_mb(server_pid), 1)
    first, last = samples[1], samples[STEPS]
    return {"worker_rss_mb_by_step": samples, "worker_rss_mb_growth_steps_1_to_100": last - first,
            "worker_rss_mb_growth_steps_25_to_100": last - samples[25]}


def _rows_text(n: int, title: str = "Item") -> str:
    return "\n".join(json.dumps({"sku": f"S{i:07d}", "title": f"{title} {i}", "price": i % 1000 / 10, "category": f"c{i % 50}"})
                     for i in range(n)) + "\n"


def _publish_and_pull(folder: Path, database_url: str | None) -> dict:
    from edge.app import create_app
    from edge.hub.publish import publication_from_text
    from edge.sync.worker import sync_once
    from tests.test_sync_support import FlaskTransport, make_hub, register

    hub = make_hub(folder / "hub", database_url)
    store = hub.extensions["storefront_edge_hub"]["store"]
    text = _rows_text(ROWS)
    started = time.perf_counter()
    publication = publication_from_text(store.schemas, "catalog_items", text, "jsonl")
    checked = time.perf_counter()
    store.publish("catalog_items", publication)
    written = time.perf_counter()
    edge = create_app({"DATA_DIR": str(folder / "edge"), "PLUGINS": ["catalog"], "SYNC_WORKER": False, "HUB_URL": "http://hub.test",
                       "HUB_TOKEN": register(hub, "store-1")}, watch=False)
    node = edge.extensions["storefront_edge"]
    pulled_at = time.perf_counter()
    result = sync_once(node, FlaskTransport(hub))
    arrived = time.perf_counter()
    count = node.db()["catalog_items"].count
    node.close()
    store.close()
    if count != ROWS:
        raise RuntimeError(f"the edge holds {count} rows, not {ROWS}")
    return {"check_s": checked - started, "write_s": written - checked, "publish_s": written - started,
            "edge_pull_s": arrived - pulled_at, "pulled": result["pulled"]}


def _postgres_url(folder: Path):
    """A database on a throw-away PostgreSQL server, or ``(None, None)`` when none can run here."""
    import secrets

    from tests.pg_server import PgServer, find_binaries, server_user

    binaries, user = find_binaries(), server_user()
    if binaries is None or user is None:
        return None, None
    server = PgServer(binaries, user, folder, 0, secrets.token_urlsafe(16))
    server.start()
    return server, server.create_database()


def publish_rows(folder: Path) -> dict:
    figures = {f"publish_{ROWS}_rows_sqlite": _publish_and_pull(folder / "sqlite", None)}
    server = None
    try:
        server, url = _postgres_url(Path(tempfile.mkdtemp(prefix="bench-pg-")))
        if url:
            figures[f"publish_{ROWS}_rows_postgres"] = _publish_and_pull(folder / "pg", url)
    except Exception as exc:  # PostgreSQL is optional here: report why it is missing
        figures["postgres"] = f"not measured: {type(exc).__name__}: {exc}"
    finally:
        if server is not None:
            server.stop()
    return figures


def main() -> dict:
    figures = {}
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "var"
        data.mkdir()
        registry = _prepare(data)
        with gunicorn_node(data, ENV) as (base, server_pid):
            _wait_for(base, {n: "1.0.0" for n in NAMES})
            figures.update(switch_one_name(base, registry, data))
            figures.update(memory_over_steps(base, server_pid, registry, data))
        figures.update(publish_rows(Path(tmp)))
    print(json.dumps(figures, indent=2))
    return figures


if __name__ == "__main__":
    main()
