"""Blend weights and the long-tail boost, tuned on a validation split (the last sessions of the training data).

Weights: coordinate ascent from equal weights, each scorer's weight tried at a few multiples of its
current value, kept when HR@k (then MRR@k) improves. Long-tail ``alpha``: the largest of a few values
whose HR@k stays within ``max_hr_cost`` (relative) of the unboosted blend's.
"""

from __future__ import annotations

from plugins.recommend.scoring import SCORERS

from .evaluate import evaluate_weights

FACTORS = (0.0, 0.25, 0.5, 2.0, 4.0)
ALPHAS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.8, 1.0, 1.25, 1.5, 2.0, 2.5, 3.0)


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


def tune_alpha(tables, cases, weights: dict, k: int = 20, max_hr_cost: float = 0.05) -> float:
    """The strongest long-tail boost whose HR@k cost stays within ``max_hr_cost`` of the plain blend."""
    plain = evaluate_weights(tables, cases, weights, k)[f"hr@{k}"]
    chosen = 0.0
    for alpha in ALPHAS:
        if evaluate_weights(tables, cases, weights, k, alpha)[f"hr@{k}"] >= plain * (1 - max_hr_cost):
            chosen = alpha
    return chosen
