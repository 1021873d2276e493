"""Learned-blend design trials on the DIGINETICA sample's training split (validation only; the test split unused).

Folds as ``recommend train`` tunes (:mod:`converters.recommend.train`): the later time fold (tables of the
first 75 % of the training sessions, prefixes of the last 25 %) is the validation set, the earlier time fold
is what the shipped design learns from; the leave-group-out folds (:mod:`converters.recommend.crossfit`)
over the first 75 % give about four times the positive rows. Reported: the later fold's hits per training
rows and model, the hits cross-validated over the group folds per model, and a learning curve (a logistic
regression fitted on 1, 2 and 4 groups, the mean hits on a held-out group).
"""

from __future__ import annotations

import itertools
import sys

import numpy as np


def _logistic(X, y):
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return _predictor(make_pipeline(StandardScaler(), LogisticRegression(max_iter=5000)).fit(X, y))


def _boosted(X, y):
    from sklearn.ensemble import HistGradientBoostingClassifier

    return _predictor(HistGradientBoostingClassifier(max_iter=150, max_leaf_nodes=7, learning_rate=0.05,
                                                     l2_regularization=1.0, min_samples_leaf=100, random_state=0).fit(X, y))


def _mlp(X, y):
    from sklearn.neural_network import MLPClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return _predictor(make_pipeline(StandardScaler(), MLPClassifier((32,), alpha=1e-3, max_iter=500, early_stopping=True,
                                                                    random_state=0)).fit(X, y))


def _predictor(model):
    return lambda features: model.predict_proba(features)[:, 1].astype(np.float32)


MODELS = {"logistic": _logistic, "boosted_trees": _boosted, "mlp_32": _mlp}


def _rows(folds):
    from converters.recommend.reranker import training_rows

    parts = [training_rows(tables, cases) for tables, cases in folds]
    return np.vstack([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


def _learning_curve(groups) -> dict:
    """Mean hits of a held-out group by a logistic regression fitted on 1, 2 and 4 of the other groups."""
    from converters.recommend.crossfit import hits

    curve = {}
    for size in (1, 2, 4):
        found = []
        for held in range(len(groups)):
            others = [i for i in range(len(groups)) if i != held]
            for pick in list(itertools.combinations(others, size))[:2]:
                found.append(hits(*groups[held], _logistic(*_rows([groups[i] for i in pick]))))
        curve[f"{size}_groups"] = round(float(np.mean(found)), 1) if found else None
    return curve


def run(train_csv, seconds: float = 300.0, log=None) -> dict:
    """Every trial's figures (hits out of ``prefixes``) on the sessions of ``train_csv``."""
    from converters.recommend import crossfit, train
    from converters.recommend.events import read_sessions

    log = log or sys.stderr
    (later, head) = train._fold(read_sessions(train_csv), seconds=seconds / 2, epochs=40, log=log)
    earlier = train._fold(head, seconds=seconds / 4, epochs=40, log=log)[0]
    groups = crossfit.group_folds(head, seconds=seconds / 2, log=log)
    row_sets = {"time_fold": [earlier], "groups": groups, "groups_and_time_fold": groups + [earlier]}
    rows = {name: _rows(folds) for name, folds in row_sets.items()}  # stacked once, not once per model
    report = {"later_fold_prefixes": len(later[1]), "group_prefixes": sum(len(c) for _, c in groups),
              "positive_rows": {name: int(y.sum()) for name, (_, y) in rows.items()}}
    report["later_fold_hits"] = {f"{name}/{model}": crossfit.hits(*later, fit(*rows[name]))
                                 for name in row_sets for model, fit in MODELS.items()}
    report["group_cross_validated_hits"] = {model: sum(crossfit.held_out_hits(groups, fit)) for model, fit in MODELS.items()}
    report["learning_curve_mean_hits_per_group"] = _learning_curve(groups)
    return report
