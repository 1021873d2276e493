"""The next-item protocol: every prefix of every test session predicts the session's next item.

Test events whose item never occurs in training are dropped first (no recommender can name them) and
sessions left with fewer than two events are skipped, as in the GRU4Rec and SR-GNN evaluations. Per
recommender: ``hr@k`` (share of prefixes whose next item is in the top k), ``mrr@k`` (mean reciprocal
rank, 0 past k), ``coverage`` (share of the training items recommended at least once) and
``long_tail_share`` (share of recommended slots taken by long-tail items: outside the most
popular training items that together hold 80 % of the training interactions).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field

import numpy as np

from plugins.recommend import rerank, scoring

from . import sequential

RECOMMENDERS = {"popularity": "popular", "item_knn": "covisit", "session_knn": "sknn", "session_knn_stan": "stan",
                "sequential": "sequence", "session_items": "session"}


@dataclass
class Case:
    """One prefix: its candidate matrix (the scorers' merged candidates), the item that came next and the prefix."""

    candidates: np.ndarray
    matrix: np.ndarray
    names: list
    target: int
    session: list = field(default_factory=list)


def test_prefixes(sessions, index) -> list[tuple[list[int], int]]:
    """``(prefix items, next item)`` of every test session, items unknown to training dropped."""
    cases = []
    for session in sessions:
        items = [index[s] for s in session.items if s in index]
        cases.extend((items[:end], items[end]) for end in range(1, len(items)))
    return cases


def build_cases(tables, model, prefixes, candidates: int = 100, log=None) -> list[Case]:
    """Score every prefix with every scorer once (the blend weights are tried on these later)."""
    log = log or sys.stderr
    vector_parts = _vector_parts(tables, model, prefixes, candidates)
    cases = []
    for number, ((items, target), vectors) in enumerate(zip(prefixes, vector_parts)):
        parts = scoring.score_all(tables, items, n=candidates, vector_parts=vectors)
        cases.append(Case(*scoring.candidate_matrix(parts), target, list(items)))
        if number and number % 2000 == 0:
            print(f"evaluate: scored {number}/{len(prefixes)} prefixes", file=log)
    return cases


def _vector_parts(tables, model, prefixes, n: int) -> list:
    """The ``sequence`` (session vector) and ``similar`` (last item's vector) candidates of every prefix, in batches."""
    if model is None or tables.vectors is None or not prefixes:
        return [None] * len(prefixes)
    batch = np.concatenate([sequential.encode(items) for items, _ in prefixes])
    sessions = np.concatenate([sequential.session_vectors(model, batch[i:i + 4096]) for i in range(0, len(batch), 4096)])
    last = np.array([items[-1] for items, _ in prefixes], dtype=np.int64)
    sequence = scoring.vector_tops(tables.vectors, sessions, n)
    similar = scoring.vector_tops(tables.vectors, tables.vectors[last], n, exclude=last)
    return [{"sequence": a, "similar": b} for a, b in zip(sequence, similar)]


def metrics(ranked: list[np.ndarray], targets: list[int], tail: np.ndarray, k: int) -> dict:
    """``hr@k``, ``mrr@k``, ``coverage`` and ``long_tail_share`` of top-k lists."""
    hits, reciprocal, slots, tail_slots, seen = 0, 0.0, 0, 0, set()
    for items, target in zip(ranked, targets):
        items = items[:k]
        found = np.flatnonzero(items == target)
        if len(found):
            hits += 1
            reciprocal += 1.0 / (found[0] + 1)
        slots += len(items)
        tail_slots += int(tail[items].sum()) if len(items) else 0
        seen.update(items.tolist())
    n = max(1, len(targets))
    return {f"hr@{k}": round(hits / n, 4), f"mrr@{k}": round(reciprocal / n, 4),
            "coverage": round(len(seen) / max(1, len(tail)), 4),
            "long_tail_share": round(tail_slots / max(1, slots), 4)}


def evaluate_weights(tables, cases, weights: dict, k: int, alpha: float = 0.0, bonus: float = 0.0, predict=None) -> dict:
    """The metrics of the blend with ``weights`` (and the long-tail ``alpha`` and ``bonus``) over ``cases``; with
    ``predict`` (a learned blend's scorer of feature rows) the learned blend's instead (``alpha`` unused)."""
    if predict is not None:
        ranked = [rerank.rank_learned(tables, c.session, c.candidates, c.matrix, c.names, predict, weights, bonus,
                                      _probability(tables, c, predict))[0] for c in cases]
    else:
        ranked = [scoring.rank(c.candidates, c.matrix, c.names, weights, tables, alpha, bonus)[0] for c in cases]
    return metrics(ranked, [c.target for c in cases], tables.tail, k)


def case_features(tables, case: Case) -> np.ndarray:
    """The learned blend's feature rows of a case, computed once (tuning ranks the same cases many times)."""
    if getattr(case, "features", None) is None:
        case.features = rerank.features(tables, case.session, case.candidates, case.matrix, case.names)
    return case.features


def _probability(tables, case: Case, predict) -> np.ndarray:
    """``predict``'s answers for the case's candidates, computed once per predictor."""
    if getattr(case, "scored", (None,))[0] is not predict:
        case.scored = (predict, predict(case_features(tables, case)))
    return case.scored[1]


def evaluate_all(tables, cases, k: int, weights: dict, alpha: float, bonus: float = 0.0, predict=None) -> dict:
    """Every recommender's metrics: each scorer alone, the blend (the learned one with ``predict``, then the linear
    one is ``linear_blend``), and the blend with the long-tail boost."""
    report = {name: evaluate_weights(tables, cases, {scorer: 1.0}, k) for name, scorer in RECOMMENDERS.items()}
    rounded = {n: round(w, 4) for n, w in weights.items()}
    report["linear_blend"] = {**evaluate_weights(tables, cases, weights, k), "weights": rounded}
    report["blend"] = {**evaluate_weights(tables, cases, weights, k, predict=predict),
                       "kind": "linear" if predict is None else "learned", "weights": rounded}
    report["blend_long_tail"] = {**evaluate_weights(tables, cases, weights, k, alpha, bonus, predict), "alpha": alpha, "bonus": bonus}
    report["test_prefixes"] = len(cases)
    return report
