"""The recommenders' scoring, shared by training-side evaluation and the node: numpy only, no model runtime.

A :class:`RecTables` holds what training produced, by item index (``items[i]`` is the SKU of index ``i``):
decayed popularity (global and per store), the item-to-item co-visitation lists, the training sessions
of session-kNN with their inverted index, the item vectors of the sequential model and the blend
weights. Each ``score_*`` function takes a session (item indices, oldest first) and returns
``(indices, scores)`` of its candidates, best first; :func:`blend` merges them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

SCORERS = ("popular", "covisit", "sknn", "stan", "sequence", "similar", "session")
REASONS = {"popular": "popular", "popular_live": "popular", "covisit": "co-visited", "covisit_live": "co-visited", "sknn": "co-visited", "stan": "co-visited",
           "sequence": "sequence", "session": "sequence", "similar": "similar", "content": "similar", "new": "new item"}
SEQ_LEN = 20  # items the sequential model reads (the last ones of the session)


def encode(items: list[int]) -> np.ndarray:
    """A session (item indices, oldest first) as the sequential model's input ``int64[1, SEQ_LEN]`` (index + 1, 0 pads)."""
    window = [int(i) + 1 for i in items[-SEQ_LEN:]]
    return np.array([[0] * (SEQ_LEN - len(window)) + window], dtype=np.int64)


