"""Embedding images with the bundle's model, and a cache of catalog vectors by file content.

The cache is a SQLite file in the plugin's cache folder keyed by (bundle version + model, blake2b of
the image bytes): rebuilding after a catalog change embeds only new or changed images.
"""

from __future__ import annotations

import hashlib
import logging
import sqlite3
from pathlib import Path

import numpy as np

from .imaging import Preprocess, decode, to_input

log = logging.getLogger(__name__)


def output_name(model) -> str:
    """The model's embedding output: ``embedding`` where present, else its first output."""
    names = [t.name for t in model.outputs]
    return "embedding" if "embedding" in names else names[0]


def embed(model, batch: np.ndarray) -> np.ndarray:
    """Run the model on a preprocessed batch; return L2-normalised float32 vectors ``[N, D]``."""
    vectors = np.asarray(model.run({model.inputs[0].name: batch})[output_name(model)], dtype=np.float32)
    vectors = vectors.reshape(len(batch), -1)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.maximum(norms, 1e-12)


def batch_limit(model, wanted: int) -> int:
    """``wanted``, or the model's fixed batch size where its first input dimension is fixed."""
    first = model.inputs[0].shape[0] if model.inputs[0].shape else None
    return wanted if first is None else int(first)


class EmbeddingCache:
    """Vectors keyed by model key and image digest, in one SQLite file (one writer: the elected builder)."""

    def __init__(self, path: Path):
        self.conn = sqlite3.connect(str(path), timeout=30)
        self.conn.execute("create table if not exists vectors (model text, digest text, vector blob, primary key (model, digest))")

    def get(self, model_key: str, digests: list[str]) -> dict[str, np.ndarray]:
        """Cached vectors for those digests."""
        found = {}
        for start in range(0, len(digests), 500):
            chunk = digests[start:start + 500]
            marks = ",".join("?" * len(chunk))
            rows = self.conn.execute(f"select digest, vector from vectors where model = ? and digest in ({marks})", [model_key, *chunk])
            found.update({d: np.frombuffer(v, dtype=np.float32) for d, v in rows})
        return found

    def put(self, model_key: str, items: dict[str, np.ndarray]) -> None:
        """Store vectors (one transaction)."""
        with self.conn:
            self.conn.executemany("insert or replace into vectors values (?, ?, ?)",
                                  [(model_key, d, np.asarray(v, np.float32).tobytes()) for d, v in items.items()])

    def close(self) -> None:
        self.conn.close()


def _prepare(path: Path, recipe: Preprocess, max_pixels: int) -> np.ndarray | None:
    try:
        return to_input(decode(path.read_bytes(), max_pixels, recipe.resize), recipe)[0]
    except Exception as exc:  # an unreadable catalog image leaves that image out, not the index
        log.warning("catalog image %s left out of the visual index: %s", path.name, exc)
        return None


def embed_files(model, recipe: Preprocess, paths: list[Path], batch_size: int, max_pixels: int) -> dict[int, np.ndarray]:
    """Embed image files in batches; map position in ``paths`` to its vector (unreadable files are absent)."""
    size, vectors, pending = batch_limit(model, batch_size), {}, []
    for position, path in enumerate(paths):
        pixels = _prepare(path, recipe, max_pixels)
        if pixels is not None:
            pending.append((position, pixels))
        if pending and (len(pending) == size or position == len(paths) - 1):
            batch = embed(model, np.stack([p for _, p in pending]))
            vectors.update({pos: vec for (pos, _), vec in zip(pending, batch)})
            pending = []
    return vectors


def digest_file(path: Path) -> str | None:
    """blake2b (16 bytes) of a file's content; ``None`` when it cannot be read."""
    try:
        return hashlib.blake2b(path.read_bytes(), digest_size=16).hexdigest()
    except OSError:
        return None
