"""The learned blend: its features, its training on validation prefixes, its ONNX export, the bundle and the node."""

from __future__ import annotations

import json

import numpy as np
import pytest

from converters.recommend import reranker
from converters.recommend.evaluate import Case
from converters.recommend.events import Session
from converters.recommend.tables import build_tables
from plugins.recommend import rerank, scoring
from tests import recommend_helpers as rh
from tests.conftest import ADMIN_KEY, CLIENT_KEY


def _tables():
    sessions = [Session(f"s{n}", None, [f"i{(n + j) % 12}" for j in range(4)], [float(n * 10 + j) for j in range(4)])
                for n in range(60)]
    return build_tables(sessions)


def _case(tables, rng, target_from: str):
    """A prefix whose candidates are scored by ``stan`` and ``sequence`` at random; the next item is the best of
    ``target_from``'s column."""
    candidates = np.sort(rng.choice(np.arange(2, 12), size=6, replace=False)).astype(np.int64)
    matrix = rng.uniform(0.05, 1.0, size=(6, 2)).astype(np.float32)
    names = ["stan", "sequence"]
    return Case(candidates, matrix, names, int(candidates[matrix[:, names.index(target_from)].argmax()]), [0, 1])


def test_features_have_one_row_per_candidate_and_mark_the_sessions_own_items():
    tables = _tables()
    candidates, matrix = np.array([1, 5, 7]), np.array([[1.0, 0.0], [0.5, 0.2], [0.0, 1.0]], np.float32)
    rows = rerank.features(tables, [5, 1, 5], candidates, matrix, ["stan", "sequence"])
    column = {name: rows[:, i] for i, name in enumerate(rerank.FEATURES)}
    assert rows.shape == (3, len(rerank.FEATURES))
    assert column["session_views"].tolist() == [1, 2, 0] and column["is_last"].tolist() == [0, 1, 0]
    assert column["views_ago"].tolist() == [1, 0, rerank.NOT_SEEN]
    assert np.exp(column["rank_stan"]).round().tolist() == [1, 2, rerank.MISSING_RANK]
    assert np.exp(column["rank_sequence"]).round().tolist() == [rerank.MISSING_RANK, 2, 1]
    partners, weights = scoring.covisit_row(tables, 5)
    expected = [float(weights[partners.tolist().index(c)] / weights[0]) if c in partners else 0.0 for c in (1, 5, 7)]
    assert column["covisit_last"].tolist() == pytest.approx(expected) and max(expected) > 0
    assert (column["covisit_any"] >= column["covisit_last"]).all()


def test_the_learned_blend_follows_the_scorer_that_validation_showed_right():
    tables, rng = _tables(), np.random.default_rng(0)
    model = reranker.fit([(tables, [_case(tables, rng, "sequence") for _ in range(300)])])
    predict, weights = reranker.OnnxScorer(model), {"stan": 1.0, "sequence": 0.1}
    hits = {"learned": 0, "linear": 0}
    for _ in range(100):
        case = _case(tables, rng, "sequence")
        learned = rerank.rank_learned(tables, case.session, case.candidates, case.matrix, case.names, predict, weights)[0]
        linear = scoring.rank(case.candidates, case.matrix, case.names, weights)[0]
        hits["learned"] += learned[0] == case.target
        hits["linear"] += linear[0] == case.target
    assert hits["learned"] >= 90 > hits["linear"], hits


def test_the_sessions_own_items_come_first_the_most_recent_first():
    tables = _tables()
    candidates, matrix = np.array([2, 3, 4, 6]), np.array([[0.1], [1.0], [0.4], [0.9]], np.float32)
    by_stan = lambda rows: rows[:, rerank.FEATURES.index("score_stan")]  # noqa: E731
    ranked = rerank.rank_learned(tables, [4, 2, 9], candidates, matrix, ["stan"], by_stan, {})[0]
    assert ranked.tolist() == [2, 4, 3, 6]
    again = rerank.rank_learned(tables, [4, 2, 9, 4], candidates, matrix, ["stan"], by_stan, {})[0]
    assert again.tolist() == [4, 2, 3, 6], "an item viewed again counts from its last view"


def test_no_learned_blend_without_both_labels():
    tables = _tables()
    case = Case(np.array([2, 3]), np.ones((2, 1), np.float32), ["stan"], 9, [0])  # the next item is no candidate
    assert reranker.fit([(tables, [case])]) is None


@pytest.fixture(scope="module")
def learned_bundle(tmp_path_factory):
    from edge.bundles.signing import generate_keypair

    folder = tmp_path_factory.mktemp("recs-learned")
    private, public = generate_keypair(folder / "keys")
    return rh.train_bundle(folder / "train", private), private, public


def test_the_bundle_carries_the_learned_blend_and_its_columns(learned_bundle):
    from plugins.recommend.artifacts import RERANK_FILE, RERANK_NAME, load_tables

    bundle, _, _ = learned_bundle
    manifest = json.loads((bundle / "manifest.json").read_text())
    tables, summary = load_tables(bundle)
    assert manifest["models"][RERANK_NAME]["file"] == RERANK_FILE
    assert tables.params.blend == "learned" == summary["blend"]
    assert tuple(tables.params.rerank_features) == rerank.FEATURES
    rows = np.random.default_rng(1).uniform(0, 1, (7, len(rerank.FEATURES))).astype(np.float32)
    scores = reranker.OnnxScorer((bundle / RERANK_FILE).read_bytes())(rows)
    assert scores.shape == (7,) and ((scores >= 0) & (scores <= 1)).all()


