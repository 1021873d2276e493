"""Quality figures of the fraud scorers, computed on the exported ONNX models through the node's scoring code.

Per scorer (``anomaly``, ``supervised``, ``decision_chain`` and the single models): ``pr_auc`` (average
precision), ``recall_at_1pct_fpr`` and ``recall_at_0.3pct_fpr`` (the best recall whose false-positive
rate on the test set's legitimate rows is at most 1 % / 0.3 %), and ``precision`` / ``recall`` at the
configured thresholds (flagged = review or block; ``block_precision`` / ``block_recall`` for block
alone). The decision chain is what the node answers: rules first (allow, block, review), then the
combined score against the thresholds; its ranking score is the combined score, lifted above every
score by a block or review rule and below every score by an allow rule.
"""

from __future__ import annotations

import numpy as np

TARGET = {"recall": 0.987, "fpr": 0.003}  # the product brief's claim


def recall_at_fpr(y: np.ndarray, scores: np.ndarray, fpr: float) -> float:
    """The highest recall at a threshold whose false-positive rate is at most ``fpr``."""
    from sklearn.metrics import roc_curve

    if y.min() == y.max():
        return float("nan")
    false_rate, true_rate, _ = roc_curve(y, scores)
    return float(true_rate[false_rate <= fpr + 1e-12].max())


def _at(y, flagged) -> tuple[float, float]:
    hits = int((flagged & (y == 1)).sum())
    return (hits / int(flagged.sum()) if flagged.any() else 0.0), (hits / int((y == 1).sum()) if (y == 1).any() else 0.0)


def scorer_metrics(y: np.ndarray, scores: np.ndarray, thresholds, flagged=None, blocked=None) -> dict:
    """The figures of one scorer (see the module docstring)."""
    from sklearn.metrics import average_precision_score

    flagged = scores >= thresholds.review if flagged is None else flagged
    blocked = scores >= thresholds.block if blocked is None else blocked
    precision, recall = _at(y, flagged)
    block_precision, block_recall = _at(y, blocked)
    out = {"pr_auc": float(average_precision_score(y, scores)), "recall_at_1pct_fpr": recall_at_fpr(y, scores, 0.01),
           "recall_at_0.3pct_fpr": recall_at_fpr(y, scores, 0.003), "precision": precision, "recall": recall,
           "block_precision": block_precision, "block_recall": block_recall}
    out["gap_to_brief_recall_at_0.3pct_fpr"] = round(TARGET["recall"] - out["recall_at_0.3pct_fpr"], 4)
    return {k: round(v, 4) if isinstance(v, float) else v for k, v in out.items()}


def chain_outcome(decisions: list[str], combined: np.ndarray, rule_actions: list[str | None]) -> tuple:
    """Ranking score, flagged and blocked masks of the decision chain."""
    lift = np.array([1000.0 if a in ("block", "review") else -1000.0 if a == "allow" else 0.0 for a in rule_actions])
    flagged = np.array([d != "allow" for d in decisions])
    blocked = np.array([d == "block" for d in decisions])
    return combined + lift, flagged, blocked


PARTS = {"iforest": ("iforest",), "autoencoder": ("autoencoder",), "supervised": ("supervised",),
         "anomaly": ("iforest", "autoencoder"), "combined": ("iforest", "autoencoder", "supervised")}


def ranking(scores: dict, role: str) -> np.ndarray:
    """A scorer's calibrated score with its ties broken by the models' raw scores (by rank, below the
    calibration's resolution): the top of a small reference set saturates at 100, and ranking metrics at
    0.3 % false positives need an order among those."""
    from scipy.stats import rankdata

    raws = [scores[f"raw_{part}"] for part in PARTS[role] if f"raw_{part}" in scores]
    if not raws:
        return np.asarray(scores[role], dtype=np.float64)
    tie_break = np.mean([rankdata(raw) / len(raw) for raw in raws], axis=0)
    return np.asarray(scores[role], dtype=np.float64) + 1e-3 * tie_break


def evaluate_scores(y, scores: dict, chain: tuple, thresholds) -> dict:
    """The JSON object of ``fraud evaluate``: one key per scorer (thresholds on the calibrated scores,
    ranking figures on :func:`ranking`)."""
    out = {}
    for role in ("anomaly", "supervised", "iforest", "autoencoder"):
        if role in scores:
            calibrated = np.asarray(scores[role], dtype=np.float64)
            out[role] = scorer_metrics(y, ranking(scores, role), thresholds, calibrated >= thresholds.review,
                                       calibrated >= thresholds.block)
    chain_score, flagged, blocked = chain  # the combined score lifted by the deciding rules
    chain_ranking = ranking(scores, "combined") + (chain_score - np.asarray(scores["combined"], dtype=np.float64))
    out["decision_chain"] = scorer_metrics(y, chain_ranking, thresholds, flagged, blocked)
    return out
