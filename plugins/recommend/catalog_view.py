"""What the recommender may show: the local catalog's items, which of them are in stock, their kiosk fields.

An item is shown when it is in the request store's catalog (CDN edge mode keeps one per store; the catalog
holds the active items) with ``in_stock > 0`` and, where ``stock_levels`` has a row for it, ``on_hand > 0``.
The view is an in-memory set and dictionaries, so a request filters its candidates without SQL. It is
reloaded when the catalog's fingerprint (row count, latest ``updated_at``, stock total) changes. With
``refresh_s > 0`` a background thread of the worker checks the fingerprint every ``refresh_s`` seconds and
swaps the new view in when it changed (the fingerprint reads the whole catalog: tens of milliseconds at
100,000 items, which no request waits for); with ``refresh_s = 0`` every request checks it first.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field

import numpy as np

from .content import ContentIndex, image_vectors, text_vector

_FINGERPRINT = ("SELECT (SELECT count(*) FROM catalog_items WHERE store = :store), "
                "(SELECT max(updated_at) FROM catalog_items WHERE store = :store), "
                "(SELECT total(in_stock) FROM catalog_items WHERE store = :store), "
                "(SELECT count(*) || ':' || total(on_hand) FROM stock_levels WHERE store = :store)")
_ROWS = ("SELECT c.sku, c.title, c.price, c.currency, c.category, c.images, c.description, "
         "c.in_stock > 0 AND coalesce(s.on_hand, 1) > 0 FROM catalog_items c "
         "LEFT JOIN stock_levels s ON s.store = c.store AND s.sku = c.sku WHERE c.store = :store")


@dataclass
class CatalogView:
    """The catalog as the recommender sees it."""

    items: dict = field(default_factory=dict)        # sku -> the fields a result shows
    category: dict = field(default_factory=dict)     # sku -> category
    available: set = field(default_factory=set)      # skus that may be shown
    content: ContentIndex | None = None
    fingerprint: tuple | None = None


def _image_url(images: str | None) -> str | None:
    try:
        names = json.loads(images or "[]")
    except ValueError:
        return None
    return f"/v1/catalog/images/{names[0]}" if names else None


def load_view(db, visual_index=None, store: str = "default") -> CatalogView:
    """Read every catalog item of ``store`` (and its content vector) from the local store."""
    view = CatalogView(fingerprint=tuple(db.execute(_FINGERPRINT, {"store": store}).fetchone()))
    skus, texts, categories = [], [], []
    for sku, title, price, currency, category, images, description, ok in db.execute(_ROWS, {"store": store}):
        view.items[sku] = {"title": title, "price": price, "currency": currency, "category": category,
                           "image_url": _image_url(images)}
        view.category[sku] = category
        if ok:
            view.available.add(sku)
        skus.append(sku)
        categories.append(category)
        texts.append(text_vector(title, category, description))
    text = np.vstack(texts) if texts else np.zeros((0, 1), np.float32)
    view.content = ContentIndex(skus, text, image_vectors(visual_index, skus) if skus else None, categories)
    return view


def settle() -> None:
    """Move every object alive now out of the garbage collector's sight (``gc.freeze``), at a store's first
    catalog load and once per bundle switch: a full collection over the worker's long-lived objects took
    150-200 ms at 100,000 items, inside whichever request triggered it. Frozen objects are still freed by
    reference counting when a newer bundle replaces them; the recommender's ``close`` unfreezes them (cycles
    among them are collected again after the plugin stops). A later catalog reload does not call it: a view
    of 100,000 items adds about a dozen objects the collector tracks (its per-item dictionaries hold only
    strings and numbers), and each freeze would also pin, for good, whatever garbage cycles of the rest of
    the process await collection."""
    import gc

    gc.freeze()


class CatalogWatcher:
    """Keeps one store's :class:`CatalogView` current (see the module docstring for when it checks)."""

    def __init__(self, refresh_s: float, store: str = "default"):
        self.refresh_s, self.store = refresh_s, store
        self.view = CatalogView()
        self._images = False
        self._thread = None
        self._stop = None

    def current(self, node, visual_index=None) -> CatalogView:
        """The view: loaded on first use; then kept current by the background thread, or checked now."""
        if self.view.fingerprint is None or self.refresh_s == 0:
            self._check(node.db(), visual_index)
        elif self._thread is None:
            self._start(node)
        self._visual = visual_index
        return self.view

    def _check(self, db, visual_index) -> None:
        fingerprint = tuple(db.execute(_FINGERPRINT, {"store": self.store}).fetchone())
        if fingerprint != self.view.fingerprint or (visual_index is not None) != self._images:
            first = self.view.fingerprint is None
            self.view = load_view(db, visual_index, self.store)
            if first:  # once per store: what was imported and built at start-up (a reload adds nothing to it)
                settle()
            self._images = visual_index is not None

    def _start(self, node) -> None:
        import threading

        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, args=(node, self._stop), daemon=True,
                                        name=f"recs-catalog-{self.store}")
        self._thread.start()

    def _watch(self, node, stop) -> None:
        while not stop.wait(self.refresh_s):
            try:
                self._check(node.db(), getattr(self, "_visual", None))
            except Exception as error:  # a closed store at shutdown, a locked database: try again next time
                if stop.is_set():
                    return
                logging.getLogger(__name__).warning("recommend: catalog check of %s failed: %s", self.store, error)

    def close(self) -> None:
        """Stop the background thread (the worker is shutting down)."""
        if self._stop is not None:
            self._stop.set()