def _least_popular_first_model() -> bytes:
    """An ONNX learned blend that prefers the candidates with the fewest interactions, whatever else they score."""
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(2)
    X = rng.uniform(0, 5, (4000, len(rerank.FEATURES))).astype(np.float32)
    y = X[:, rerank.FEATURES.index("log_count")] + rng.normal(0, 0.5, len(X)) < 2.5
    model = LogisticRegression(C=1.0, max_iter=2000).fit(X, y)
    assert model.coef_[0].argmin() == rerank.FEATURES.index("log_count")
    return reranker._to_onnx(model, X.shape[1])


def test_the_node_ranks_with_the_bundles_learned_blend(learned_bundle, data_dir, tmp_path):
    import shutil

    from edge.app import create_app
    from edge.bundles.signing import sign_bundle
    from plugins.recommend.artifacts import RERANK_FILE, load_tables

    bundle, private, public = learned_bundle
    swapped = tmp_path / "bundle"
    shutil.copytree(bundle, swapped)
    (swapped / RERANK_FILE).write_bytes(_least_popular_first_model())
    manifest = json.loads((swapped / "manifest.json").read_text())
    from edge.bundles.builder import build_manifest

    build_manifest(swapped)
    sign_bundle(swapped, private)
    rh.trust(data_dir, public)
    app = create_app({"DATA_DIR": str(data_dir), "PLUGINS": ["catalog", "events", "recommend"], "CLIENT_KEY": CLIENT_KEY,
                      "ADMIN_KEY": ADMIN_KEY, "PLUGIN_CONFIG": {"recommend": {"catalog_refresh_s": 0, "max_per_category": 100,
                                                                              "long_tail_bonus": 0.0}}}, watch=False)
    node = app.extensions["storefront_edge"]
    try:
        rh.put_catalog(node.db(), rh.catalog_rows())
        node.registry.install(swapped)
        node.watcher.refresh()
        tables, _ = load_tables(swapped)
        history = ["fruit-0", "fruit-1"]
        response = app.test_client().post("/v1/recommendations", json={"skus": history[:1], "sku": history[1], "k": 12},
                                          headers={"Authorization": f"Bearer {CLIENT_KEY}"})
        assert response.status_code == 200, response.get_json()
        results = [r["sku"] for r in response.get_json()["results"]]
        counts = [float(tables.counts[tables.index[s]]) for s in results if s not in history]
        assert len(counts) >= 5 and counts == sorted(counts), counts
        node.plugin_config("recommend").learned_blend = False  # the setting: the tuned linear blend ranks instead
        linear = app.test_client().post("/v1/recommendations", json={"skus": history[:1], "sku": history[1], "k": 12},
                                        headers={"Authorization": f"Bearer {CLIENT_KEY}"}).get_json()["results"]
        linear_counts = [float(tables.counts[tables.index[r["sku"]]]) for r in linear if r["sku"] not in history]
        assert linear_counts != sorted(linear_counts), linear_counts
        assert manifest["name"] == "storefront-recs"
    finally:
        node.close()


def _session_figures_by_hand(session, candidate):
    """``session_views``, ``views_ago`` and ``is_last`` of one candidate, read off the session item by item."""
    newest_first = list(reversed(session))
    ago = newest_first.index(candidate) if candidate in newest_first else rerank.NOT_SEEN
    return [newest_first.count(candidate), min(ago, rerank.NOT_SEEN), float(bool(newest_first) and newest_first[0] == candidate)]


def test_the_session_columns_match_the_session_read_item_by_item():
    tables, rng = _tables(), np.random.default_rng(4)
    columns = [rerank.FEATURES.index(n) for n in ("session_views", "views_ago", "is_last")]
    for length in (0, 1, 3, 12, 70):
        session = rng.integers(0, 15, length).tolist()  # repeats, and items the tables never saw (12-14)
        candidates = np.unique(rng.integers(0, 16, 9)).astype(np.int64)
        matrix = rng.uniform(0, 1, (len(candidates), 1)).astype(np.float32)
        rows = rerank.features(tables, session, candidates, matrix, ["stan"])[:, columns]
        assert rows.tolist() == [_session_figures_by_hand(session, c) for c in candidates.tolist()], session


def test_the_popularity_column_is_the_share_of_the_best():
    tables = _tables()
    candidates = np.arange(len(tables.items) + 2, dtype=np.int64)  # two items the tables never saw
    rows = rerank.features(tables, [0], candidates, np.ones((len(candidates), 1), np.float32), ["stan"])
    popularity = rows[:, rerank.FEATURES.index("popularity")]
    assert popularity[:-2].tolist() == pytest.approx((tables.popularity / tables.popularity.max()).tolist())
    assert popularity.max() == pytest.approx(1.0) and popularity[-2:].tolist() == [0.0, 0.0]
