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
    def tail(self) -> np.ndarray:
        """A boolean per item: in the long tail, outside the head (the most popular items that together
        hold 80 % of the interactions)."""
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


def score_popular(t: RecTables, session, store: str | None = None, n: int = 100):
    """What is popular now, in this store when it has figures of its own."""
    if store and store in t.store_popularity:
        indices, scores = t.store_popularity[store]
        return np.asarray(indices[:n]), np.asarray(scores[:n], dtype=np.float32)
    return top(t.popularity, n)


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


def score_covisit(t: RecTables, session, n: int = 100, live: dict | None = None, size: int | None = None):
    """Item-kNN: co-visitation rows of the session's items, the most recent weighing most."""
    scores = np.zeros(size or len(t.items), dtype=np.float32)
    for k, item in enumerate(reversed(session[-10:])):
        indices, weights = covisit_row(t, item, live)
        if len(weights):
            scores[indices] += (t.params.covisit_recency ** k) * weights / weights[0]
    return top(scores, n)


def _session_similarities(t: RecTables, session) -> np.ndarray:
    """Similarity of the query session to every training session that shares an item (dense, by session)."""
    sims = np.zeros(t.sessions.rows, dtype=np.float32)
    length = len(session)
    for position, item in enumerate(session):
        found, _ = t.item_sessions.row(item)
        found = found[: t.params.sknn_sample]
        weight = (position + 1) / length
        if t.params.sknn_idf:
            weight *= t.idf[item]
        sims[found] += weight
    return sims


def score_sknn(t: RecTables, session, n: int = 100):
    """Session-kNN (V-SKNN): items of the training sessions most like this one, weighted by similarity and recency."""
    if t.sessions.rows == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.float32)
    session = [i for i in session if i < len(t.items)]
    if not session:
        return np.zeros(0, np.int64), np.zeros(0, np.float32)
    sims = _session_similarities(t, list(dict.fromkeys(session[-20:])))
    neighbours, neighbour_sims = top(sims, t.params.sknn_neighbours)
    scores = np.zeros(len(t.items), dtype=np.float32)
    for s, sim in zip(neighbours, neighbour_sims * t.session_recency[neighbours]):
        indices, _ = t.sessions.row(s)
        scores[indices] += sim
    return top(scores, n)


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
        return np.zeros(0, np.int64), np.zeros(0, np.float32)
    sims = np.zeros(t.sessions.rows, dtype=np.float32)
    for rank_, item in enumerate(query):
        sims[t.item_sessions.row(item)[0][: t.params.sknn_sample]] += np.exp(-rank_ / t.params.stan_query_decay)
    recency = {item: r for r, item in enumerate(query)}
    neighbours, neighbour_sims = top(sims, t.params.sknn_neighbours)
    scores = np.zeros(len(t.items), dtype=np.float32)
    for s, sim in zip(neighbours, neighbour_sims * t.session_recency[neighbours]):
        items = t.sessions.row(s)[0]
        shared = min((recency[x], p) for p, x in enumerate(items.tolist()) if x in recency)[1]
        np.add.at(scores, items, sim * np.exp(-np.abs(np.arange(len(items)) - shared) / t.params.stan_position_decay))
    return top(scores, n)


def score_vector(t: RecTables, vector: np.ndarray | None, n: int = 100, exclude=()):
    """Items whose vectors score highest against ``vector`` (a session or an item vector)."""
    if vector is None or t.vectors is None:
        return np.zeros(0, np.int64), np.zeros(0, np.float32)
    scores = t.vectors @ np.asarray(vector, dtype=np.float32).reshape(-1)
    scores = scores - scores.min() + 1e-6
    return top(scores, n, exclude)


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


def rank(candidates, matrix, names, weights: dict, t: RecTables | None = None, alpha: float = 0.0):
    """Blend one candidate matrix with ``weights`` (and the long-tail boost); ``(indices, scores, columns)`` best first.

    ``columns`` is, per item, the scorer that gave it the largest share of its score.
    """
    if not len(candidates):
        return candidates, np.zeros(0, np.float32), np.zeros(0, np.int64)
    contributions = matrix * np.array([weights.get(n, 0.0) for n in names], dtype=np.float32)
    total = contributions.sum(axis=1)
    if t is not None and alpha:
        total = boost(t, candidates, total, alpha)
    order = np.argsort(-total, kind="stable")
    order = order[total[order] > 0]
    return candidates[order], total[order], contributions[order].argmax(axis=1)


def blend(parts: dict, weights: dict, t: RecTables | None = None, alpha: float = 0.0):
    """Merge ``{scorer: (indices, scores)}`` into ``(indices, scores, reasons)``, best first."""
    candidates, matrix, names = candidate_matrix(parts)
    indices, scores, columns = rank(candidates, matrix, names, weights, t, alpha)
    return indices, scores, [REASONS[names[c]] for c in columns.tolist()]


def score_all(t: RecTables, session, *, session_vector=None, store=None, n=None) -> dict:
    """Every scorer's candidates for ``session`` (item indices, oldest first)."""
    n = n or t.params.candidates
    last = session[-1] if session else None
    parts = {"popular": score_popular(t, session, store, n)}
    if session:
        parts["covisit"] = score_covisit(t, session, n)
        parts["sknn"] = score_sknn(t, session, n)
        parts["stan"] = score_stan(t, session, n)
        parts["session"] = score_session(t, session, n)
        parts["sequence"] = score_vector(t, session_vector, n)
        if t.vectors is not None:
            parts["similar"] = score_vector(t, t.vectors[last], n, exclude=[last])
    return parts
