"""Leave-group-out folds for the learned blend's training rows, and the validation figures that compare designs.

The learned blend is trained on time folds (:mod:`.train`): tables of the earlier sessions score the
prefixes of the later ones, which leaves few positive rows on a small store (about 150 on the DIGINETICA
sample). :func:`group_folds` gives rows for every prefix of the most recent ``max_sessions`` sessions
instead: those sessions are dealt into ``groups`` groups in turn (each group spans the whole period), and
each group's prefixes are scored by tables and a sequential model trained on every other session (the
other groups and the older sessions, so no session scores itself: leave-one-session-out in groups, the
only form that also keeps a session out of its own sequential model).

:func:`held_out_hits` cross-validates a ranker design over such folds (each fold ranked by a model fitted
on the others) and :func:`hits` counts one fold's hits: what chooses between designs on validation only.
"""

from __future__ import annotations

import sys

import numpy as np

from plugins.recommend import rerank

from . import evaluate

GROUPS = 5
MAX_SESSIONS = 2000


def deal(sessions, groups: int = GROUPS, max_sessions: int = MAX_SESSIONS) -> list[tuple[list, list]]:
    """``(rest, held)`` per group: the most recent ``max_sessions`` sessions dealt into ``groups`` in turn;
    ``rest`` is every session outside the group (in their order)."""
    start = max(0, len(sessions) - max_sessions)
    group_of = [-1] * start + [(i - start) % groups for i in range(start, len(sessions))]
    return [([s for s, k in zip(sessions, group_of) if k != g], [s for s, k in zip(sessions, group_of) if k == g])
            for g in range(groups)]


def group_folds(sessions, *, groups: int = GROUPS, max_sessions: int = MAX_SESSIONS, seconds: float = 60.0,
                epochs: int = 40, log=None) -> list:
    """``(tables, cases)`` per group of :func:`deal`: models trained on the rest (``seconds / groups`` each for the
    sequential model), cases from the group's prefixes. Groups whose rest is too small to train on are left out."""
    from .train import train_models

    log = log or sys.stderr
    folds = []
    for rest, held in deal(sessions, groups, max_sessions):
        if len(rest) < 2 or not held:
            continue
        tables, model = train_models(rest, seconds=seconds / groups, epochs=epochs, log=log)
        folds.append((tables, evaluate.build_cases(tables, model, evaluate.test_prefixes(held, tables.index), log=log)))
    return folds


def hits(tables, cases, predict, k: int = 20) -> int:
    """How many of ``cases`` have their next item in the learned blend's top ``k`` (``predict``: feature rows to
    probabilities)."""
    found = 0
    for case in cases:
        if not len(case.candidates):
            continue
        probability = predict(evaluate.case_features(tables, case))
        ranked = rerank.rank_learned(tables, case.session, case.candidates, case.matrix, case.names, None, {}, 0.0,
                                     probability)[0]
        found += int(case.target in ranked[:k])
    return found


def held_out_hits(folds, fit, k: int = 20) -> list[int]:
    """Per fold, the hits of the model ``fit(X, y)`` (returning a ``predict``) fitted on the other folds' rows."""
    from .reranker import training_rows

    rows = [training_rows(tables, cases) for tables, cases in folds]
    found = []
    for held, (tables, cases) in enumerate(folds):
        X = np.vstack([r[0] for i, r in enumerate(rows) if i != held])
        y = np.concatenate([r[1] for i, r in enumerate(rows) if i != held])
        found.append(hits(tables, cases, fit(X, y), k))
    return found
