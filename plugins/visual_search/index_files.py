"""The annoy index on disk and in memory.

One index is three files in ``<data dir>/cache/visual_search/`` sharing a name
``<model>-<bundle version>-<catalog fingerprint>``: ``.npy`` (the raw vectors, for exact scoring of
small filtered sets), ``.json`` (item → SKU and image) and ``.ann`` (angular annoy trees). Each is
written under a temporary name and renamed; the ``.ann`` comes last, so its presence means the
index is complete. Workers memory-map both ``.ann`` and ``.npy``: the page cache is shared.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np


def index_name(model: str, bundle_version: str, catalog_fingerprint: str) -> str:
    """The file stem of the index for that model, bundle and catalog."""
    return f"{model}-{bundle_version}-{catalog_fingerprint}"


def _replace_via_temp(target: Path, write) -> None:
    temp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    write(temp)
    os.replace(temp, target)


def write_index(folder: Path, name: str, vectors: np.ndarray, skus: list[str], images: list[str], trees: int) -> Path:
    """Write the three files of an index atomically; return the ``.ann`` path."""
    from annoy import AnnoyIndex

    folder.mkdir(parents=True, exist_ok=True)
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    annoy = AnnoyIndex(int(vectors.shape[1]), "angular")
    for item, vector in enumerate(vectors):
        annoy.add_item(item, vector)
    annoy.build(trees, n_jobs=1)

    def save_npy(path):
        with open(path, "wb") as handle:
            np.save(handle, vectors)

    _replace_via_temp(folder / f"{name}.npy", save_npy)
    meta = {"dims": int(vectors.shape[1]), "items": len(skus), "trees": trees, "skus": skus, "images": images}
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
    vectors: np.ndarray
    skus: list[str]
    images: list[str]
    _by_sku: dict | None = field(default=None, repr=False)

    @property
    def model(self):
        """The model that embedded the catalog (of ``bundle``, which may no longer be the active one)."""
        return self.bundle.model(self.model_name)

    def nearest(self, vector: np.ndarray, n: int, search_k: int = -1) -> list[tuple[int, float]]:
        """Up to ``n`` nearest items as ``(item, cosine similarity)``, best first."""
        if not self.skus:
            return []
        items, distances = self.annoy.get_nns_by_vector(vector, min(n, len(self.skus)), search_k, include_distances=True)
        return [(i, 1.0 - d * d / 2.0) for i, d in zip(items, distances)]

    def items_of(self, skus) -> list[int]:
        """Every item (image) of those SKUs."""
        if self._by_sku is None:
            by_sku: dict[str, list[int]] = {}
            for item, sku in enumerate(self.skus):
                by_sku.setdefault(sku, []).append(item)
            self._by_sku = by_sku
        return [i for sku in skus for i in self._by_sku.get(sku, ())]

    def exact(self, vector: np.ndarray, items: list[int]) -> list[tuple[int, float]]:
        """Exact cosine similarity of ``items``, best first."""
        if not items:
            return []
        scores = self.vectors[np.asarray(items)] @ np.asarray(vector, np.float32)
        order = np.argsort(-scores)
        return [(items[i], float(scores[i])) for i in order]


def load_index(folder: Path, name: str, bundle, model_name: str, recipe) -> SearchIndex:
    """Memory-map a complete index (``FileNotFoundError`` while it is not there)."""
    from annoy import AnnoyIndex

    ann = folder / f"{name}.ann"
    if not ann.is_file():
        raise FileNotFoundError(ann)
    meta = json.loads((folder / f"{name}.json").read_text())
    vectors = np.load(folder / f"{name}.npy", mmap_mode="r") if meta["items"] else np.zeros((0, meta["dims"]), np.float32)
    annoy = AnnoyIndex(meta["dims"], "angular")
    annoy.load(str(ann), prefault=False)
    return SearchIndex(name, bundle, model_name, recipe, annoy, vectors, meta["skus"], meta["images"])


def prune(folder: Path, keep: int, protect: set[str]) -> None:
    """Remove all but the newest ``keep`` indexes (and never those named in ``protect``)."""
    stems = sorted((p.stem for p in folder.glob("*.ann")), key=lambda s: (folder / f"{s}.ann").stat().st_mtime, reverse=True)
    for stem in stems[keep:]:
        if stem not in protect:
            for suffix in (".ann", ".json", ".npy"):
                (folder / f"{stem}{suffix}").unlink(missing_ok=True)
