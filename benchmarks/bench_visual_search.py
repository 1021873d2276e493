"""Visual search latency at the HTTP endpoint: gunicorn with 2 workers on loopback, a 100,000-item index.

The catalog holds real grocery photos (from ``../shared``) plus synthetic items whose embeddings are
random unit vectors, so the annoy index has 100,000 items. Queries are a real photo re-encoded as a
224x224 JPEG and as a 4000x3000 (12 MP) JPEG, sent one at a time on one kept-alive connection as raw
``image/jpeg`` bodies (and the 12 MP photo once more as multipart), in three interleaved rounds whose
p50s are reported beside the overall one (this shared machine has slow spells). The server's
``timings_ms`` split each request into decode, model and index; "http" is what the client saw beyond
the server's total. Also: the model thread settings side by side (the default one thread per run;
every core while a request is alone and one thread otherwise; two threads always), sequential and
with 4 concurrent clients; and the embedder's inference time per format (ONNX int8 vs TFLite) at 1
and 2 threads. Uses the shipped bundle
``models_lite/storefront-vision`` when present, else a tiny test embedder (and says so).
"""

from __future__ import annotations

import json
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks.common import DATASETS, percentile
from tests.servers import ROOT, gunicorn_node, wait_until

SHARED = DATASETS / "grocery-store"
SHIPPED = ROOT / "models_lite" / "storefront-vision"
CLIENT = "bench-client-key"
ENV = {"STOREFRONT_EDGE_PLUGINS": "catalog,visual_search", "STOREFRONT_EDGE_CLIENT_KEY": CLIENT,
       "STOREFRONT_EDGE_ADMIN_KEY": "bench-admin-key"}
ITEMS, REAL_ITEMS = 100_000, 60


