"""CDN edge mode: reads through nginx's cache against the node alone, node memory by number of stores, and
visual search with several stores' indexes loaded.

1. **Cache.** A gunicorn node (2 workers) of two stores with 500 items each (a small PNG per item) on
   loopback, and Debian's nginx with the shipped ``deploy/nginx-cdn.conf`` in front; wrk (16 connections,
   4 s) reads one catalog page (50 items) and one image, from the node and through the warm cache, side by
   side in one run; and the page read from the node with a matching ``If-None-Match`` (304), what an expired
   entry costs the node when nginx revalidates it.
2. **Memory.** Nodes (2 workers) of 1, 10 and 50 stores of 10,000 items each (rows without photos: 500,000
   photos would take longer to write than the rest of the benchmark), after a catalog page and an item of
   every store were read: the workers' resident memory, and the store file's size.
3. **Visual search.** The shipped vision bundle, 10 stores of 100 real grocery photos each (``../shared``;
   skipped with a note when absent), one index per store built by the node; the median latency of a
   224 px photo query (in process, Flask's test client) with 1 store's index loaded and with 10: both nodes
   started, queried in three interleaved rounds.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

from benchmarks.common import wrk
from tests.servers import gunicorn_node

ADMIN = "bench-admin-key"
KEY = "bench-store-key"
SECONDS, CONNECTIONS = 4, 16


def _env(stores: list[str]) -> dict:
    env = {"STOREFRONT_EDGE_STORES": ",".join(stores), "STOREFRONT_EDGE_ADMIN_KEY": ADMIN,
           "STOREFRONT_EDGE_CLIENT_KEY": KEY, "STOREFRONT_EDGE_PLUGINS": "catalog,events", "STOREFRONT_EDGE_SYNC_WORKER": "0"}
    return env


def _seed_with_photos(data: Path, tmp: Path, stores: list[str], items: int) -> None:
    from edge.app import create_app
    from plugins.catalog.importer import import_catalog
    from tests.cdn_support import write_catalog

    app = create_app({"DATA_DIR": str(data), "STORES": ",".join(stores), "PLUGINS": ["catalog", "events"]}, watch=False)
    node = app.extensions["storefront_edge"]
    for n, store in enumerate(stores):
        rows = [(f"SKU-{i:05d}", f"Item {i} of {store}", 1.0 + i % 50) for i in range(items)]
        import_catalog(node.db(), write_catalog(tmp / store, rows, colour=(20 * n, 90, 30)), data / "media" / "catalog", store)
    node.close()


def _cache_figures(tmp: Path) -> dict:
    from tests.cdn_cache import nginx_available, nginx_cache

    if not nginx_available():
        return {"cache_note": "nginx is not installed: cache figures skipped"}
    import requests

    data = tmp / "cache-node"
    _seed_with_photos(data, tmp / "photos", ["north", "south"], 500)
    headers = {"Authorization": f"Bearer {KEY}"}
    figures = {}
    with gunicorn_node(data, env=_env(["north", "south"]), ready_status=503) as (node, _):
        page = "/v1/stores/north/catalog/items?limit=50"
        image = requests.get(node + page, headers=headers, timeout=10).json()["items"][0]["image_urls"][0]
        with nginx_cache(tmp / "nginx", [node]) as cache:
            for base in (cache, cache):  # warm: the first read fills the entry
                requests.get(base + page, headers=headers, timeout=10), requests.get(base + image, headers=headers, timeout=10)
            for label, path in (("catalog_page", page), ("image", image)):
                alone = wrk(node + path, CONNECTIONS, SECONDS, headers)
                cached = wrk(cache + path, CONNECTIONS, SECONDS, headers)
                figures.update({f"{label}_node_rps": alone["rps"], f"{label}_cache_rps": cached["rps"],
                                f"{label}_node_p50_ms": alone["p50_ms"], f"{label}_cache_p50_ms": cached["p50_ms"],
                                f"{label}_cache_speedup": round(cached["rps"] / alone["rps"], 1),
                                f"{label}_errors": alone["non_2xx"] + cached["non_2xx"]})
            figures.update(_revalidation_figures(node + page, headers))
    return figures


def _revalidation_figures(url: str, headers: dict) -> dict:
    """What an expired entry costs the node: a conditional read of the page answered 304, beside the full read."""
    import requests

    etag = requests.get(url, headers=headers, timeout=10).headers["ETag"]
    conditional = wrk(url, CONNECTIONS, SECONDS, {**headers, "If-None-Match": etag})
    return {"catalog_page_node_304_rps": conditional["rps"], "catalog_page_node_304_p50_ms": conditional["p50_ms"]}


def _seed_rows(data: Path, stores: list[str], items: int) -> None:
    """``items`` catalog rows per store, written in one transaction after the node's migrations."""
    from edge.app import create_app

    app = create_app({"DATA_DIR": str(data), "STORES": ",".join(stores), "PLUGINS": ["catalog", "events"]}, watch=False)
    node = app.extensions["storefront_edge"]
    conn = node.db().conn
    rows = ((f"{s}/SKU-{i:05d}", s, f"SKU-{i:05d}", f"Item {i}", "", 1.0 + i % 50, "EUR", f"c{i % 20}", 1, "[]", "2026-01-01")
            for s in stores for i in range(items))
    with conn:
        conn.executemany("INSERT INTO catalog_items (id, store, sku, title, description, price, currency, category, in_stock, "
                         "images, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
    node.close()


def _memory_figures(tmp: Path) -> dict:
    import requests

    from benchmarks.bench_node import _worker_rss_mb

    figures = {}
    for count in (1, 10, 50):
        stores = [f"store-{n:02d}" for n in range(count)]
        data = tmp / f"memory-{count}"
        started = time.perf_counter()
        _seed_rows(data, stores, 10_000)
        seeded = time.perf_counter() - started
        with gunicorn_node(data, env=_env(stores), ready_status=503) as (node, pid):
            headers = {"Authorization": f"Bearer {KEY}"}
            for store in stores:
                for _ in range(2):  # both workers, most likely
                    requests.get(f"{node}/v1/stores/{store}/catalog/items?limit=50", headers=headers, timeout=30)
                    requests.get(f"{node}/v1/stores/{store}/catalog/items/SKU-00042", headers=headers, timeout=30)
            figures[f"rss_mb_{count}_stores"] = round(_worker_rss_mb(pid), 1)
        figures[f"store_file_mb_{count}_stores"] = round((data / "store.db").stat().st_size / 1e6, 1)
        figures[f"seed_s_{count}_stores"] = round(seeded, 1)
    return figures


def _visual_figures(tmp: Path) -> dict:
    """Nodes of 1 and of 10 stores, both started, queried in turn (interleaved rounds: the machine is shared)."""
    from benchmarks.bench_visual_search import SHARED, _photos, _queries

    if not (SHARED / "train.txt").is_file():
        return {"visual_note": "../shared/datasets/grocery-store is absent: visual search figures skipped"}
    photos, query, figures, nodes = _photos(1000), _queries(tmp)["224px"], {}, {}
    try:
        for count in (1, 10):
            nodes[count], figures[f"visual_ready_s_{count}_stores"] = _visual_node(tmp / f"visual-{count}", tmp, photos, count)
        samples = {count: [] for count in nodes}
        for round_ in range(3):
            for count, (app, stores) in nodes.items():
                samples[count] += _visual_queries(app, stores, query, warm=round_ == 0)
        for count, (app, _) in nodes.items():
            index_dir = app.extensions["storefront_edge"].data_dir / "cache" / "visual_search"
            figures[f"visual_p50_ms_{count}_stores"] = round(statistics.median(samples[count]), 2)
            figures[f"visual_index_files_mb_{count}_stores"] = round(sum(p.stat().st_size for p in index_dir.glob("*@*")) / 1e6, 2)
    finally:
        for app, _ in nodes.values():
            app.extensions["storefront_edge"].close()
    return figures


def _visual_catalog(data: Path, tmp: Path, photos: list[Path], stores: list[str]) -> None:
    import csv

    from edge.app import create_app
    from plugins.catalog.importer import import_catalog

    app = create_app({"DATA_DIR": str(data), "STORES": ",".join(stores), "PLUGINS": ["catalog"]}, watch=False)
    node = app.extensions["storefront_edge"]
    for n, store in enumerate(stores):
        folder = tmp / f"vs-{len(stores)}-{store}"
        folder.mkdir()
        with open(folder / "catalog.csv", "w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["sku", "title", "price", "category", "images"])
            for i, photo in enumerate(photos[n * 100:(n + 1) * 100]):
                (folder / f"{i}.jpg").write_bytes(photo.read_bytes())
                writer.writerow([f"P-{i}", photo.parent.name, 1 + i % 9, "grocery", f"{i}.jpg"])
        import_catalog(node.db(), folder / "catalog.csv", data / "media" / "catalog", store)
    node.close()


def _visual_node(data: Path, tmp: Path, photos: list[Path], count: int):
    """A started node app of ``count`` stores with every store's index served; ``((app, stores), seconds to ready)``."""
    from benchmarks.bench_visual_search import _install_bundle
    from edge.app import create_app

    stores = [f"store-{n:02d}" for n in range(count)]
    data.mkdir(parents=True)
    _install_bundle(data, tmp / f"keys-{count}")
    _visual_catalog(data, tmp, photos, stores)
    started = time.perf_counter()
    app = create_app({"DATA_DIR": str(data), "STORES": ",".join(stores), "PLUGINS": ["catalog", "visual_search"],
                      "CLIENT_KEY": KEY}, watch=False)
    deadline = time.monotonic() + 600
    while not app.extensions["storefront_edge"].plugin_status("visual_search")["ready"]:
        if time.monotonic() > deadline:
            raise RuntimeError(f"the indexes of {count} stores were not ready within 600 s")
        time.sleep(0.2)
    return (app, stores), round(time.perf_counter() - started, 1)


def _visual_queries(app, stores: list[str], query: bytes, warm: bool) -> list[float]:
    """Milliseconds of 30 photo queries spread over the stores (after 10 unmeasured ones when ``warm``)."""
    client, headers = app.test_client(), {"Authorization": f"Bearer {KEY}", "Content-Type": "image/jpeg"}
    samples = []
    for n in range((10 if warm else 0) + 30):
        began = time.perf_counter()
        answer = client.post(f"/v1/stores/{stores[n % len(stores)]}/visual-search", data=query, headers=headers)
        if answer.status_code != 200:
            raise RuntimeError(f"visual search answered {answer.status_code}")
        if n >= (10 if warm else 0):
            samples.append((time.perf_counter() - began) * 1000)
    return samples


def _table(f: dict) -> str:
    rows = ["| read | node alone req/s | through nginx req/s | speed-up | p50 node / cache ms |", "|---|---|---|---|---|"]
    for label in ("catalog_page", "image"):
        if f"{label}_node_rps" in f:
            rows.append(f"| {label} | {f[f'{label}_node_rps']:.0f} | {f[f'{label}_cache_rps']:.0f} | {f[f'{label}_cache_speedup']}x | "
                        f"{f[f'{label}_node_p50_ms']:.2f} / {f[f'{label}_cache_p50_ms']:.2f} |")
    if "catalog_page_node_304_rps" in f:
        rows.append(f"| catalog_page revalidated at the node (If-None-Match, 304) | {f['catalog_page_node_304_rps']:.0f} | - | - | "
                    f"{f['catalog_page_node_304_p50_ms']:.2f} / - |")
    rows += ["", "| stores x 10,000 items | workers' RSS MB | store file MB |", "|---|---|---|"]
    rows += [f"| {n} | {f.get(f'rss_mb_{n}_stores')} | {f.get(f'store_file_mb_{n}_stores')} |" for n in (1, 10, 50)]
    if "visual_p50_ms_10_stores" in f:
        rows += ["", "| stores' indexes loaded | visual search p50 ms | index files MB |", "|---|---|---|"]
        rows += [f"| {n} | {f[f'visual_p50_ms_{n}_stores']} | {f[f'visual_index_files_mb_{n}_stores']} |" for n in (1, 10)]
    return "\n".join(rows)


def main() -> dict:
    import os

    with tempfile.TemporaryDirectory(prefix="bench-cdn-") as folder:
        tmp = Path(folder)
        figures = {"load_average_at_start": [round(v, 2) for v in os.getloadavg()]}
        for part in (_cache_figures, _memory_figures, _visual_figures):  # one failing part keeps the others' figures
            try:
                figures.update(part(tmp))
            except Exception as exc:
                figures[f"{part.__name__.strip('_')}_error"] = f"{type(exc).__name__}: {exc}"
    figures["load_average_at_end"] = [round(v, 2) for v in os.getloadavg()]
    figures["table"] = _table(figures)
    return figures


if __name__ == "__main__":
    import json

    print(json.dumps(main(), indent=2))
