"""A learned map from studio-shot embeddings to the phone-photo embedding space, and its honest check.

The map is a ridge regression towards the identity, fitted on pairs (each augmented view of a SKU's
studio shot → the mean of that SKU's phone-photo embeddings), applied to the studio vectors of a
catalog at index time: ``x' = normalise((x - studio_mean) @ weight + phone_mean)``, with
``weight = I + A`` and ``A`` the ridge solution with penalty ``strength`` (a large ``strength`` leaves
only the mean shift).

Fitted on the very SKUs it is scored on, such a map can learn each SKU's phone mean from its studio
shot, a per-SKU lookup that says nothing of the SKUs a retailer adds next week. So the strength is
chosen, and the map judged, on SKUs it was **not** fitted on (:func:`held_out_sku_recall`: the SKUs in
folds, the map fitted on the others, the held-out SKUs' phone photos ranked against every SKU's mapped
studio shot), and ``None`` (no map) is one of the choices (:func:`choose_strength`).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .twodomain import unit

STRENGTHS = (0.1, 0.3, 1.0, 3.0, 10.0, 30.0, 100.0, 300.0, 1000.0)


def sku_means(vectors: np.ndarray, labels: np.ndarray, classes: int) -> np.ndarray:
    """``[classes, D]``: the normalised mean of each SKU's normalised vectors (zero for a SKU without any)."""
    means = np.zeros((classes, vectors.shape[1]), np.float64)
    np.add.at(means, labels, unit(vectors))
    return unit(means)


@dataclass(frozen=True)
class DomainMap:
    """An affine map of studio vectors into the phone-photo space (see the module docstring)."""

    weight: np.ndarray
    studio_mean: np.ndarray
    phone_mean: np.ndarray

    def apply(self, vectors: np.ndarray) -> np.ndarray:
        """Mapped, normalised vectors ``[N, D]`` (float32)."""
        return unit((unit(vectors) - self.studio_mean) @ self.weight + self.phone_mean).astype(np.float32)


def fit_domain_map(views: np.ndarray, labels: np.ndarray, phone_means: np.ndarray, strength: float) -> DomainMap:
    """Ridge towards the identity from studio views ``[N, V, D]`` (or ``[N, D]``) of SKUs ``labels`` to
    their rows of ``phone_means``."""
    views = views if views.ndim == 3 else views[:, None]
    x = unit(views.reshape(-1, views.shape[-1])).astype(np.float64)
    y = phone_means[np.repeat(labels, views.shape[1])]
    mx, my = x.mean(axis=0), y.mean(axis=0)
    xc, yc = x - mx, y - my
    dim = x.shape[1]
    residual = np.linalg.solve(xc.T @ xc + strength * np.eye(dim), xc.T @ (yc - xc))
    return DomainMap(np.eye(dim) + residual, mx, my)


def map_catalog(views: np.ndarray, mapping: DomainMap | None) -> np.ndarray:
    """The catalog vector of each studio shot: the mean of its views ``[N, V, D]``, mapped when a map is given."""
    mean = unit(unit(views).mean(axis=1)) if views.ndim == 3 else unit(views)
    return mean if mapping is None else mapping.apply(mean)


def sku_folds(skus: np.ndarray, folds: int, seed: int) -> list[np.ndarray]:
    """The SKUs shuffled (seeded) and cut into ``folds`` groups."""
    return np.array_split(np.random.default_rng(seed).permutation(skus), folds)


def held_out_sku_recall(views, view_labels, photos, photo_labels, queries, query_labels, strength,
                        folds: int = 5, seed: int = 0) -> float:
    """Mean recall@1 on SKUs the map was not fitted on: for each fold of SKUs, the map is fitted on the
    other SKUs (targets: their ``photos``), every studio shot is mapped, and the fold's ``queries`` are
    ranked against all SKUs' mapped shots. ``strength=None``: no map (the same queries, for comparison)."""
    classes = int(max(view_labels.max(), photo_labels.max(), query_labels.max())) + 1
    targets = sku_means(photos, photo_labels, classes)
    found = []
    for fold in sku_folds(np.unique(view_labels), folds, seed):
        fitted = ~np.isin(view_labels, fold)
        mapping = None if strength is None else fit_domain_map(views[fitted], view_labels[fitted], targets, strength)
        catalog = map_catalog(views, mapping)
        rows = np.isin(query_labels, fold)
        best = view_labels[np.argmax(unit(queries[rows]) @ catalog.T, axis=1)]
        found.append(float((best == query_labels[rows]).mean()))
    return float(np.mean(found))


def choose_strength(views, view_labels, photos, photo_labels, queries, query_labels,
                    grid=STRENGTHS) -> tuple[float | None, dict]:
    """The strength (or ``None``, no map) with the best :func:`held_out_sku_recall`; ties go to no map,
    then to the stronger penalty. Returns ``(choice, {str(strength): recall@1})``."""
    table = {str(s): round(held_out_sku_recall(views, view_labels, photos, photo_labels, queries,
                                               query_labels, s), 4) for s in (None, *grid)}
    order = [None, *sorted(grid, reverse=True)]
    best = max(order, key=lambda s: (table[str(s)], -order.index(s)))
    return best, table
