"""Repeated stratified k-fold evaluation of the fraud scorers on a ULB-format CSV.

Why (beside the single 70/30 split): the ULB sample holds 861 legitimate rows; a 30 % test part has
259 of them, so ``recall_at_0.3pct_fpr`` on it is the recall with not one false positive, and one
unlucky legitimate row moves it from 0.9 to 0.1. Here every row is scored once per repeat by models
that never saw it (``folds`` folds, each trained on the others, as ``fraud evaluate`` trains), and
the figures are reported two ways:

- ``mean`` / ``std`` over the folds of each fold's own figures (each fold still allows no false
  positive at 0.3 %: the spread shows how unstable that point is);
- ``pooled``: one figure over every out-of-fold row of a repeat (861 legitimate rows: 0.3 % allows
  two false positives), averaged over the repeats. Calibrated scores mean the same in every fold
  (the share of legitimate payments scoring lower), which is what makes pooling them fair; ties in
  a calibrated score are broken by each fold's raw model scores (ranked within the pool).

Nothing is tuned on these folds: the models, thresholds and rules are those of ``fraud evaluate``.
"""

from __future__ import annotations

import csv
import tempfile
from pathlib import Path

import numpy as np

METRICS = ("pr_auc", "recall_at_1pct_fpr", "recall_at_0.3pct_fpr", "precision", "recall")


def _rows(source: Path) -> tuple[list, list, np.ndarray]:
    with open(source, newline="") as handle:
        rows = list(csv.reader(handle))
    labels = np.array([int(float(r[-1].strip().strip('"'))) for r in rows[1:]])
    return rows[0], rows[1:], labels


def _write(path: Path, header: list, rows: list) -> Path:
    with open(path, "w", newline="") as handle:
        csv.writer(handle).writerows([header, *rows])
    return path


def _pool(parts: list[tuple]) -> tuple:
    """One (labels, scores, chain) out of the folds' (the scores' keys they all share)."""
    ys, scores, chains = zip(*parts)
    keys = set.intersection(*(set(s) for s in scores))
    pooled = {k: np.concatenate([np.asarray(s[k], dtype=np.float64) for s in scores]) for k in keys}
    chain = tuple(np.concatenate([np.asarray(c[i]) for c in chains]) for i in range(3))
    return np.concatenate(ys), pooled, chain


def _summary(per_fold: list[dict], pooled: list[dict]) -> dict:
    from .evaluate import TARGET

    out = {}
    for scorer in per_fold[0]:
        if not isinstance(per_fold[0][scorer], dict):
            continue
        out[scorer] = {}
        for metric in METRICS:
            values = np.array([fold[scorer][metric] for fold in per_fold])
            out[scorer][metric] = {"mean": round(float(values.mean()), 4), "std": round(float(values.std()), 4),
                                   "pooled": round(float(np.mean([p[scorer][metric] for p in pooled])), 4)}
        out[scorer]["gap_to_brief_recall_at_0.3pct_fpr"] = round(TARGET["recall"] - out[scorer]["recall_at_0.3pct_fpr"]["pooled"], 4)
    return out


def cross_validate(source: Path, log, folds: int = 5, repeats: int = 2, seed: int = 0, thresholds=None, **train_args) -> dict:
    """Figures of every scorer over ``repeats`` × ``folds`` stratified folds of ``source`` (see the module docstring)."""
    from sklearn.model_selection import StratifiedKFold

    from .evaluate import evaluate_scores
    from .pipeline import score_ulb, thresholds_of

    thresholds = thresholds or thresholds_of()
    header, rows, labels = _rows(source)
    per_fold, pooled = [], []
    with tempfile.TemporaryDirectory(prefix="fraud-cv-") as work:
        for repeat in range(repeats):
            parts = []
            splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed + repeat)
            for index, (train_rows, test_rows) in enumerate(splitter.split(np.zeros(len(labels)), labels)):
                log(f"repeat {repeat + 1}/{repeats}, fold {index + 1}/{folds}")
                train = _write(Path(work) / "train.csv", header, [rows[i] for i in train_rows])
                test = _write(Path(work) / "test.csv", header, [rows[i] for i in test_rows])
                part = score_ulb(train, test, log, thresholds, seed=seed, **train_args)
                per_fold.append(evaluate_scores(*part, thresholds))
                parts.append(part)
            pooled.append(evaluate_scores(*_pool(parts), thresholds))
    legit = int((labels == 0).sum())
    return {"folds": folds, "repeats": repeats, "rows": int(len(labels)), "fraud": int(labels.sum()),
            "legit_rows_per_fold": legit // folds, "false_positives_allowed_at_0.3pct": {"fold": int(legit // folds * 0.003),
                                                                                         "pooled": int(legit * 0.003)},
            "scorers": _summary(per_fold, pooled)}
