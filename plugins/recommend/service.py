"""One worker's recommender: the active ``storefront-recs`` tables, the catalog view and the live events.

``recommend`` builds the session (its live items, the posted recent SKUs, then the anchor SKU), asks
every scorer for candidates in one item space (the bundle's items first, then catalog and live SKUs it
never saw), blends them with the bundle's tuned weights, applies the long-tail boost, then the serving
rules: only shown items (in the local catalog and in stock), nothing in the session's cart or order
nor the anchor itself, at most ``max_per_category`` per category. Cold start: without a session or a
known SKU the blend leans on what is popular in this store now (live events, else the bundle's figures);
an SKU the bundle never saw gets its content neighbours (catalog text and photos); nothing unknown is an
error. Without a bundle the node still serves live popularity and content neighbours.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

import numpy as np

from . import artifacts, rerank, scoring
from .catalog_view import CatalogView, CatalogWatcher, settle
from .live import LiveEvents

SIMILAR_CACHE = 50_000


@dataclass
class Loaded:
    """The tables of one active bundle (or none)."""

    key: tuple | None = None
    tables: scoring.RecTables | None = None
    annoy: object = None
    summary: dict | None = None
    similar: dict = field(default_factory=dict)  # item -> its annoy neighbours (at most SIMILAR_CACHE items)


class ItemSpace:
    """Indices for every SKU the worker scores: the bundle's items, then others as they turn up."""

    def __init__(self, items: list[str]):
        self.skus = list(items)
        self.index = {sku: i for i, sku in enumerate(self.skus)}
        self.known = len(self.skus)

    def of(self, sku: str) -> int:
        if sku not in self.index:
            self.index[sku] = len(self.skus)
            self.skus.append(sku)
        return self.index[sku]


