"""The image index against exact search: recall, latency and build time at 1k, 10k and 100k SKUs.

The SKU vectors are synthetic but shaped like product embeddings: 256-d unit vectors drawn around one
centre per "category" (50 SKUs each), spread so that a SKU's vector has a cosine of about 0.6 to its
category's centre; queries are fresh draws from the same categories (not copies of catalog items), so
their neighbours are as close as a photo's are. For each size the index is written by the node's own
``write_index`` with the node's default settings (``VisualSearchConfig``: trees, search_k, the
``FIRST_FETCH * k`` SKUs an unfiltered query asks for) and read back with ``load_index``; recall@10 is
the share of the exact top 10 (one matrix product) that annoy returns. Beside it: what the node serves
at that size (exact below ``exact_items``), and the median latency of both paths.

Run: ``python -m benchmarks index_recall``.
"""
from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

SIZES = (1_000, 10_000, 100_000)
QUERIES, K, DIMS, PER_CATEGORY = 200, 10, 256, 50


def _unit(a: np.ndarray) -> np.ndarray:
    return (a / np.linalg.norm(a, axis=1, keepdims=True)).astype(np.float32)


def clustered(rng, centres: np.ndarray, count: int, spread: float = 1.3) -> np.ndarray:
    """``count`` unit vectors around random ``centres`` (cosine to the centre about 0.6 at 1.3)."""
    picks = rng.integers(0, len(centres), count)
    return _unit(centres[picks] + spread * rng.standard_normal((count, centres.shape[1])) / np.sqrt(centres.shape[1]))


def _median_ms(fn, queries) -> float:
    times = []
    for query in queries:
        start = time.perf_counter()
        fn(query)
        times.append((time.perf_counter() - start) * 1000)
    return round(statistics.median(times), 3)


def measure_size(size: int, folder: Path, config) -> dict:
    """Build the node's index over ``size`` SKUs and compare annoy with exact search on fresh queries."""
    from plugins.visual_search import index_files
    from plugins.visual_search.search import FIRST_FETCH

    rng = np.random.default_rng(size)
    centres = _unit(rng.standard_normal((max(size // PER_CATEGORY, 1), DIMS)))
    vectors, queries = clustered(rng, centres, size), clustered(rng, centres, QUERIES)
    skus = [f"S{n}" for n in range(size)]
    started = time.perf_counter()
    index_files.write_index(folder, f"r{size}", vectors, skus, skus, config.trees)
    build_s = time.perf_counter() - started
    index = index_files.load_index(folder, f"r{size}", None, "m", None, config.exact_items)
    asked = FIRST_FETCH * K
    hits = [len({s for s, _ in index.approximate(q, asked, config.search_k)[:K]} & {s for s, _ in index.exact_top(q, K)})
            for q in queries]
    return {"recall@10": round(sum(hits) / (K * len(queries)), 4), "build_s": round(build_s, 2),
            "annoy_ms": _median_ms(lambda q: index.approximate(q, asked, config.search_k), queries),
            "exact_ms": _median_ms(lambda q: index.exact_top(q, asked), queries),
            "node_serves": "exact" if index.searched_exactly else "annoy"}


def main() -> dict:
    """Figures per size, with the settings they were measured with."""
    from plugins.visual_search.config import VisualSearchConfig

    config = VisualSearchConfig()
    figures = {"settings": {"trees": config.trees, "search_k": config.search_k, "exact_items": config.exact_items}}
    with tempfile.TemporaryDirectory() as tmp:
        for size in SIZES:
            figures[f"skus_{size}"] = measure_size(size, Path(tmp), config)
            print(size, figures[f"skus_{size}"], flush=True)
    figures["min_annoy_recall@10"] = min(v["recall@10"] for k, v in figures.items() if k.startswith("skus_"))
    return figures


if __name__ == "__main__":
    print(main())
