"""Content vectors of catalog items, for items nobody has viewed yet and SKUs the recommender never saw.

An item's vector joins a hashed bag of words of its title, category and description (``TEXT_DIM``
buckets, the category's words counted twice) and, when the visual search plugin serves an image index,
the mean of the item's photo embeddings; each half is L2-normalised, so the dot product of two vectors
is the mean of their text and image cosines (text alone where a photo is missing).
"""

from __future__ import annotations

import re
import zlib

import numpy as np

TEXT_DIM = 128
_WORD = re.compile(r"[^\W_]+", re.UNICODE)


def text_vector(title: str, category: str | None, description: str | None) -> np.ndarray:
    """The hashed, L2-normalised bag of words of an item's text."""
    vector = np.zeros(TEXT_DIM, dtype=np.float32)
    words = _WORD.findall(f"{title} {category or ''} {category or ''} {description or ''}".lower())
    for word in words:
        vector[zlib.crc32(word.encode()) % TEXT_DIM] += 1.0
    norm = np.linalg.norm(vector)
    return vector / norm if norm else vector


def _unit_rows(matrix: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return np.divide(matrix, norms, out=np.zeros_like(matrix), where=norms > 0)


def image_vectors(visual_index, skus: list[str]) -> np.ndarray | None:
    """Mean photo embedding per SKU from a visual search index (``skus`` and ``vectors``), zero rows where none."""
    if visual_index is None or not len(getattr(visual_index, "skus", ())):
        return None
    position = {sku: i for i, sku in enumerate(skus)}
    sums = np.zeros((len(skus), visual_index.vectors.shape[1]), dtype=np.float32)
    for sku, vector in zip(visual_index.skus, visual_index.vectors):
        if sku in position:
            sums[position[sku]] += vector
    return _unit_rows(sums)


class ContentIndex:
    """Content vectors of the local catalog's items, searched by dot product."""

    def __init__(self, skus: list[str], text: np.ndarray, images: np.ndarray | None = None):
        self.skus = skus
        self.position = {sku: i for i, sku in enumerate(skus)}
        self.matrix = text if images is None else np.hstack([text, images]) / np.sqrt(2)
        self.matrix = self.matrix.astype(np.float32)
        self.with_images = images is not None

    def _rows(self, among: np.ndarray) -> np.ndarray:
        """The sub-matrix of rows ``among``, kept while the same rows are asked for (the cold items)."""
        if getattr(self, "_among", None) is not among:
            self._among, self._sub = among, self.matrix[among]
        return self._sub

    def neighbours(self, sku: str, n: int, among: np.ndarray | None = None) -> tuple[list[str], np.ndarray]:
        """The ``n`` items most like ``sku`` (optionally only rows ``among``), best first."""
        if sku not in self.position or not len(self.skus):
            return [], np.zeros(0, np.float32)
        rows = np.arange(len(self.skus)) if among is None else among
        if not len(rows):
            return [], np.zeros(0, np.float32)
        matrix = self.matrix if among is None else self._rows(among)
        scores = np.einsum("ij,j->i", matrix, self.matrix[self.position[sku]])  # no BLAS threads: 2 workers share the cores
        scores[rows == self.position[sku]] = 0
        n = min(n, int((scores > 0).sum()))
        if n <= 0:
            return [], np.zeros(0, np.float32)
        best = np.argpartition(-scores, n - 1)[:n]
        best = best[np.argsort(-scores[best], kind="stable")]
        return [self.skus[rows[b]] for b in best], scores[best]
