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
    when absent; ties in the candidates' order). One sort of the whole matrix, not one per scorer."""
    rows = len(matrix)
    scores = np.zeros((rows, len(SCORERS)), dtype=np.float32)
    ranks = np.full((rows, len(SCORERS)), MISSING_RANK, dtype=np.float32)
    columns = [c for c, name in enumerate(names) if name in SCORERS]
    if not rows or not columns:
        return scores, np.log(ranks)
    targets = [SCORERS.index(names[c]) for c in columns]
    values = matrix[:, columns]
    order = np.argsort(-values, axis=0, kind="stable")  # absent (0) entries sort after every named one
    position = np.empty_like(order)
    np.put_along_axis(position, order, np.arange(1, rows + 1)[:, None], axis=0)
    scores[:, targets] = values
    ranks[:, targets] = np.where(values > 0, position, MISSING_RANK)
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
    seen, ago, views = _session_views(session, candidates)
    figures[:, 0] = views
    figures[:, 1] = np.where(seen, np.minimum(ago, NOT_SEEN), NOT_SEEN)
    figures[:, 2] = seen & (ago == 0)
    return figures


def _session_views(session: list[int], candidates: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per candidate: whether ``session`` holds it, how many views ago its last view was (0: the last item) and
    how many views it has (one sorted pass over the session, no loop over candidates)."""
    seen = np.zeros(len(candidates), bool)
    ago, views = np.zeros(len(candidates), np.int64), np.zeros(len(candidates), np.int64)
    if not session:
        return seen, ago, views
    items, first, counts = np.unique(np.asarray(session[::-1], dtype=np.int64), return_index=True, return_counts=True)
    at = np.searchsorted(items, candidates).clip(0, len(items) - 1)
    seen = items[at] == candidates
    ago[seen], views[seen] = first[at[seen]], counts[at[seen]]
    return seen, ago, views


def _covisit_figures(t, session: list[int], candidates: np.ndarray) -> np.ndarray:
    """Co-visitation weight (share of the row's best) of each candidate with the last item and, at most, with any
    of the session's last 10 items: every row looked up in the sorted candidates at once."""
    figures = np.zeros((len(candidates), 2), dtype=np.float32)
    recent = list(reversed(session[-10:]))
    rows = [(k, *t.covisit.row(item)) for k, item in enumerate(recent) if item < t.covisit.rows]
    rows = [(k, indices, weights) for k, indices, weights in rows if len(indices)]
    if not rows or not len(candidates):
        return figures
    if (candidates[1:] > candidates[:-1]).all():  # already sorted and distinct (candidate_matrix's order)
        keys, inverse = candidates, np.arange(len(candidates))
    else:
        keys, inverse = np.unique(candidates, return_inverse=True)
    indices = np.concatenate([r[1] for r in rows])
    shares = np.concatenate([r[2] / r[2][0] for r in rows]).astype(np.float32)
    is_last = np.concatenate([np.full(len(r[1]), r[0] == 0) for r in rows])
    at = np.searchsorted(keys, indices).clip(0, len(keys) - 1)
    found = keys[at] == indices
    last, best = np.zeros(len(keys), np.float32), np.zeros(len(keys), np.float32)
    last[at[found & is_last]] = shares[found & is_last]
    np.maximum.at(best, at[found], shares[found])
    figures[:, 0], figures[:, 1] = last[inverse.reshape(-1)], best[inverse.reshape(-1)]
    return figures


def features(t, session: list[int], candidates: np.ndarray, matrix: np.ndarray, names: list[str]) -> np.ndarray:
    """The :data:`FEATURES` of every candidate (rows in ``candidates`` order) for ``session`` (item indices, oldest first)."""
    candidates = np.asarray(candidates, dtype=np.int64)
    scores, ranks = _score_and_rank(matrix, names)
    length = np.full((len(candidates), 2), (len(session), len(set(session))), dtype=np.float32)
    return np.hstack([scores, ranks, _item_figures(t, candidates), _session_figures(session, candidates),
                      _covisit_figures(t, session, candidates), length]).astype(np.float32, copy=False)


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
    seen, ago, _ = _session_views(session[-50:], candidates)
    total[seen] = 2.0 + 0.5 ** ago[seen]
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