class Recommender:
    """Per-worker recommendation state, refreshed at the start of each request."""

    def __init__(self, config):
        self.config = config
        self.loaded = Loaded()
        self.catalogs: dict[str, CatalogWatcher] = {}  # one per store (CDN edge mode)
        self._views: dict[str, CatalogView] = {}
        self.live = self._new_live(None)
        self.space = ItemSpace([])
        self._lock = threading.Lock()

    def _new_live(self, since):
        """Live events folded from scratch, counting only those after ``since`` (the bundle's training data)."""
        return LiveEvents(max_events=self.config.fold_max_events, max_sessions=self.config.max_sessions, since=since)

    # -- refreshing -------------------------------------------------------------------------
    def refresh(self, node) -> None:
        """Follow the active bundle, the catalog and the events stored since the last request."""
        with self._lock:
            self._follow_bundle(node)
            self.live.catch_up(node.db())
            store = request_store()
            catalog = self.catalogs.get(store)
            if catalog is None:
                catalog = self.catalogs[store] = CatalogWatcher(self.config.catalog_refresh_s, store)
            self._views[store] = catalog.current(node, _visual_index(node, store))

    def close(self) -> None:
        """Stop the catalog watchers' threads and hand the frozen objects back to the garbage collector."""
        import gc

        for catalog in self.catalogs.values():
            catalog.close()
        gc.unfreeze()

    @property
    def view(self) -> CatalogView:
        """The catalog view of the request's store (refreshed by :meth:`refresh`)."""
        return self._views.get(request_store()) or CatalogView()

    def _follow_bundle(self, node) -> None:
        bundle = node.bundle_for(artifacts.MODEL_NAME)
        key = (bundle.name, bundle.version, str(bundle.directory)) if bundle is not None else None
        if key == self.loaded.key:
            return
        if bundle is None:
            self.loaded, self.space = Loaded(), ItemSpace([])
            self.live = self._new_live(None)
            return
        tables, summary = artifacts.load_tables(bundle.directory)
        self.live = self._new_live(summary.get("trained_until"))
        dim = tables.vectors.shape[1] if tables.vectors is not None else 0
        annoy = artifacts.load_annoy(bundle.directory / artifacts.ANNOY, dim) if dim else None
        self.loaded = Loaded(key, tables, annoy, summary)
        self.space = ItemSpace(tables.items)
        settle()

    # -- answering --------------------------------------------------------------------------
    def recommend(self, node, *, session_id=None, recent=(), sku=None, k=10, origin=None) -> dict:
        """The top ``k`` results for a session (and/or recent SKUs, and/or an anchor SKU)."""
        self.refresh(node)
        store = request_store()
        live = self.live.session(session_id, store)
        history = [s for s in [*live.items, *recent, *([sku] if sku else [])] if s]
        excluded = set(live.bought) | ({sku} if sku else set())
        with self._lock:
            indices, scores, reasons = self._blend(history, sku, store, origin, node)
            results = self._apply_rules(indices, scores, reasons, excluded, k)
        return {"session_id": session_id, "sku": sku, "k": k, "results": results,
                "bundle": self.loaded.key[1] if self.loaded.key else None}

    def _blend(self, history, anchor, store, origin, node):
        tables, space = self.loaded.tables, self.space
        session = [space.index[s] for s in history if s in space.index and space.index[s] < space.known]
        parts = {"popular_live": self._live_popular(store)}
        origin = store if store != "default" else origin  # the bundle's popularity per store (or per node)
        weights = dict(tables.params.weights) if tables else {}
        weights["popular_live"] = weights.get("popular", 0.05) or 0.05
        if tables is not None:
            parts.update(self._trained_parts(tables, session, store, origin, node, weights))
        parts["covisit_live"] = self._live_part(history, store)
        weights["covisit_live"] = max(weights.get("covisit", 0.0), self.config.live_weight)
        if history and (anchor is None or anchor not in space.index or space.index[anchor] >= space.known):
            parts["content"], weights["content"] = self._content(history[-1], None), 1.0
        if history:
            parts["new"], weights["new"] = self._content(history[-1], self._cold_rows()), 0.3
        if not session:  # a new session or an unknown SKU: lean on what is popular now
            weights["popular_live"] = weights["popular"] = max(weights.get("popular", 0.0), 0.5)
        elif self._learned(tables):
            return self._learned_blend(node, tables, session, parts, weights)
        return scoring.blend(parts, weights, tables, *self._long_tail(tables))

    def _learned(self, tables) -> bool:
        """Whether the bundle's learned blend ranks: trained on the columns this node computes."""
        return (self.config.learned_blend and tables is not None and tables.params.blend == "learned"
                and tuple(tables.params.rerank_features) == rerank.FEATURES)

    def _learned_blend(self, node, tables, session, parts, weights):
        """The bundle's learned blend (``recs_rerank``, run by the node's model runtime) over every part's candidates;
        the linear blend when the model does not run."""
        candidates, matrix, names = scoring.candidate_matrix(parts)

        def predict(features):
            return rerank.positive_probability(node.model(artifacts.RERANK_NAME).run({"X": features}).values())

        try:
            indices, scores, columns = rerank.rank_learned(tables, session, candidates, matrix, names, predict, weights,
                                                           self._long_tail(tables)[1])
        except Exception:  # a bundle whose model is missing or broken still serves the linear blend
            return scoring.blend(parts, weights, tables, *self._long_tail(tables))
        return indices, scores, [scoring.REASONS[names[c]] for c in columns.tolist()]

    def _long_tail(self, tables) -> tuple[float, float]:
        """The long-tail ``(alpha, bonus)``: the settings where set, else what the bundle's training tuned."""
        trained = (tables.params.long_tail_alpha, tables.params.long_tail_bonus) if tables else (0.0, 0.0)
        alpha, bonus = self.config.long_tail_alpha, self.config.long_tail_bonus
        return (trained[0] if alpha is None else alpha), (trained[1] if bonus is None else bonus)

    def _trained_parts(self, tables, session, store, origin, node, weights) -> dict:
        """The bundle's scorers for the session; a scorer whose tuned weight is 0 is not run at all (with a learned
        blend every scorer runs: its model reads all their columns)."""
        n = self.config.candidates
        parts = {"popular": scoring.score_popular(tables, session, origin, n)}
        if not session:
            return parts
        wanted = set(scoring.SCORERS) if self._learned(tables) else {name for name, weight in weights.items() if weight > 0}
        if "covisit" in wanted:
            live_rows = self._live_covisit(session[-10:], store)
            parts["covisit"] = scoring.score_covisit(tables, session, n, live_rows)
        for name, scorer in (("sknn", scoring.score_sknn), ("stan", scoring.score_stan), ("session", scoring.score_session)):
            if name in wanted:
                parts[name] = scorer(tables, session, n)
        if self.loaded.annoy is not None and "sequence" in wanted:
            parts["sequence"] = self._annoy_part(self._session_vector(node, session), n)
        if self.loaded.annoy is not None and "similar" in wanted:
            parts["similar"] = self._similar(session[-1], n)
        return parts

    def _similar(self, item: int, n: int):
        """The annoy neighbours of one item, kept per item (the same for every request while the bundle is)."""
        cache = self.loaded.similar
        if item not in cache:
            cache[item] = self._annoy_part(item, n, by_item=True)
            if len(cache) > SIMILAR_CACHE:
                cache.pop(next(iter(cache)))
        return cache[item]

    def _session_vector(self, node, session):
        try:
            output = node.model(artifacts.MODEL_NAME).run({"items": scoring.encode(session)})
        except Exception:  # a bundle without a working model still serves the tables
            return None
        return np.asarray(next(iter(output.values()))).reshape(-1)

    def _annoy_part(self, query, n, by_item=False):
        if query is None:
            return np.zeros(0, np.int64), np.zeros(0, np.float32)
        if by_item:
            found, dots = self.loaded.annoy.get_nns_by_item(int(query), n + 1, include_distances=True)
            pairs = [(i, d) for i, d in zip(found, dots) if i != query][:n]
        else:
            found, dots = self.loaded.annoy.get_nns_by_vector(query.tolist(), n, include_distances=True)
            pairs = list(zip(found, dots))
        if not pairs:
            return np.zeros(0, np.int64), np.zeros(0, np.float32)
        indices, dots = np.array([p[0] for p in pairs]), np.array([p[1] for p in pairs], dtype=np.float32)
        return indices, dots - dots.min() + 1e-3

    def _live_part(self, history, store) -> tuple:
        """Co-visitation counted from the store's events since the bundle alone: what is new between bundles."""
        scores: dict[str, float] = {}
        covisit = self.live.covisit(store)
        for k, sku in enumerate(reversed(history[-10:])):
            row = covisit.get(sku)
            if row:
                top = max(row.values())
                for other, w in row.items():
                    scores[other] = scores.get(other, 0.0) + (0.6 ** k) * w / top
        ranked = sorted(scores.items(), key=lambda kv: -kv[1])[: self.config.candidates]
        return (np.array([self.space.of(s) for s, _ in ranked], dtype=np.int64),
                np.array([w for _, w in ranked], dtype=np.float32))

    def _live_covisit(self, session, store) -> dict:
        """The store's folded co-visitation rows of the session's items, by index."""
        rows: dict[int, dict[int, float]] = {}
        covisit = self.live.covisit(store)
        for index in session:
            row = covisit.get(self.space.skus[index])
            if row:
                rows[index] = {self.space.of(s): w for s, w in row.items()}
        return rows

    def _live_popular(self, store):
        ranked = self.live.popular(store, self.config.candidates)
        return (np.array([self.space.of(s) for s, _ in ranked], dtype=np.int64),
                np.array([w for _, w in ranked], dtype=np.float32))

    def _content(self, sku, among):
        among_key = self.loaded.key if among is not None else None
        skus, scores = self.view.content.neighbours(sku, self.config.candidates, among, among_key)
        return np.array([self.space.of(s) for s in skus], dtype=np.int64), scores

    def _cold_rows(self) -> np.ndarray:
        """A mask of the content index's rows whose items the bundle never saw (kept per catalog and bundle)."""
        content = self.view.content
        cold = getattr(content, "cold_rows", None)
        if cold is None or cold[0] != self.loaded.key:
            known, size = self.space.index, self.space.known
            mask = np.array([s not in known or known[s] >= size for s in content.skus], dtype=bool)
            content.cold_rows = cold = (self.loaded.key, mask)
        return cold[1]

    def _apply_rules(self, indices, scores, reasons, excluded, k) -> list[dict]:
        view, per_category, chosen, spare = self.view, {}, [], []
        skus, available, category_of, most = self.space.skus, view.available, view.category.get, self.config.max_per_category
        for index, score, reason in zip(indices.tolist(), scores.tolist(), reasons):
            sku = skus[index]
            if sku in excluded or sku not in available:
                continue
            category = category_of(sku)
            taken = per_category.get(category, 0)
            if taken >= most:
                spare.append((sku, score, reason))  # only if the diverse picks do not fill k
                continue
            per_category[category] = taken + 1
            chosen.append((sku, score, reason))
            if len(chosen) == k:
                break
        chosen += spare[: k - len(chosen)]
        return [{"sku": sku, "score": round(float(score), 6), "reason": reason, **view.items[sku]}
                for sku, score, reason in chosen]


def request_store() -> str:
    """The store a request is for (CDN edge mode); the default store outside a Flask app."""
    from edge.api import current_store

    try:
        return current_store()
    except RuntimeError:
        return "default"


def _visual_index(node, store: str):
    """The visual search index of ``store`` in this worker, if the plugin runs here."""
    indexers = getattr(node.slot("visual_search"), "indexer", None)
    if indexers is None:
        return None
    for_store = getattr(indexers, "for_store", None)
    try:
        return (for_store(store) if for_store else indexers).current
    except KeyError:  # a store without an index yet: recommend without image vectors
        return None
