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
    """Content vectors of the local catalog's items, searched by dot product within the item's category.

    A query looks only at the rows of its SKU's category (items without one form a group of their own), so
    its cost is the category's size, not the catalog's; its answer is kept per SKU (at most ``cache_size``
    SKUs, least recently used dropped), so a product on screen again costs a dictionary look-up. A new
    catalog is a new index (the view is rebuilt on change), which starts with an empty cache.
    """

    def __init__(self, skus: list[str], text: np.ndarray, images: np.ndarray | None = None,
                 categories: list | None = None, cache_size: int = 20_000):
        from collections import OrderedDict

        self.skus = skus
        self.position = {sku: i for i, sku in enumerate(skus)}
        self.matrix = text if images is None else np.hstack([text, images]) / np.sqrt(2)
        self.matrix = self.matrix.astype(np.float32)
        self.with_images = images is not None
        groups: dict = {}
        for row, category in enumerate(categories if categories is not None else [None] * len(skus)):
            groups.setdefault(category, []).append(row)
        self.group_of = {c: np.array(rows, dtype=np.int64) for c, rows in groups.items()}
        self.category = list(categories) if categories is not None else [None] * len(skus)
        self.cache: OrderedDict = OrderedDict()
        self.cache_size = cache_size

    def neighbours(self, sku: str, n: int, among: np.ndarray | None = None, among_key=None) -> tuple[list[str], np.ndarray]:
        """The ``n`` items of ``sku``'s category most like it (optionally only rows ``among``, a boolean mask
        over the rows that ``among_key`` names in the cache), best first."""
        if sku not in self.position:
            return [], np.zeros(0, np.float32)
        key = (sku, n, None if among is None else among_key)
        if key in self.cache:
            self.cache.move_to_end(key)
            return self.cache[key]
        answer = self._search(self.position[sku], n, among)
        self.cache[key] = answer
        if len(self.cache) > self.cache_size:
            self.cache.popitem(last=False)
        return answer

    def _search(self, row: int, n: int, among: np.ndarray | None) -> tuple[list[str], np.ndarray]:
        rows = self.group_of[self.category[row]]
        rows = rows[rows != row]
        if among is not None:
            rows = rows[among[rows]]
        if not len(rows):
            return [], np.zeros(0, np.float32)
        scores = np.einsum("ij,j->i", self.matrix[rows], self.matrix[row])  # no BLAS threads: 2 workers share the cores
        n = min(n, int((scores > 0).sum()))
        if n <= 0:
            return [], np.zeros(0, np.float32)
        best = np.argpartition(-scores, n - 1)[:n]
        best = best[np.argsort(-scores[best], kind="stable")]
        return [self.skus[rows[b]] for b in best], scores[best]
