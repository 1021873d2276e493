"""The annoy index on disk and in memory.

One index is four files in ``<data dir>/cache/visual_search/`` sharing a name
``<model>-<bundle version>@<store>-<catalog fingerprint>-f<format>`` (one index per store: a store's
search never sees another store's items, and a store's catalog change rebuilds its index alone): ``.npy`` (every catalog photo's
vector: it picks the photo shown for a SKU and scores small filtered sets), ``.sku.npy`` (one unit
vector per SKU, the normalised mean of its photos' vectors), ``.json`` (photo → SKU and image file,
annoy item → SKU) and ``.ann`` (angular annoy trees over the SKU vectors). Each is written under a
temporary name and renamed; the ``.ann`` comes last, so its presence means the index is complete.
Workers memory-map ``.ann`` and the vectors: the page cache is shared.

Why SKUs and not photos: the shipped model was trained as a cosine classifier whose weights are class
means, and ranking SKUs by the mean of their photos beat ranking them by their nearest photo on the
grocery benchmark (shipped int8 model, 296 held-out photos against 2,640 catalog photos: recall@1
0.855 against 0.838; the raw ImageNet model 0.595 against 0.530).

Exact where small: an index of at most ``exact_items`` SKUs answers by one matrix product over the
SKU vectors, so it never loses a true neighbour; annoy answers only above that. Decision, measured on
the 2-core node (256-d float32, one query, top 20): 0.03 ms at 1,000 SKUs, 0.25 ms at 10,000, 2.3 ms at
20,000 and 11-34 ms from 30,000 on (the matrix no longer fits the cache), against 0.3-1 ms for annoy:
the default threshold is 10,000. ``make bench`` (``index_recall``) reports annoy's recall against exact
search at 1k, 10k and 100k SKUs with the node's settings. Above the threshold the defaults are 60
trees and 60,000 nodes searched per query: on clustered 256-d vectors at 100,000 SKUs, 20 trees with
annoy's default effort found 0.17 of the exact top 10; 20 trees and 40,000 nodes 0.96 (10 ms); 60 trees
and 40,000 nodes 0.987-0.994 depending on the queries (9-14 ms, against 15-34 ms for the exact product,
and a 10-20 s build), so 60,000 nodes for a margin.

Builds are seeded explicitly (``ANNOY_SEED``, not left to the library's default) and single-threaded,
so one catalog always gives byte-identical files (a test compares two builds byte for byte).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

INDEX_FORMAT = 2  # 2: annoy over SKU mean vectors (1: one annoy item per photo)
ANNOY_SEED = 20_240_601  # fixed: the same catalog builds the same trees
SUFFIXES = (".ann", ".json", ".npy", ".sku.npy")


def index_name(model: str, bundle_version: str, catalog_fingerprint: str, store: str = "default") -> str:
    """The file stem of the index for that model, bundle, store and catalog."""
    return f"{model}-{bundle_version}@{store}-{catalog_fingerprint}-f{INDEX_FORMAT}"


def store_of(stem: str) -> str:
    """The store an index file stem belongs to (a stem from before stores: ``default``)."""
    _, at, rest = stem.partition("@")
    return rest.rsplit("-", 2)[0] if at else "default"


def _replace_via_temp(target: Path, write) -> None:
    temp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    write(temp)
    os.replace(temp, target)


def sku_means(vectors: np.ndarray, skus: list[str]) -> tuple[list[str], np.ndarray]:
    """SKUs in first-seen order and one unit vector each: the normalised mean of its photos' vectors.

    Sums go through ``np.bincount`` per dimension (measured on 100,000 x 256: 0.45 s against 2.5 s
    for ``np.add.at``); a catalog with one photo per SKU needs no sums at all.
    """
    order = list(dict.fromkeys(skus))
    if len(order) == len(skus):
        sums = vectors.astype(np.float64)
    else:
        position = {sku: i for i, sku in enumerate(order)}
        groups = np.fromiter((position[s] for s in skus), np.int64, len(skus))
        sums = np.stack([np.bincount(groups, weights=column, minlength=len(order)) for column in vectors.T], axis=1)
    return order, (sums / np.maximum(np.linalg.norm(sums, axis=1, keepdims=True), 1e-12)).astype(np.float32)


def _save_npy(array: np.ndarray):
    def write(path):
        with open(path, "wb") as handle:
            np.save(handle, array)
    return write


def write_index(folder: Path, name: str, vectors: np.ndarray, skus: list[str], images: list[str], trees: int) -> Path:
    """Write the files of an index atomically (photo vectors in, annoy over SKU means); return the ``.ann`` path."""
    from annoy import AnnoyIndex

    folder.mkdir(parents=True, exist_ok=True)
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    order, means = sku_means(vectors, skus)
    annoy = AnnoyIndex(int(vectors.shape[1]), "angular")
    annoy.set_seed(ANNOY_SEED)
    for item, vector in enumerate(means):
        annoy.add_item(item, vector)
    annoy.build(trees, n_jobs=1)
    _replace_via_temp(folder / f"{name}.npy", _save_npy(vectors))
    _replace_via_temp(folder / f"{name}.sku.npy", _save_npy(means))
    meta = {"format": INDEX_FORMAT, "dims": int(vectors.shape[1]), "items": len(skus), "trees": trees,
            "skus": skus, "images": images, "sku_order": order}
    _replace_via_temp(folder / f"{name}.json", lambda p: p.write_text(json.dumps(meta)))
    _replace_via_temp(folder / f"{name}.ann", lambda p: annoy.save(str(p)))
    annoy.unload()
    return folder / f"{name}.ann"


@dataclass
class SearchIndex:
    """A loaded index and the bundle whose model made its vectors (queries use that same model)."""

    name: str
    bundle: object
    model_name: str
    recipe: object
    annoy: object
    vectors: np.ndarray          # one row per catalog photo
    skus: list[str]              # the SKU of each photo
    images: list[str]            # the image file of each photo
    sku_order: list[str]         # the SKU of each annoy item (row of ``means``)
    means: np.ndarray            # one unit vector per SKU
    exact_items: int = 10_000    # indexes with at most this many SKUs are searched exactly
    _photos: dict = field(default_factory=dict, repr=False)   # SKU -> its photo rows
    _rows: dict = field(default_factory=dict, repr=False)     # SKU -> its row in ``means``

    def __post_init__(self):
        # built once when the index is loaded (in the background poller), never on a request
        for row, owner in enumerate(self.skus):
            self._photos.setdefault(owner, []).append(row)
        self._rows = {sku: row for row, sku in enumerate(self.sku_order)}

    @property
    def model(self):
        """The model that embedded the catalog (of ``bundle``, which may no longer be the active one)."""
        return self.bundle.model(self.model_name)

    @property
    def searched_exactly(self) -> bool:
        """Whether ``nearest`` answers by a matrix product (small catalogs) rather than through annoy."""
        return len(self.sku_order) <= self.exact_items

    def nearest(self, vector: np.ndarray, n: int, search_k: int = -1) -> list[tuple[str, float]]:
        """Up to ``n`` nearest SKUs as ``(sku, cosine similarity to the SKU's mean vector)``, best first."""
        if not self.sku_order:
            return []
        if self.searched_exactly:
            return self.exact_top(vector, n)
        return self.approximate(vector, n, search_k)

    def exact_top(self, vector: np.ndarray, n: int) -> list[tuple[str, float]]:
        """The ``n`` SKUs whose mean vectors are nearest, by one matrix product (ties by SKU order)."""
        scores = self.means @ np.asarray(vector, np.float32)
        n = min(n, len(scores))
        top = np.argpartition(-scores, n - 1)[:n] if n < len(scores) else np.arange(len(scores))
        top = top[np.lexsort((top, -scores[top]))]
        return [(self.sku_order[i], float(scores[i])) for i in top]

    def approximate(self, vector: np.ndarray, n: int, search_k: int = -1) -> list[tuple[str, float]]:
        """Up to ``n`` SKUs through the annoy trees (``search_k`` nodes inspected; -1: annoy's default)."""
        if not self.sku_order:
            return []
        items, distances = self.annoy.get_nns_by_vector(vector, min(n, len(self.sku_order)), search_k, include_distances=True)
        return [(self.sku_order[i], 1.0 - d * d / 2.0) for i, d in zip(items, distances)]

    def photos_of(self, sku: str) -> list[int]:
        """The rows (photos) of one SKU."""
        return self._photos.get(sku, [])

    def best_images(self, vector: np.ndarray, skus) -> dict[str, str]:
        """``{sku: image file of its photo nearest to vector}`` for the known ``skus``, scored in one product."""
        groups = [(sku, self.photos_of(sku)) for sku in dict.fromkeys(skus)]
        groups = [(sku, rows) for sku, rows in groups if rows]
        if not groups:
            return {}
        rows = np.fromiter((row for _, photos in groups for row in photos), np.intp)
        scores = self.vectors[rows] @ np.asarray(vector, np.float32)
        best, start = {}, 0
        for sku, photos in groups:
            best[sku] = self.images[photos[int(np.argmax(scores[start:start + len(photos)]))]]
            start += len(photos)
        return best

    def exact(self, vector: np.ndarray, skus) -> list[tuple[str, float]]:
        """Exact cosine similarity of those SKUs' mean vectors, best first (unknown SKUs skipped)."""
        known = [sku for sku in dict.fromkeys(skus) if sku in self._rows]
        if not known:
            return []
        scores = self.means[np.asarray([self._rows[s] for s in known])] @ np.asarray(vector, np.float32)
        return [(known[i], float(scores[i])) for i in np.argsort(-scores)]


def load_index(folder: Path, name: str, bundle, model_name: str, recipe, exact_items: int = 10_000) -> SearchIndex:
    """Memory-map a complete index (``FileNotFoundError`` while it is not there); ``exact_items``: see the module."""
    from annoy import AnnoyIndex

    ann = folder / f"{name}.ann"
    if not ann.is_file():
        raise FileNotFoundError(ann)
    meta = json.loads((folder / f"{name}.json").read_text())
    if meta.get("format") != INDEX_FORMAT:
        raise ValueError(f"index {name} has format {meta.get('format', 1)}, this node reads {INDEX_FORMAT}")
    empty = np.zeros((0, meta["dims"]), np.float32)
    vectors = np.load(folder / f"{name}.npy", mmap_mode="r") if meta["items"] else empty
    means = np.load(folder / f"{name}.sku.npy", mmap_mode="r") if meta["items"] else empty
    annoy = AnnoyIndex(meta["dims"], "angular")
    annoy.load(str(ann), prefault=False)
    return SearchIndex(name, bundle, model_name, recipe, annoy, vectors, meta["skus"], meta["images"], meta["sku_order"], means,
                       exact_items)


def prune(folder: Path, keep: int, protect: set[str], store: str | None = None) -> None:
    """Remove all but the newest ``keep`` indexes (of ``store``, or of any store), never those named in ``protect``."""
    stems = [p.stem for p in folder.glob("*.ann") if store is None or store_of(p.stem) == store]
    stems = sorted(stems, key=lambda s: (folder / f"{s}.ann").stat().st_mtime, reverse=True)
    for stem in stems[keep:]:
        if stem not in protect:
            for suffix in SUFFIXES:
                (folder / f"{stem}{suffix}").unlink(missing_ok=True)
