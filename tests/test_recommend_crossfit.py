"""Leave-group-out folds of the learned blend's training rows and the validation counts that compare designs."""

from __future__ import annotations

import numpy as np

from converters.recommend import crossfit, reranker
from converters.recommend.evaluate import Case
from converters.recommend.events import Session
from converters.recommend.tables import build_tables


def _sessions(n: int = 40) -> list[Session]:
    """Sessions walking a ring of 12 items (each one the next of the one before), in time order."""
    return [Session(f"s{k}", None, [f"i{(k + j) % 12}" for j in range(4)], [float(k * 100 + j) for j in range(4)])
            for k in range(n)]


def test_every_recent_session_is_held_out_once_and_never_in_its_own_rest():
    sessions = _sessions(30)
    dealt = crossfit.deal(sessions, groups=4, max_sessions=20)
    held = [s.key for _, group in dealt for s in group]
    assert sorted(held) == sorted(s.key for s in sessions[-20:]), "the 20 most recent, each in one group"
    for rest, group in dealt:
        assert not {s.key for s in rest} & {s.key for s in group}
        assert len(rest) + len(group) == len(sessions)
        assert {s.key for s in sessions[:10]} <= {s.key for s in rest}, "older sessions always train"
        assert min(s.end for s in group) < sessions[-5].end, "a group spans the period, not only its end"


def test_group_folds_score_each_group_with_tables_that_never_saw_it():
    sessions = _sessions(40)
    folds = crossfit.group_folds(sessions, groups=4, max_sessions=40, seconds=4.0, epochs=1)
    assert len(folds) == 4
    assert sum(len(cases) for _, cases in folds) == 40 * 3, "every prefix of every session, once"
    for (tables, cases), (rest, group) in zip(folds, crossfit.deal(sessions, groups=4, max_sessions=40)):
        trained = [tuple(tables.sessions.row(r)[0].tolist()) for r in range(tables.sessions.rows)]
        assert trained == [tuple(dict.fromkeys(tables.index[i] for i in s.items)) for s in rest], \
            "the kNN sessions are the rest, the held-out group none of them"
        assert tables.counts.sum() == 4 * len(rest)
        assert all(len(c.candidates) for c in cases)
    X, y = reranker.training_rows(*folds[0])
    assert y.any() and not y.all()


def _case(rng, right: str) -> Case:
    """Six candidates scored at random by ``stan`` and ``sequence``; the next item is ``right``'s best."""
    candidates = np.sort(rng.choice(np.arange(2, 12), size=6, replace=False)).astype(np.int64)
    matrix = rng.uniform(0.05, 1.0, size=(6, 2)).astype(np.float32)
    names = ["stan", "sequence"]
    return Case(candidates, matrix, names, int(candidates[matrix[:, names.index(right)].argmax()]), [0, 1])


def test_held_out_hits_count_each_fold_ranked_by_a_model_fitted_on_the_others():
    tables, rng = build_tables(_sessions(40)), np.random.default_rng(0)
    folds = [(tables, [_case(rng, "sequence") for _ in range(60)]) for _ in range(3)]
    fitted = []

    def fit(X, y):
        from sklearn.linear_model import LogisticRegression

        fitted.append(len(y))

        model = LogisticRegression(max_iter=2000).fit(X, y)
        return lambda rows: model.predict_proba(rows)[:, 1]

    found = crossfit.held_out_hits(folds, fit, k=1)
    assert fitted == [2 * 60 * 6] * 3, "each model sees the two other folds' rows only"
    assert len(found) == 3 and min(found) >= 54, found
    blind = crossfit.hits(*folds[0], lambda rows: np.ones(len(rows), np.float32), k=1)
    assert blind < 30, "ranking without the right scorer hits far less"
