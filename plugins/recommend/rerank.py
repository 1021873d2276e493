"""The learned blend's features: one row per candidate of a session, numpy only (training and the node share it).

The candidates are the union of every scorer's (:func:`plugins.recommend.scoring.candidate_matrix`).
Per candidate: each scorer's normalised score and the log of its rank in that scorer's list (of
``MISSING_RANK`` when the scorer did not name it), the item's interaction count (log), decayed popularity (share of the best)
and long-tail flag, how often and how recently the session itself viewed it (the repeat views that make
up a third of DIGINETICA's next items), its co-visitation with the session's last item and with any of
its items, and the session's length. The column order is :data:`FEATURES`; a bundle's model was trained
on exactly these columns (its ``recs.json`` keeps their names and the node refuses a mismatch).
"""

from __future__ import annotations

import numpy as np

from .scoring import SCORERS

MISSING_RANK = 200.0
NOT_SEEN = 50.0  # recency (views ago) of an item the session never viewed
FEATURES = tuple([f"score_{n}" for n in SCORERS] + [f"rank_{n}" for n in SCORERS] +
                 ["log_count", "popularity", "tail", "session_views", "views_ago", "is_last",
                  "covisit_last", "covisit_any", "session_length", "session_distinct"])


def _score_and_rank(matrix: np.ndarray, names: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Columns in :data:`SCORERS` order: each scorer's score and the log of its 1-based rank (of ``MISSING_RANK``
    when absent)."""
    rows = len(matrix)
    scores = np.zeros((rows, len(SCORERS)), dtype=np.float32)
    ranks = np.full((rows, len(SCORERS)), MISSING_RANK, dtype=np.float32)
    for column, name in enumerate(names):
        if name not in SCORERS:
            continue
        values = matrix[:, column]
        target = SCORERS.index(name)
        scores[:, target] = values
        named = np.flatnonzero(values > 0)
        order = named[np.argsort(-values[named], kind="stable")]
        ranks[order, target] = np.arange(1, len(order) + 1, dtype=np.float32)
    return scores, np.log(ranks)


def _item_figures(t, candidates: np.ndarray) -> np.ndarray:
    """``log_count``, ``popularity`` and ``tail`` per candidate (items the tables never saw: 0, 0, 1)."""
    known = candidates < len(t.counts)
    picked = candidates[known]
    figures = np.zeros((len(candidates), 3), dtype=np.float32)
    figures[:, 2] = 1.0
    figures[known, 0] = np.log1p(t.counts[picked])
    figures[known, 1] = t.popularity[picked] / t.popularity_best if len(t.popularity) else 0.0
    figures[known, 2] = t.tail[picked]
    return figures


def _session_figures(session: list[int], candidates: np.ndarray) -> np.ndarray:
    """``session_views``, ``views_ago`` (0 for the last item) and ``is_last`` per candidate."""
    figures = np.zeros((len(candidates), 3), dtype=np.float32)
    figures[:, 1] = NOT_SEEN
    if not session:
        return figures
    newest_first = np.asarray(session[::-1], dtype=np.int64)
    items, first, views = np.unique(newest_first, return_index=True, return_counts=True)
    at = np.searchsorted(items, candidates).clip(0, len(items) - 1)
    seen = items[at] == candidates
    figures[seen, 0] = views[at[seen]]
    figures[seen, 1] = np.minimum(first[at[seen]], NOT_SEEN)
    figures[:, 2] = candidates == newest_first[0]
    return figures


def _covisit_figures(t, session: list[int], candidates: np.ndarray) -> np.ndarray:
    """Co-visitation weight (share of the row's best) of each candidate with the last item and, at most, with any
    of the session's last 10 items."""
    figures = np.zeros((len(candidates), 2), dtype=np.float32)
    for k, item in enumerate(reversed(session[-10:])):
        if item >= t.covisit.rows:
            continue
        indices, weights = t.covisit.row(item)
        if not len(indices):
            continue
        values = _lookup(indices, weights / weights[0], candidates)
        if k == 0:
            figures[:, 0] = values
        figures[:, 1] = np.maximum(figures[:, 1], values)
    return figures


def _lookup(indices: np.ndarray, values: np.ndarray, keys: np.ndarray) -> np.ndarray:
    """``values`` at the ``keys`` found in ``indices`` (0 for the others), by a sorted search instead of a dict."""
    order = np.argsort(indices, kind="stable")
    ordered = indices[order]
    at = np.searchsorted(ordered, keys).clip(0, len(ordered) - 1)
    return np.where(ordered[at] == keys, values[order][at], 0.0).astype(np.float32)


def features(t, session: list[int], candidates: np.ndarray, matrix: np.ndarray, names: list[str]) -> np.ndarray:
    """The :data:`FEATURES` of every candidate (rows in ``candidates`` order) for ``session`` (item indices, oldest first)."""
    candidates = np.asarray(candidates, dtype=np.int64)
    scores, ranks = _score_and_rank(matrix, names)
    length = np.full((len(candidates), 2), (len(session), len(set(session))), dtype=np.float32)
    return np.hstack([scores, ranks, _item_figures(t, candidates), _session_figures(session, candidates),
                      _covisit_figures(t, session, candidates), length]).astype(np.float32)


def positive_probability(outputs) -> np.ndarray:
    """The probability of the positive class from a classifier's ONNX outputs (``label``, ``probabilities[N, 2]``)."""
    probabilities = [np.asarray(o) for o in outputs if np.asarray(o).ndim == 2]
    return probabilities[0][:, -1].astype(np.float32) if probabilities else np.zeros(0, np.float32)


def rank_learned(t, session: list[int], candidates, matrix, names: list[str], predict, weights: dict, bonus: float = 0.0,
                 probability=None):
    """The learned blend of one candidate matrix: ``(indices, scores, columns)`` best first, as :func:`scoring.rank`.

    The session's own items come first, the most recently viewed first (on the validation split every next
    item the session had viewed was among them); every other candidate follows by the classifier's
    probability ``predict(features)`` (divided by the best), plus the weighted scores of the columns the
    classifier does not know (the node's live co-visitation, live popularity and content neighbours),
    plus the long-tail ``bonus`` for tail items. ``columns`` is, per item, the scorer with the largest
    share under the linear ``weights`` (the reason shown). ``probability``: the classifier's answers when the
    caller has them already (tuning ranks the same candidates many times).
    """
    candidates = np.asarray(candidates, dtype=np.int64)
    if not len(candidates):
        return candidates, np.zeros(0, np.float32), np.zeros(0, np.int64)
    known = [n in SCORERS for n in names]
    if probability is None:
        probability = predict(features(t, session, candidates, matrix, names))
    probability = np.asarray(probability, dtype=np.float32)
    total = np.maximum(probability / max(float(probability.max()), 1e-12), 1e-9)  # underflow drops no candidate
    extra = np.array([0.0 if k else weights.get(n, 0.0) for n, k in zip(names, known)], dtype=np.float32)
    total = total + matrix @ extra
    total = tail_bonus_of(t, candidates, total, bonus)
    recency: dict[int, int] = {}
    for k, item in enumerate(reversed(session[-50:])):
        recency.setdefault(item, k)  # views ago of its last view
    seen = np.array([c in recency for c in candidates.tolist()])
    total[seen] = [2.0 + 0.5 ** recency[c] for c in candidates[seen].tolist()]
    order = np.argsort(-total, kind="stable")
    order = order[total[order] > 0]
    shares = matrix * (np.array([weights.get(n, 0.0) for n in names], dtype=np.float32) + 1e-6)
    return candidates[order], total[order], shares[order].argmax(axis=1)


def tail_bonus_of(t, candidates, total, bonus: float) -> np.ndarray:
    """:func:`plugins.recommend.scoring.tail_bonus` where ``bonus`` is set and the tables are known."""
    from .scoring import tail_bonus

    if t is None or not bonus:
        return total
    return np.where(total > 0, tail_bonus(t, candidates, total, bonus), 0.0)
