"""Blend weights and the long-tail boost, tuned on a validation split (the last sessions of the training data).

Weights: coordinate ascent from equal weights, each scorer's weight tried at a few multiples of its
current value, kept when HR@k (then MRR@k) improves. Long-tail ``bonus`` (see
:func:`plugins.recommend.scoring.tail_bonus`): the largest of a few values whose HR@k on the validation
split stays within ``max_hr_cost`` (relative) of the plain blend's. That additive form replaced the
popularity penalty ``score / (1 + count) ** alpha`` as the tuned boost: on the DIGINETICA sample's
validation split the penalty moved less exposure to the tail for the same HR@k cost, because it also
reorders the head items among themselves and lets a weakly scored tail item pass a strong head one (the
penalty stays a setting, ``long_tail_alpha``).
"""

from __future__ import annotations

from plugins.recommend.scoring import SCORERS

from .evaluate import evaluate_weights

FACTORS = (0.0, 0.25, 0.5, 2.0, 4.0)
BONUSES = (0.01, 0.02, 0.03, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.5)


def _key(result: dict, k: int) -> tuple:
    return result[f"hr@{k}"], result[f"mrr@{k}"]


def tune_weights(tables, cases, k: int = 20, rounds: int = 3) -> dict:
    """Blend weights that maximise HR@k on ``cases``."""
    weights = {name: 1.0 for name in SCORERS}
    best = _key(evaluate_weights(tables, cases, weights, k), k)
    for _ in range(rounds):
        improved = False
        for name in SCORERS:
            base = weights[name] or 0.25
            for factor in FACTORS:
                trial = {**weights, name: base * factor}
                if not any(trial.values()):
                    continue
                score = _key(evaluate_weights(tables, cases, trial, k), k)
                if score > best:
                    best, weights, improved = score, trial, True
        if not improved:
            break
    top = max(weights.values())
    return {name: round(w / top, 4) for name, w in weights.items()}


def tune_bonus(tables, cases, weights: dict, k: int = 20, max_hr_cost: float = 0.05, predict=None) -> float:
    """The strongest long-tail bonus whose HR@k cost stays within ``max_hr_cost`` of the plain blend (the learned
    blend with ``predict``)."""
    plain = evaluate_weights(tables, cases, weights, k, predict=predict)[f"hr@{k}"]
    chosen = 0.0
    for bonus in BONUSES:
        if evaluate_weights(tables, cases, weights, k, bonus=bonus, predict=predict)[f"hr@{k}"] >= plain * (1 - max_hr_cost):
            chosen = bonus
    return chosen