@dataclass
class CSR:
    """Rows of (index, weight) lists: row ``r`` is ``indices[indptr[r]:indptr[r+1]]``."""

    indptr: np.ndarray
    indices: np.ndarray
    weights: np.ndarray

    def row(self, r: int) -> tuple[np.ndarray, np.ndarray]:
        start, end = self.indptr[r], self.indptr[r + 1]
        return self.indices[start:end], self.weights[start:end]

    @property
    def rows(self) -> int:
        return len(self.indptr) - 1

    def gather(self, rows: np.ndarray, limit: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """The indices of ``rows`` laid end to end (each cut to its first ``limit``) and each row's length: one
        gather instead of a slice per row."""
        rows = np.asarray(rows, dtype=np.int64)
        starts = self.indptr[rows]
        lengths = self.indptr[rows + 1] - starts
        if limit is not None:
            lengths = np.minimum(lengths, limit)
        total = int(lengths.sum())
        offsets = np.repeat(starts - (np.cumsum(lengths) - lengths), lengths)
        return self.indices[offsets + np.arange(total)], lengths

    @classmethod
    def from_rows(cls, rows: list[tuple[np.ndarray, np.ndarray]]) -> "CSR":
        """Build from one ``(indices, weights)`` pair per row."""
        lengths = np.array([len(r[0]) for r in rows], dtype=np.int64)
        indptr = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
        indices = np.concatenate([r[0] for r in rows]).astype(np.int32) if rows else np.zeros(0, np.int32)
        weights = np.concatenate([r[1] for r in rows]).astype(np.float32) if rows else np.zeros(0, np.float32)
        return cls(indptr, indices, weights)


@dataclass
class Params:
    """Scoring knobs (trained defaults; the blend weights are tuned on a validation split)."""

    covisit_recency: float = 0.6     # weight of the k-th last session item: recency ** k
    stan_query_decay: float = 4.0    # STAN: the query's k-th last item weighs exp(-k / this)
    stan_position_decay: float = 3.0  # STAN: a neighbour's item weighs exp(-distance to the shared item / this)
    session_decay: float = 0.7       # the session's own items again (shoppers come back to what they viewed)
    sknn_neighbours: int = 100       # most similar training sessions kept
    sknn_sample: int = 1000          # most recent training sessions looked at per session item
    sknn_idf: bool = True            # weigh matching items by their inverse popularity
    candidates: int = 100            # candidates taken from each scorer before blending
    long_tail_alpha: float = 0.0     # score * (1 + count) ** -alpha: a larger alpha favours the long tail
    long_tail_bonus: float = 0.0     # added to a long-tail item's score (the blend's best scoring 1): tuned on validation
    blend: str = "linear"            # "learned": the bundle's recs_rerank model ranks (plugins.recommend.rerank)
    rerank_features: tuple = ()      # the columns that model was trained on (rerank.FEATURES at training)
    weights: dict = field(default_factory=lambda: {"popular": 0.05, "covisit": 0.3, "sknn": 0.5, "stan": 1.0,
                                                   "sequence": 0.15, "similar": 0.0, "session": 0.5})


@dataclass
class RecTables:
    """Everything the recommenders need, by item index."""

    items: list[str]
    popularity: np.ndarray                    # decayed counts over the recent window, per item
    counts: np.ndarray                        # plain interaction counts (long-tail boost and head/tail split)
    covisit: CSR                              # item -> co-visited items
    sessions: CSR                             # training session -> its items (weights: position weight)
    item_sessions: CSR                        # item -> the sessions holding it, most recent first
    session_recency: np.ndarray               # per training session, in (0, 1]
    vectors: np.ndarray | None = None         # item vectors of the sequential model (rows = items)
    store_popularity: dict = field(default_factory=dict)  # origin -> (indices, scores), best first
    params: Params = field(default_factory=Params)
    index: dict = field(default_factory=dict)
    reranker: bytes | None = None             # the learned blend's ONNX model (training side; the node runs the bundle's)

    def __post_init__(self):
        if not self.index:
            self.index = {sku: i for i, sku in enumerate(self.items)}

    @property
    def idf(self) -> np.ndarray:
        """``log(1 + interactions / (1 + count))`` per item (computed once)."""
        if getattr(self, "_idf", None) is None:
            self._idf = np.log1p(float(self.counts.sum()) / (1.0 + self.counts))
        return self._idf

    @property
    def popularity_best(self) -> float:
        """The largest decayed popularity (at least 1e-12; computed once, not per request)."""
        if getattr(self, "_popularity_best", None) is None:
            self._popularity_best = max(float(self.popularity.max()), 1e-12) if len(self.popularity) else 1e-12
        return self._popularity_best

    @property
    def tail(self) -> np.ndarray:
        """A boolean per item: in the long tail, outside the head (the most popular items that together
        hold 80 % of the interactions). Computed once."""
        if getattr(self, "_tail", None) is None:
            self._tail = self._long_tail()
        return self._tail

    def _long_tail(self) -> np.ndarray:
        order = np.argsort(-self.counts, kind="stable")
        share = np.cumsum(self.counts[order]) / max(1.0, float(self.counts.sum()))
        tail = np.ones(len(self.items), dtype=bool)
        tail[order[: int(np.searchsorted(share, 0.8)) + 1]] = False
        return tail


def top(scores: np.ndarray, n: int, exclude=()) -> tuple[np.ndarray, np.ndarray]:
    """The ``n`` best positive entries of a dense score vector, best first."""
    scores = scores.copy()
    if len(exclude):
        scores[list(exclude)] = 0
    n = min(n, int((scores > 0).sum()))
    if n <= 0:
        return np.zeros(0, np.int64), np.zeros(0, np.float32)
    best = np.argpartition(-scores, n - 1)[:n]
    best = best[np.argsort(-scores[best], kind="stable")]
    return best, scores[best]


_EMPTY = (np.zeros(0, np.int64), np.zeros(0, np.float32))


def sparse_top(indices, weights, n: int, exclude=()) -> tuple[np.ndarray, np.ndarray]:
    """The ``n`` best positive sums of ``weights`` per index (the same as :func:`top` of the dense sums), best first.

    Costs the number of entries, not the number of items or sessions: what keeps a request's scoring bounded
    as the catalog and the training data grow.
    """
    if not len(indices):
        return _EMPTY
    keys, inverse = np.unique(np.asarray(indices, dtype=np.int64), return_inverse=True)
    return _best_sums(keys, inverse.reshape(-1), weights, n, exclude)


def _best_sums(keys, inverse, weights, n: int, exclude=()) -> tuple[np.ndarray, np.ndarray]:
    """:func:`sparse_top` once the entries' distinct ``keys`` and each entry's place among them are known."""
    sums = np.bincount(inverse, weights=np.asarray(weights, dtype=np.float64), minlength=len(keys)).astype(np.float32)
    if len(exclude):
        sums[np.isin(keys, np.asarray(list(exclude)))] = 0
    n = min(n, int((sums > 0).sum()))
    if n <= 0:
        return _EMPTY
    best = np.argpartition(-sums, n - 1)[:n] if n < len(sums) else np.arange(len(sums))
    best = best[np.lexsort((keys[best], -sums[best]))]
    return keys[best], sums[best]


def score_popular(t: RecTables, session, store: str | None = None, n: int = 100):
    """What is popular now, in this store when it has figures of its own."""
    if store and store in t.store_popularity:
        indices, scores = t.store_popularity[store]
        return np.asarray(indices[:n]), np.asarray(scores[:n], dtype=np.float32)
    if getattr(t, "_popular_top", (None,))[0] != n:  # the same for every session: ranked once
        t._popular_top = (n, top(t.popularity, n))
    return t._popular_top[1]


def covisit_row(t: RecTables, item: int, live: dict | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The co-visitation row of ``item``: the trained counts plus what ``live`` folded in since (``{i: {j: w}}``)."""
    indices, weights = t.covisit.row(item) if item < t.covisit.rows else (np.zeros(0, np.int32), np.zeros(0, np.float32))
    extra = (live or {}).get(item)
    if not extra:
        return indices, weights
    merged = dict(zip(indices.tolist(), weights.tolist()))
    for j, w in extra.items():
        merged[j] = merged.get(j, 0.0) + w
    keys = np.fromiter(merged, dtype=np.int64, count=len(merged))
    values = np.fromiter(merged.values(), dtype=np.float32, count=len(merged))
    order = np.argsort(-values, kind="stable")
    return keys[order], values[order]


def score_covisit(t: RecTables, session, n: int = 100, live: dict | None = None):
    """Item-kNN: co-visitation rows of the session's items, the most recent weighing most."""
    found, weights = [], []
    for k, item in enumerate(reversed(session[-10:])):
        indices, row = covisit_row(t, item, live)
        if len(row):
            found.append(indices)
            weights.append((t.params.covisit_recency ** k) * row / row[0])
    return sparse_top(np.concatenate(found), np.concatenate(weights), n) if found else _EMPTY


def _neighbours(t: RecTables, weighted_items) -> tuple[np.ndarray, np.ndarray]:
    """The ``sknn_neighbours`` training sessions most like the query, ``weighted_items`` being ``(item, weight)``
    pairs of distinct items: a session's similarity is the sum of the weights of the items it shares (each item
    looking at its ``sknn_sample`` most recent sessions); the similarities come multiplied by the sessions' recency."""
    if not weighted_items:
        return _EMPTY
    weight_of = dict(weighted_items)
    items, keys, inverse, lengths = _holders(t, tuple(sorted(weight_of)))
    weights = np.repeat(np.array([weight_of[i] for i in items], dtype=np.float32), lengths)
    neighbours, sims = _best_sums(keys, inverse, weights, t.params.sknn_neighbours)
    return neighbours, sims * t.session_recency[neighbours]


def _holders(t: RecTables, items: tuple) -> tuple:
    """``(items, sessions, entry_of, lengths)``: the distinct sessions holding ``items`` (sorted, distinct; each
    item's ``sknn_sample`` most recent), each entry's place among them and each item's number of entries. The
    last answer is kept (with the ``sknn_sample`` it was cut to): session-kNN and STAN ask for the same items in one
    request."""
    key = (items, t.params.sknn_sample)
    cached = getattr(t, "_holders_of", None)
    if cached is not None and cached[0] == key:
        return cached[1]
    holders, lengths = t.item_sessions.gather(np.array(items, dtype=np.int64), t.params.sknn_sample)
    keys, inverse = np.unique(holders.astype(np.int64), return_inverse=True)
    found = (items, keys, inverse.reshape(-1), lengths)
    t._holders_of = (key, found)  # not read back: another thread's request may have replaced it meanwhile
    return found


def score_sknn(t: RecTables, session, n: int = 100):
    """Session-kNN (V-SKNN): items of the training sessions most like this one, weighted by similarity and recency."""
    session = list(dict.fromkeys([i for i in session if i < len(t.items)][-20:]))
    if t.sessions.rows == 0 or not session:
        return _EMPTY
    length = len(session)
    weighted = [(item, (position + 1) / length * (t.idf[item] if t.params.sknn_idf else 1.0))
                for position, item in enumerate(session)]
    neighbours, sims = _neighbours(t, weighted)
    if not len(neighbours):
        return _EMPTY
    items, lengths = t.sessions.gather(neighbours)
    return sparse_top(items, np.repeat(sims, lengths), n)


def score_session(t: RecTables, session, n: int = 100):
    """The session's own items again, the most recent first (``session_decay ** k`` for the k-th last view)."""
    scores: dict[int, float] = {}
    for k, item in enumerate(reversed(session[-50:])):
        scores[item] = scores.get(item, 0.0) + t.params.session_decay ** k
    ranked = sorted(scores.items(), key=lambda kv: -kv[1])[:n]
    return np.array([i for i, _ in ranked], dtype=np.int64), np.array([v for _, v in ranked], dtype=np.float32)


def score_stan(t: RecTables, session, n: int = 100):
    """Session-kNN, sequence and time aware (STAN, Garg et al. 2019): the query's recent items count more in the
    similarity, recent neighbours count more, and a neighbour's items count more the nearer they sit to the
    item it shares with the query's most recent ones."""
    query = [i for i in dict.fromkeys(reversed(session[-50:])) if i < len(t.items)][:20]  # most recent first
    if t.sessions.rows == 0 or not query:
        return _EMPTY
    neighbours, sims = _neighbours(t, [(item, np.exp(-r / t.params.stan_query_decay)) for r, item in enumerate(query)])
    if not len(neighbours):
        return _EMPTY
    items, lengths = t.sessions.gather(neighbours)
    owner = np.repeat(np.arange(len(neighbours)), lengths)
    position = np.arange(len(items)) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    shared = _shared_positions(np.asarray(query), items, owner, position, len(neighbours))
    weights = sims[owner] * np.exp(-np.abs(position - shared[owner]) / t.params.stan_position_decay)
    return sparse_top(items, weights, n)


def _shared_positions(query: np.ndarray, items, owner, position, rows: int) -> np.ndarray:
    """Per neighbour session, the position of its item that is the query's most recent (``query[0]`` first),
    the earliest such position on a tie; ``items``/``owner``/``position`` are the sessions' items laid end to end."""
    order = np.argsort(query)
    found = np.searchsorted(query[order], items).clip(0, len(query) - 1)
    recency = np.where(query[order][found] == items, order[found], len(query))
    span = int(position.max()) + 1
    best = np.full(rows, np.iinfo(np.int64).max)
    np.minimum.at(best, owner, recency * span + position)
    return best % span


def score_vector(t: RecTables, vector: np.ndarray | None, n: int = 100, exclude=()):
    """Items whose vectors score highest against ``vector`` (a session or an item vector)."""
    if vector is None or t.vectors is None:
        return np.zeros(0, np.int64), np.zeros(0, np.float32)
    scores = t.vectors @ np.asarray(vector, dtype=np.float32).reshape(-1)
    scores = scores - scores.min() + 1e-6
    return top(scores, n, exclude)


def vector_tops(vectors: np.ndarray, queries: np.ndarray, n: int, exclude=None, chunk: int = 512) -> list:
    """:func:`score_vector` for many queries at once (rows of ``queries``; ``exclude[r]`` an item left out of row r),
    by blocks of matrix products: what evaluation and tuning use instead of one product per prefix."""
    out = []
    for start in range(0, len(queries), chunk):
        scores = queries[start:start + chunk].astype(np.float32) @ vectors.T
        scores -= scores.min(axis=1, keepdims=True) - 1e-6
        if exclude is not None:
            scores[np.arange(len(scores)), exclude[start:start + chunk]] = 0
        m = min(n, scores.shape[1])
        best = np.argpartition(-scores, m - 1, axis=1)[:, :m] if m < scores.shape[1] else \
            np.tile(np.arange(scores.shape[1]), (len(scores), 1))
        for row, picks in zip(scores, best):
            picks = picks[np.argsort(-row[picks], kind="stable")]
            picks = picks[row[picks] > 0]
            out.append((picks.astype(np.int64), row[picks]))
    return out


def boost(t: RecTables, indices: np.ndarray, scores: np.ndarray, alpha: float | None = None) -> np.ndarray:
    """The long-tail boost: scores divided by ``(1 + count) ** alpha``."""
    alpha = t.params.long_tail_alpha if alpha is None else alpha
    if not alpha or not len(indices):
        return scores
    indices = np.asarray(indices)
    known = indices < len(t.counts)
    counts = np.zeros(len(indices), dtype=np.float32)
    counts[known] = t.counts[indices[known]]  # items the training never saw count as 0
    return scores * (1.0 + counts) ** (-alpha)


def candidate_matrix(parts: dict) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """The union of the scorers' candidates and a matrix of their scores, each scorer's column divided by its best.

    Returns ``(candidates, matrix[len(candidates), len(names)], names)``.
    """
    names = [n for n, (indices, scores) in parts.items() if len(indices) and scores[0] > 0]
    if not names:
        return np.zeros(0, np.int64), np.zeros((0, 0), np.float32), []
    candidates, inverse = np.unique(np.concatenate([parts[n][0] for n in names]).astype(np.int64), return_inverse=True)
    matrix = np.zeros((len(candidates), len(names)), dtype=np.float32)
    offset = 0
    for column, name in enumerate(names):
        indices, scores = parts[name]
        matrix[inverse[offset:offset + len(indices)], column] = np.asarray(scores, np.float32) / float(scores[0])
        offset += len(indices)
    return candidates, matrix, names


def tail_bonus(t: RecTables, indices: np.ndarray, scores: np.ndarray, bonus: float) -> np.ndarray:
    """The long-tail re-rank: scores divided by the best, plus ``bonus`` for a long-tail item (one outside the
    head of :attr:`RecTables.tail`; an item the training never saw counts as tail). A head item keeps its
    place above a tail item unless their scores are within ``bonus`` of the best, so what leaves the top k is
    the weakest head items: exposure moves to the tail at little cost in hits."""
    if not bonus or not len(indices):
        return scores
    tail = t.tail
    is_tail = np.ones(len(indices), dtype=bool)
    known = indices < len(tail)
    is_tail[known] = tail[indices[known]]
    return scores / max(float(scores.max()), 1e-12) + bonus * is_tail


def rank(candidates, matrix, names, weights: dict, t: RecTables | None = None, alpha: float = 0.0, bonus: float = 0.0):
    """Blend one candidate matrix with ``weights`` (and the long-tail boost and bonus); ``(indices, scores, columns)``
    best first.

    ``columns`` is, per item, the scorer that gave it the largest share of its score.
    """
    if not len(candidates):
        return candidates, np.zeros(0, np.float32), np.zeros(0, np.int64)
    contributions = matrix * np.array([weights.get(n, 0.0) for n in names], dtype=np.float32)
    total = contributions.sum(axis=1)
    if t is not None and alpha:
        total = boost(t, candidates, total, alpha)
    if t is not None and bonus:
        total = np.where(total > 0, tail_bonus(t, candidates, total, bonus), 0.0)
    order = np.argsort(-total, kind="stable")
    order = order[total[order] > 0]
    return candidates[order], total[order], contributions[order].argmax(axis=1)


def blend(parts: dict, weights: dict, t: RecTables | None = None, alpha: float = 0.0, bonus: float = 0.0):
    """Merge ``{scorer: (indices, scores)}`` into ``(indices, scores, reasons)``, best first."""
    candidates, matrix, names = candidate_matrix(parts)
    indices, scores, columns = rank(candidates, matrix, names, weights, t, alpha, bonus)
    return indices, scores, [REASONS[names[c]] for c in columns.tolist()]


def score_all(t: RecTables, session, *, session_vector=None, store=None, n=None, vector_parts=None) -> dict:
    """Every scorer's candidates for ``session`` (item indices, oldest first); ``vector_parts`` holds the
    ``sequence`` and ``similar`` candidates when the caller ranked them already (:func:`vector_tops`)."""
    n = n or t.params.candidates
    last = session[-1] if session else None
    parts = {"popular": score_popular(t, session, store, n)}
    if session:
        parts["covisit"] = score_covisit(t, session, n)
        parts["sknn"] = score_sknn(t, session, n)
        parts["stan"] = score_stan(t, session, n)
        parts["session"] = score_session(t, session, n)
        if vector_parts is not None:
            parts.update(vector_parts)
            return parts
        parts["sequence"] = score_vector(t, session_vector, n)
        if t.vectors is not None:
            parts["similar"] = score_vector(t, t.vectors[last], n, exclude=[last])
    return parts
