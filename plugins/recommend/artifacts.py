"""The recommender's files in a ``storefront-recs`` bundle, written by training and read by the node.

- ``recs_tables.npz``: the numeric tables (popularity, counts, co-visitation, session-kNN, item vectors);
- ``recs.json``: the item SKUs (the index order of every table), the scoring parameters with the tuned
  blend weights, per-store popularity and the training summary;
- ``recs_items.ann``: an annoy index (dot product) of the item vectors, for neighbours;
- ``recs_sequence.onnx``: the sequential model (a bundle model, run by the node's model runtime);
- ``recs_rerank.onnx``: the learned blend over the scorers' candidates (when training fitted one).
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np

from .scoring import CSR, Params, RecTables

TABLES, META, ANNOY = "recs_tables.npz", "recs.json", "recs_items.ann"
MODEL_NAME, MODEL_FILE = "recs_sequence", "recs_sequence.onnx"
RERANK_NAME, RERANK_FILE = "recs_rerank", "recs_rerank.onnx"
CSR_FIELDS = ("covisit", "sessions", "item_sessions")


def save_tables(t: RecTables, directory: Path, summary: dict | None = None) -> None:
    """Write ``recs_tables.npz`` and ``recs.json`` into ``directory``."""
    directory = Path(directory)
    arrays = {"popularity": t.popularity, "counts": t.counts, "session_recency": t.session_recency}
    for name in CSR_FIELDS:
        csr = getattr(t, name)
        arrays.update({f"{name}_indptr": csr.indptr, f"{name}_indices": csr.indices, f"{name}_weights": csr.weights})
    if t.vectors is not None:
        arrays["vectors"] = t.vectors.astype(np.float32)
    np.savez_compressed(directory / TABLES, **arrays)
    stores = {s: [np.asarray(i).tolist(), np.asarray(v).round(4).tolist()] for s, (i, v) in t.store_popularity.items()}
    meta = {"format": 1, "items": t.items, "params": dataclasses.asdict(t.params), "store_popularity": stores,
            "summary": summary or {}}
    (directory / META).write_text(json.dumps(meta))


def load_tables(directory: Path) -> tuple[RecTables, dict]:
    """The tables written by :func:`save_tables`, and the training summary."""
    directory = Path(directory)
    meta = json.loads((directory / META).read_text())
    with np.load(directory / TABLES, allow_pickle=False) as data:
        arrays = {k: data[k] for k in data.files}
    csrs = {name: CSR(arrays[f"{name}_indptr"], arrays[f"{name}_indices"], arrays[f"{name}_weights"]) for name in CSR_FIELDS}
    stores = {s: (np.array(i, dtype=np.int64), np.array(v, dtype=np.float32)) for s, (i, v) in meta["store_popularity"].items()}
    tables = RecTables(items=meta["items"], popularity=arrays["popularity"], counts=arrays["counts"],
                       session_recency=arrays["session_recency"], vectors=arrays.get("vectors"),
                       store_popularity=stores, params=Params(**meta["params"]), **csrs)
    return tables, meta.get("summary", {})


def build_annoy(vectors: np.ndarray, path: Path, trees: int = 20) -> None:
    """Write an annoy index (dot product) of the item vectors."""
    from annoy import AnnoyIndex

    index = AnnoyIndex(vectors.shape[1], "dot")
    for number, vector in enumerate(vectors):
        index.add_item(number, vector.tolist())
    index.build(trees, n_jobs=1)
    index.save(str(path))


def load_annoy(path: Path, dim: int):
    """The annoy index at ``path`` (memory-mapped), or ``None`` when the bundle has none."""
    from annoy import AnnoyIndex

    if not Path(path).is_file():
        return None
    index = AnnoyIndex(dim, "dot")
    index.load(str(path))
    return index