def _photos(count: int) -> list[Path]:
    lines = (SHARED / "train.txt").read_text().splitlines()
    return [SHARED / line.split(",")[0].strip() for line in lines[:: max(1, len(lines) // count)][:count]]


def _install_bundle(data: Path, tmp: Path) -> str:
    """Install the shipped bundle (trusting its keys), else a tiny signed test embedder; return a note."""
    from edge.bundles.registry import BundleRegistry
    from edge.bundles.signing import generate_keypair
    from edge.cli.node_cmds import trust_shipped_keys

    if (SHIPPED / "manifest.sig").is_file():
        trust_shipped_keys(data, ROOT / "models_lite")
        BundleRegistry(data).install(SHIPPED)
        return "shipped bundle models_lite/storefront-vision"
    from tests.test_visual_search import embedder_bundle

    private, public = generate_keypair(tmp / "keys")
    (data / "keys" / "trusted").mkdir(parents=True, exist_ok=True)
    (data / "keys" / "trusted" / "bench.pub").write_bytes(public.read_bytes())
    BundleRegistry(data).install(embedder_bundle(tmp / "bundle", private))
    return "tiny test embedder (models_lite/storefront-vision is absent)"


def _catalog(data: Path, tmp: Path) -> None:
    """Real photos as the first items (imported), then synthetic rows up to ``ITEMS``."""
    import csv

    from edge.store import connect
    from plugins.catalog.importer import import_catalog

    folder = tmp / "catalog"
    folder.mkdir()
    with open(folder / "catalog.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["sku", "title", "description", "price", "currency", "category", "in_stock", "images"])
        for n, photo in enumerate(_photos(REAL_ITEMS)):
            (folder / f"{n}.jpg").write_bytes(photo.read_bytes())
            writer.writerow([f"REAL-{n}", photo.parent.name.replace("-", " "), f"grocery photo {n}", 1 + n % 9, "EUR", "grocery", 1, f"{n}.jpg"])
    db = connect(data / "store.db")
    import_catalog(db, folder / "catalog.csv", data / "media" / "catalog")
    rows = ({"id": f"default/PAD-{n}", "sku": f"PAD-{n}", "title": f"Synthetic item {n}", "description": "padding", "price": 1.0 + n % 50,
             "currency": "EUR", "category": f"c{n % 20}", "in_stock": 1, "images": json.dumps([f"PAD-{n}/0.jpg"]),
             "updated_at": "2020-01-01T00:00:00+00:00"} for n in range(ITEMS - REAL_ITEMS))
    db["catalog_items"].insert_all(rows, pk="id", batch_size=5000)
    db.close()


def _active_directory(registry, model: str) -> Path:
    """The folder of the active bundle (of whichever name) that holds ``model``."""
    from edge.bundles.manifest import read_manifest

    for name, version in registry.active().items():
        if model in read_manifest(registry.directory(name, version)).models:
            return registry.directory(name, version)
    raise RuntimeError(f"no active bundle has the model {model}")


def _build_index(data: Path) -> dict:
    """Embed the real photos with the bundle's model, pad with random unit vectors, write the index files."""
    from edge.bundles.active import load_active
    from edge.bundles.registry import BundleRegistry
    from edge.store import connect
    from plugins.visual_search import catalog_source, embeddings, index_files
    from plugins.visual_search.config import VisualSearchConfig
    from plugins.visual_search.imaging import Preprocess

    config = VisualSearchConfig()
    registry = BundleRegistry(data)
    bundle = load_active(_active_directory(registry, config.model))
    model, recipe = bundle.model(config.model), Preprocess.from_manifest(bundle.manifest.models[config.model].preprocess)
    db = connect(data / "store.db")
    images = catalog_source.catalog_images(db, data / "media" / "catalog")
    real = embeddings.embed_files(model, recipe, [p for _, _, p in images[:REAL_ITEMS]], config.batch_size, config.max_pixels)
    dims = len(next(iter(real.values())))
    padding = np.random.default_rng(0).normal(size=(len(images) - REAL_ITEMS, dims)).astype(np.float32)
    vectors = np.vstack([np.stack([real[i] for i in range(REAL_ITEMS)]), padding / np.linalg.norm(padding, axis=1, keepdims=True)])
    name = index_files.index_name(config.model, bundle.version, catalog_source.fingerprint(db), "default")
    started = time.perf_counter()
    index_files.write_index(data / "cache" / "visual_search", name, vectors, [s for s, _, _ in images], [i for _, i, _ in images], config.trees)
    db.close()
    return {"index_items": len(images), "embedding_dims": dims, "index_build_s": round(time.perf_counter() - started, 1)}


def _queries(tmp: Path) -> dict[str, bytes]:
    import cv2

    photo = cv2.imread(str(_photos(REAL_ITEMS + 7)[-1]))
    small = cv2.resize(photo, (224, 224), interpolation=cv2.INTER_AREA)
    large = cv2.resize(photo, (4000, 3000), interpolation=cv2.INTER_CUBIC)
    encode = lambda image: cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 90])[1].tobytes()  # noqa: E731
    return {"224px": encode(small), "12mp": encode(large)}


def _post(connection, body: bytes, multipart: bool) -> tuple[float, dict]:
    """One request on a kept-alive connection: client-side ms and the server's ``timings_ms``."""
    headers = {"Authorization": f"Bearer {CLIENT}", "Content-Type": "image/jpeg"}
    if multipart:
        boundary = "storefront-edge-bench"
        headers["Content-Type"] = f"multipart/form-data; boundary={boundary}"
        body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"image\"; filename=\"photo.jpg\"\r\n"
                f"Content-Type: image/jpeg\r\n\r\n").encode() + body + f"\r\n--{boundary}--\r\n".encode()
    started = time.perf_counter()
    connection.request("POST", "/v1/visual-search", body=body, headers=headers)
    response = connection.getresponse()
    payload = response.read()
    elapsed = (time.perf_counter() - started) * 1000
    if response.status != 200:
        raise RuntimeError(f"visual search answered {response.status}: {payload[:200]!r}")
    return elapsed, json.loads(payload)["timings_ms"]


def _samples(base: str, body: bytes, count: int, multipart: bool = False) -> tuple[list[float], list[dict]]:
    """Sequential requests from one kept-alive connection (http.client: little client-side overhead):
    client-side ms and the server's ``timings_ms`` of each, after 10 warm-up requests."""
    from http.client import HTTPConnection
    from urllib.parse import urlsplit

    url = urlsplit(base)
    connection = HTTPConnection(url.hostname, url.port, timeout=30)
    client, server = [], []
    for n in range(count + 10):
        elapsed, timings = _post(connection, body, multipart)
        if n >= 10:  # warm-up excluded
            client.append(elapsed)
            server.append(timings)
    connection.close()
    return client, server


def _figures(label: str, client: list[float], server: list[dict], body: bytes) -> dict:
    """p50/p99 of the client-side times and the median share of decode, model, index and HTTP."""
    med = lambda key: round(statistics.median(t[key] for t in server), 2)  # noqa: E731
    p50 = statistics.median(client)
    figures = {"p50_ms": round(p50, 2), "p99_ms": round(percentile(client, 99), 2), "p99_over_p50": round(percentile(client, 99) / p50, 2),
               "decode_ms": med("decode"), "model_ms": med("model"), "index_ms": med("index"), "server_total_ms": med("total"),
               "http_ms": round(statistics.median(c - t["total"] for c, t in zip(client, server)), 2), "body_kb": len(body) // 1024}
    return {f"{label}_{k}": v for k, v in figures.items()}


def _measure(base: str, label: str, body: bytes, count: int, multipart: bool = False) -> dict:
    """:func:`_figures` of ``count`` sequential requests."""
    return _figures(label, *_samples(base, body, count, multipart), body)


# (label, body key, requests per round, multipart): measured in ROUNDS interleaved rounds, so that a
# slow spell of this shared machine lands in every query kind alike instead of in one of them
QUERIES = (("224px", "224px", 100, False), ("12mp", "12mp", 35, False), ("12mp_multipart", "12mp", 17, True))
ROUNDS = 3


def _interleaved(base: str, queries: dict[str, bytes]) -> dict:
    """Figures of every query kind over all rounds, plus each round's p50 (``*_p50_rounds_ms``)."""
    samples = {label: ([], []) for label, *_ in QUERIES}
    rounds = {label: [] for label, *_ in QUERIES}
    for _ in range(ROUNDS):
        for label, key, count, multipart in QUERIES:
            client, server = _samples(base, queries[key], count, multipart)
            samples[label][0].extend(client)
            samples[label][1].extend(server)
            rounds[label].append(round(statistics.median(client), 2))
    figures = {}
    for label, key, *_ in QUERIES:
        figures.update(_figures(label, *samples[label], queries[key]))
        figures[f"{label}_p50_rounds_ms"] = rounds[label]
    return figures


def _model_formats(data: Path) -> dict:
    """Median inference ms per model file and thread count, measured side by side on one input."""
    from edge.bundles.manifest import read_manifest
    from edge.bundles.registry import BundleRegistry
    from edge.runtime import load_model

    registry = BundleRegistry(data)
    directory = _active_directory(registry, "vision_embedder")
    manifest = read_manifest(directory)
    figures = {}
    for name in ("vision_embedder", "vision_embedder_tflite"):
        if name not in manifest.models:
            continue
        for threads in (1, 2):
            model = load_model(name, directory / manifest.models[name].file, manifest.models[name].runtime, threads)
            feed = {model.inputs[0].name: model.inputs[0].example()}
            for _ in range(10):
                model.run(feed)
            times = []
            for _ in range(100):
                started = time.perf_counter()
                model.run(feed)
                times.append((time.perf_counter() - started) * 1000)
            figures[f"model_{name}_{threads}t_ms"] = round(statistics.median(times), 3)
    return figures


def _table(figures: dict) -> str:
    rows = ["| query | p50 ms | p50 per round | p99 ms | p99/p50 | decode | model | index | http | body KB |",
            "|---|---|---|---|---|---|---|---|---|---|"]
    for label, *_ in QUERIES:
        if f"{label}_p50_ms" in figures:
            rounds = " / ".join(map(str, figures[f"{label}_p50_rounds_ms"]))
            rows.append(f"| {label} | {figures[f'{label}_p50_ms']} | {rounds} | " + " | ".join(str(figures[f"{label}_{k}"]) for k in
                        ("p99_ms", "p99_over_p50", "decode_ms", "model_ms", "index_ms", "http_ms", "body_kb")) + " |")
    return "\n".join(rows)


def main() -> dict:
    """Run the benchmark; return its figures (``{"skipped": reason}`` without ``../shared``)."""
    if not (SHARED / "train.txt").is_file():
        return {"skipped": "../shared/datasets/grocery-store is absent (real photos for catalog and queries)"}
    from edge.app import create_app

    with tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder)
        data = tmp / "var"
        create_app({"DATA_DIR": str(data), "PLUGINS": ["catalog", "visual_search"]}, watch=False).extensions["storefront_edge"].close()
        figures = {"model": _install_bundle(data, tmp)}
        _catalog(data, tmp)
        figures.update(_build_index(data))
        queries = _queries(tmp)
        with gunicorn_node(data, env=ENV, workers=2) as (base, _pid):
            wait_until(f"{base}/readyz", timeout=120, in_a_row=20)  # each worker maps its index on its own
            figures.update(_interleaved(base, queries))
            figures.update(_setting_figures("fixed_1", base, queries["224px"]))  # the default setting, this node
        figures.update(_thread_settings(data, queries["224px"]))
        figures.update(_model_formats(data))
    figures["table"] = _table(figures) + "\n\n" + _threads_table(figures)
    print(figures["table"])
    return figures


# model thread settings side by side: the default (one thread), every core while a request is alone, two always
THREAD_SETTINGS = {"fixed_1": {}, "idle_auto": {"STOREFRONT_EDGE_MODEL_THREADS_IDLE": "auto"},
                   "fixed_2": {"STOREFRONT_EDGE_MODEL_THREADS": "2", "STOREFRONT_EDGE_MODEL_THREADS_IDLE": "2"}}
CONCURRENT_CLIENTS, CONCURRENT_SECONDS = 4, 8.0


def _thread_settings(data: Path, body: bytes) -> dict:
    """:func:`_setting_figures` for every non-default thread setting, each on a node of its own."""
    figures = {}
    for label, env in THREAD_SETTINGS.items():
        if not env:  # the default: measured on the main node
            continue
        with gunicorn_node(data, env={**ENV, **env}, workers=2) as (base, _pid):
            wait_until(f"{base}/readyz", timeout=120, in_a_row=20)
            figures.update(_setting_figures(label, base, body))
    return figures


def _setting_figures(label: str, base: str, body: bytes) -> dict:
    """Sequential p50 and model share, and throughput under 4 concurrent clients, of one node (224 px)."""
    sequential = _measure(base, "seq", body, 200)
    figures = {f"threads_{label}_seq_p50_ms": sequential["seq_p50_ms"], f"threads_{label}_seq_model_ms": sequential["seq_model_ms"]}
    figures.update({f"threads_{label}_c{CONCURRENT_CLIENTS}_{k}": v for k, v in _concurrent(base, body).items()})
    return figures


def _concurrent(base: str, body: bytes) -> dict:
    """Requests/s and p50 with ``CONCURRENT_CLIENTS`` kept-alive clients posting for ``CONCURRENT_SECONDS``."""
    import threading
    from http.client import HTTPConnection
    from urllib.parse import urlsplit

    url, latencies, stop_at = urlsplit(base), [], time.perf_counter() + CONCURRENT_SECONDS

    def client():
        connection, mine = HTTPConnection(url.hostname, url.port, timeout=30), []
        while time.perf_counter() < stop_at:
            mine.append(_post(connection, body, False)[0])
        connection.close()
        latencies.extend(mine)

    threads = [threading.Thread(target=client) for _ in range(CONCURRENT_CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return {"rps": round(len(latencies) / CONCURRENT_SECONDS, 1), "p50_ms": round(statistics.median(latencies), 2)}


def _threads_table(figures: dict) -> str:
    rows = [f"| model threads | sequential p50 ms | model ms | {CONCURRENT_CLIENTS} clients req/s | {CONCURRENT_CLIENTS} clients p50 ms |",
            "|---|---|---|---|---|"]
    for label in THREAD_SETTINGS:
        key = f"threads_{label}"
        if f"{key}_seq_p50_ms" in figures:
            rows.append(f"| {label} | {figures[f'{key}_seq_p50_ms']} | {figures[f'{key}_seq_model_ms']} | "
                        f"{figures[f'{key}_c{CONCURRENT_CLIENTS}_rps']} | {figures[f'{key}_c{CONCURRENT_CLIENTS}_p50_ms']} |")
    return "\n".join(rows)


if __name__ == "__main__":
    print(json.dumps(main(), indent=2))
