"""Fraud models (trained, exported to ONNX, signed, served by the node's runtime), the train / evaluate /
backtest commands, and the hub's side: lists, verdicts, rules and retraining, synced with an edge."""

from __future__ import annotations

import csv
import json
import shutil

import numpy as np
import pytest

from edge.cli.main import cli
from tests.test_fraud import T0, fraud_app, payment, post  # noqa: F401 (fixtures)

pytestmark = pytest.mark.slow


def planted(n: int, seed: int = 0, fraud_share: float = 0.1, width: int = 6) -> tuple[np.ndarray, np.ndarray]:
    """Rows whose fraud lies far out on the first two columns."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, width)).astype(np.float32)
    y = (rng.random(n) < fraud_share).astype(np.int64)
    X[y == 1, :2] += 4.0
    return X, y


def write_ulb(path, n: int, seed: int) -> None:
    X, y = planted(n, seed, width=30)
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["", "Time", *(f"V{i}" for i in range(1, 29)), "Amount", "Class"])
        for index, (row, label) in enumerate(zip(X, y)):
            writer.writerow([index, *(f"{v:.5f}" for v in row[:29]), f"{abs(row[29]) * 50:.2f}", f'"{label}"'])


@pytest.fixture
def fraud_node(fraud_app):
    return fraud_app.extensions["storefront_edge"]


def tiny_bundle(folder, signing_key, version="1.0.0") -> dict:
    from converters.fraud.bundle import write_bundle
    from converters.fraud.train import train

    X, y = planted(400)
    trained = train(X, y, [f"f{i}" for i in range(6)], folder.parent / f"work-{version}", epochs=3, trees=10,
                    log=lambda m: None)
    write_bundle(folder, trained, version, sign_key=signing_key)
    return trained


def test_the_bundle_models_run_through_the_node_runtime_and_scores_are_calibrated(fraud_node, post, tmp_path, signing_key):
    from converters.fraud.pipeline import scorer_of

    trained = tiny_bundle(tmp_path / "bundle", signing_key)
    fraud_node.registry.install(tmp_path / "bundle")
    fraud_node.watcher.refresh()
    zeros = {f"f{i}": 0.0 for i in range(6)}
    normal = post(payment(features=zeros)).get_json()
    odd = post(payment(features={**zeros, "f0": 6.0, "f1": 6.0}, account_id="other", card_hash="cafe0000cafe0000")).get_json()
    assert normal["bundle"] == "storefront-fraud 1.0.0" and normal["missing_features"] == []
    assert set(normal["model_scores"]) == {"iforest", "autoencoder", "supervised", "anomaly", "combined"}
    assert all(0 <= v <= 100 for v in normal["model_scores"].values())
    assert normal["decision"] == "allow" and odd["decision"] in ("review", "block") and odd["score"] >= 99
    assert odd["model_scores"]["supervised"] > normal["model_scores"]["supervised"]
    X, y = planted(3000, seed=5)
    held_out = scorer_of(trained["work_dir"], trained["files"]).score(X[y == 0])["combined"]
    assert 0.3 < float(np.mean(held_out < 50)) < 0.7, "calibrated: half of unseen legitimate rows score under 50"
    assert post(payment(features={"f0": 1.0}, account_id="third")).get_json()["missing_features"] == [f"f{i}" for i in range(1, 6)]


def test_fraud_evaluate_prints_one_json_object_with_every_scorer(runner, tmp_path):
    write_ulb(tmp_path / "train.csv", 600, 1)
    write_ulb(tmp_path / "test.csv", 400, 2)
    result = runner.invoke(cli, ["fraud", "evaluate", "--train", str(tmp_path / "train.csv"), "--test",
                                 str(tmp_path / "test.csv"), "--epochs", "3", "--trees", "10"])
    assert result.exit_code == 0, result.output
    figures = json.loads(result.stdout)
    for scorer in ("anomaly", "supervised", "decision_chain"):
        assert {"pr_auc", "recall_at_1pct_fpr", "recall_at_0.3pct_fpr", "precision", "recall"} <= set(figures[scorer])
    assert figures["supervised"]["pr_auc"] > 0.8, "the planted fraud is easy to separate"
    assert "training on 600 rows" in result.stderr


def test_fraud_train_refuses_a_csv_in_another_format_in_one_line(runner, tmp_path):
    (tmp_path / "bad.csv").write_text("a,b\n1,2\n")
    result = runner.invoke(cli, ["fraud", "train", "--csv", str(tmp_path / "bad.csv"), "--out", str(tmp_path / "out")])
    assert result.exit_code == 1 and "lacks column(s) Time" in result.output and "Traceback" not in result.output
    result = runner.invoke(cli, ["fraud", "train", "--out", str(tmp_path / "out")])
    assert result.exit_code == 2 and "exactly one of" in result.output


def test_backtest_prints_the_confusion_table_and_what_each_rule_caught(runner, tmp_path):
    from converters.fraud.stream import StreamParams, generate, write_csv

    write_csv(generate(StreamParams(accounts=150, hours=6, rings=3, bursts=4)), tmp_path / "stream.csv")
    (tmp_path / "rules.yaml").write_text(
        "version: bt-1\nrules:\n"
        "  - {id: burst, action: block, when: 'card_count_1m >= 4'}\n"
        "  - {id: ring, action: review, when: 'accounts_per_device >= 3', reason: shared device}\n")
    args = ["fraud", "backtest", "--rules", str(tmp_path / "rules.yaml"), "--csv", str(tmp_path / "stream.csv")]
    text = runner.invoke(cli, args)
    assert text.exit_code == 0, text.output
    assert "label fraud" in text.output and "burst" in text.output and "ring" in text.output
    report = json.loads(runner.invoke(cli, [*args, "--json"]).stdout)
    table = report["confusion"]
    assert sum(table.values()) == report["transactions"] and table["tp"] > 0
    assert report["rules"]["burst"]["fraud"] > 0 and report["rules"]["ring"]["fraud"] > 0
    assert report["rules"]["burst"]["fraud"] >= 0.9 * report["rules"]["burst"]["hits"], "bursts are planted fraud"


def test_hub_lists_verdicts_rules_and_retraining_reach_the_edge(tmp_path, runner, signing_key):
    from edge.sync.worker import sync_once
    from tests.test_sync_support import FlaskTransport, hub_store, make_edge, make_hub, node_of, register

    hub_dir = tmp_path / "hub"
    hub = make_hub(hub_dir, EXTRA_PLUGINS=["plugins.events.plugin", "plugins.fraud.plugin"])
    for trusting in (hub_dir, tmp_path / "edge"):
        (trusting / "keys" / "trusted").mkdir(parents=True, exist_ok=True)
        shutil.copyfile(signing_key.with_suffix(".pub"), trusting / "keys" / "trusted" / "signing.pub")
    edge = make_edge(tmp_path / "edge", register(hub, "store-1", "eu"), PLUGINS=["events", "fraud"],
                     PLUGIN_CONFIG={"fraud": {"clock": "payload", "refresh_seconds": 0}})
    node, client, transport = node_of(edge), edge.test_client(), FlaskTransport(hub)
    hub_args = ["--data-dir", str(hub_dir)]
    try:
        lists = tmp_path / "lists.jsonl"
        lists.write_text('{"id": "b-dev", "list": "block", "kind": "device", "value": "dev-evil"}\n')
        assert runner.invoke(cli, ["hub", "publish", "fraud_lists", str(lists), *hub_args]).exit_code == 0
        sync_once(node, transport)
        blocked = client.post("/v1/fraud/precheck", json=payment(device_id="dev-evil")).get_json()
        assert blocked["decision"] == "block"
        ring = [client.post("/v1/fraud/precheck", json=payment(account_id=f"r{i}", device_id="ring-dev", card_hash=f"ringcard{i:08d}",
                                                             timestamp=T0 + i)).get_json()
                for i in range(5)]
        assert ring[-1]["decision"] == "review"
        sync_once(node, transport)
        on_hub = {row["id"]: row for row in hub_store(hub).rows("fraud_decisions")}
        assert blocked["id"] in on_hub and ring[-1]["id"] in {r["decision_id"] for r in hub_store(hub).rows("fraud_reviews")}

        result = runner.invoke(cli, ["hub", "fraud", "label", ring[-1]["id"], "--verdict", "fraud", "--analyst", "ana", *hub_args])
        assert result.exit_code == 0, result.output
        assert runner.invoke(cli, ["hub", "fraud", "label", "nope", "--verdict", "fraud", *hub_args]).exit_code == 1
        http = hub.test_client().post("/v1/hub/tables/fraud_labels/publish",
                                      json={"upsert": [{"decision_id": ring[0]["id"], "verdict": "legit", "analyst": "bo"}]})
        assert http.status_code == 200, http.get_json()
        sync_once(node, transport)
        near = client.post("/v1/fraud/precheck", json=payment(account_id="new", device_id="ring-dev", timestamp=T0 + 9)).get_json()
        assert near["features"]["fraud_distance"] == 1, "its device was on the payment labelled fraud"
        assert "known-fraud-neighbour" in near["rule_hits"]

        bad = tmp_path / "bad.yaml"
        bad.write_text("rules:\n  - {id: x, action: block, when: 'velocity > 1'}\n")
        refused = runner.invoke(cli, ["hub", "fraud", "rules", str(bad), *hub_args])
        assert refused.exit_code == 1 and "unknown field(s) velocity" in refused.output
        assert hub_store(hub).rows("fraud_rules") == []

        trained = runner.invoke(cli, ["hub", "train", "fraud", "--group", "eu", "--publish", "--sign-key", str(signing_key),
                                      "--min-labels", "2", "--trees", "10", *hub_args])
        assert trained.exit_code == 0, trained.output
        summary = json.loads(trained.stdout)
        assert summary["published"] and summary["version"] == "1.0.0" and summary["labelled"] == 2
        assert any(t["name"] == "storefront-fraud" for t in hub_store(hub).rollout_for("eu")["bundles"])
        sync_once(node, transport)
        node.watcher.refresh()
        scored = client.post("/v1/fraud/precheck", json=payment(account_id="after", timestamp=T0 + 20)).get_json()
        assert scored["bundle"] == "storefront-fraud 1.0.0" and "combined" in scored["model_scores"]
    finally:
        node.close()
        hub_store(hub).close()


def test_fraud_train_writes_a_signed_bundle_with_its_rules_that_a_node_installs(runner, tmp_path, signing_key, fraud_node, post):
    write_ulb(tmp_path / "train.csv", 300, 3)
    (tmp_path / "rules.yaml").write_text("version: shipped-1\nrules:\n  - {id: huge, action: block, when: 'amount > 900'}\n")
    out = tmp_path / "bundle"
    result = runner.invoke(cli, ["fraud", "train", "--csv", str(tmp_path / "train.csv"), "--out", str(out), "--version", "2.0.0",
                                 "--rules", str(tmp_path / "rules.yaml"), "--sign-key", str(signing_key), "--epochs", "2",
                                 "--trees", "5"])
    assert result.exit_code == 0, result.output
    fraud_node.registry.install(out)
    fraud_node.watcher.refresh()
    answer = post(payment(amount=950.0, features={"V1": 0.5})).get_json()
    assert answer["bundle"] == "storefront-fraud 2.0.0" and answer["rules_version"] == "shipped-1"
    assert answer["decision"] == "block" and answer["reasons"][0]["code"] == "rule:huge"
    assert "V2" in answer["missing_features"] and "V1" not in answer["missing_features"]


def test_backtest_refuses_a_csv_without_labels_in_one_line(runner, tmp_path):
    (tmp_path / "r.yaml").write_text("rules: []\n")
    (tmp_path / "t.csv").write_text("timestamp,amount\n1,2\n")
    result = runner.invoke(cli, ["fraud", "backtest", "--rules", str(tmp_path / "r.yaml"), "--csv", str(tmp_path / "t.csv")])
    assert result.exit_code == 1 and "lacks column(s) label" in result.output and "Traceback" not in result.output


def test_two_plugins_subgroups_of_one_name_under_hub_are_joined():
    import click

    from edge.cli.plugin_commands import _joined

    first, second = click.Group("train", help="one"), click.Group("train")
    first.add_command(click.Command("fraud"))
    second.add_command(click.Command("recs"))
    joined = _joined(first, second)
    assert sorted(joined.commands) == ["fraud", "recs"] and joined.help == "one"


def test_concurrent_prechecks_under_gunicorn_are_all_answered_and_logged(tmp_path):
    from concurrent.futures import ThreadPoolExecutor

    import requests

    from edge.cli.main import cli as root
    from tests.servers import gunicorn_node
    from tests.test_fraud import payment as body

    data = tmp_path / "var"
    root.main(["--data-dir", str(data), "init"], standalone_mode=False)
    env = {"STOREFRONT_EDGE_CLIENT_KEY": "k", "STOREFRONT_EDGE_ADMIN_KEY": "ka", "STOREFRONT_EDGE_PLUGINS": "events,fraud"}
    with gunicorn_node(data, env=env, workers=2, log=tmp_path / "node.log") as (base, _):
        def send(i):
            return requests.post(f"{base}/v1/fraud/precheck", json=body(account_id=f"c{i % 9}", event_id=f"ev-{i}", amount=i),
                                 headers={"Authorization": "Bearer k"}, timeout=30)

        with ThreadPoolExecutor(8) as pool:
            answers = list(pool.map(send, range(120)))
        assert [a.status_code for a in answers] == [200] * 120
        assert answers[-1].json()["bundle"] == "storefront-fraud 1.1.0"
    from plugins.fraud.replay import private_store

    db = private_store(data / "store.db")
    assert db.execute("SELECT COUNT(*), COUNT(DISTINCT event_id) FROM fraud_decisions").fetchone() == (120, 120)
    from plugins.fraud import velocity

    blob = db.execute("SELECT state FROM fraud_rolling WHERE entity = 'default/card:c0ffee00c0ffee00'").fetchone()[0]
    assert sum(n for n, _ in velocity.unpack(blob)[2].values()) == 120, "every payment counted once in the card's day window"
    db.close()


def test_the_isolation_forest_exports_as_one_tree_ensemble_op_scoring_as_scikit_learn(tmp_path):
    import onnx
    from sklearn.ensemble import IsolationForest

    from converters.fraud.iforest_onnx import check_against, export_forest

    X, _ = planted(600, seed=3)
    forest = IsolationForest(n_estimators=30, max_samples=128, max_features=0.5, random_state=0).fit(X)
    export_forest(forest, X.shape[1], tmp_path / "forest.onnx")
    ops = [node.op_type for node in onnx.load(tmp_path / "forest.onnx").graph.node]
    assert ops.count("TreeEnsembleRegressor") == 1 and len(ops) < 15
    far = X + np.where(np.arange(X.shape[1]) < 2, 6.0, 0.0).astype(np.float32)  # outliers too
    assert check_against(forest, tmp_path / "forest.onnx", np.vstack([X, far])) < 1e-5


def test_the_blend_of_anomaly_and_supervised_scores_is_chosen_on_training_rows_alone(tmp_path):
    from converters.fraud.train import BLEND_GRID, WEIGHTS, train

    X, y = planted(400)
    X[y == 1, 2] += 6.0  # fraud the labels separate far better than an outlier score does
    quiet = lambda message: None  # noqa: E731
    chosen = train(X, y, [f"f{i}" for i in range(6)], tmp_path / "validated", epochs=3, trees=10, log=quiet)["spec"]
    fixed = train(X, y, [f"f{i}" for i in range(6)], tmp_path / "fixed", epochs=3, trees=10, log=quiet, blend="fixed")["spec"]
    assert chosen["weights"]["supervised"] in BLEND_GRID and set(chosen["weight_selection"]["grid"]) == {str(s) for s in BLEND_GRID}
    assert chosen["weight_selection"]["held_out_fraud"] == int(y.sum()) // 4
    assert fixed["weights"] == WEIGHTS and fixed["weight_selection"] == {"blend": "fixed"}
    assert not (tmp_path / "validated" / "fraud_gbm.provisional.onnx").exists()


def test_the_node_runs_the_three_models_as_one_graph_scoring_as_they_do_apart(tmp_path, signing_key):
    from edge.runtime import load_model
    from plugins.fraud.scoring import ENSEMBLE, MODELS, Scorer

    trained = tiny_bundle(tmp_path / "bundle", signing_key)
    models = {role: load_model(MODELS[role], path) for role, path in trained["files"].items()}
    ensemble = load_model(ENSEMBLE, tmp_path / "bundle" / "fraud_ensemble.onnx")
    X = planted(60, seed=9)[0]
    apart = Scorer.from_dir(tmp_path / "bundle", models).score(X, with_raw=True)
    together = Scorer.from_dir(tmp_path / "bundle", models, ensemble=ensemble).score(X, with_raw=True)
    assert set(apart) == set(together) and {"raw_iforest", "raw_autoencoder", "raw_supervised", "combined"} <= set(apart)
    for role, values in apart.items():
        assert np.allclose(values, together[role], atol=1e-6), role
    assert [t["name"] for t in ensemble.signature()["inputs"]] == ["X"]


def _node_with_bundle(data_dir, bundle, config: dict):
    from edge.app import create_app

    from tests.conftest import ADMIN_KEY, CLIENT_KEY

    app = create_app({"DATA_DIR": str(data_dir), "PLUGINS": ["fraud"], "CLIENT_KEY": CLIENT_KEY, "ADMIN_KEY": ADMIN_KEY,
                      "PLUGIN_CONFIG": {"fraud": config}}, watch=False)
    node = app.extensions["storefront_edge"]
    node.registry.install(bundle)
    node.watcher.refresh()
    return app, node


def test_the_models_score_a_payment_while_the_write_lock_is_free(tmp_path, data_dir, signing_key, client_headers,
                                                                   monkeypatch):
    from edge import store
    from plugins.fraud import scoring

    tiny_bundle(tmp_path / "bundle", signing_key)
    app, node = _node_with_bundle(data_dir, tmp_path / "bundle", {"clock": "payload", "refresh_seconds": 0})
    seen, real_score = [], scoring.Scorer.score

    def watched(self, matrix, with_raw=False):  # the real models run; this notes what the scoring thread holds
        conn = node.db().conn
        seen.append({"in_transaction": conn.in_transaction, "writer_queue_held": store._writer_lock(conn)[0].locked()})
        return real_score(self, matrix, with_raw)

    monkeypatch.setattr(scoring.Scorer, "score", watched)
    try:
        zeros = {f"f{i}": 0.0 for i in range(6)}
        answer = app.test_client().post("/v1/fraud/precheck", json=payment(features=zeros), headers=client_headers)
        assert answer.status_code == 200 and answer.get_json()["bundle"] == "storefront-fraud 1.0.0"
        assert seen == [{"in_transaction": False, "writer_queue_held": False}]  # scored once, outside the write lock
        logged = node.db().execute("SELECT model_scores, features FROM fraud_decisions").fetchone()
        assert json.loads(logged[0]) == answer.get_json()["model_scores"] and json.loads(logged[1])["card_count_1m"] == 1
    finally:
        node.close()


def test_concurrent_prechecks_scored_outside_the_lock_answer_as_the_same_payments_one_by_one_in_their_commit_order(
        tmp_path, data_dir, signing_key, client_headers):
    import shutil
    import threading

    tiny_bundle(tmp_path / "bundle", signing_key)
    config = {"clock": "payload", "refresh_seconds": 0, "upkeep_seconds": 0}
    app, node = _node_with_bundle(data_dir, tmp_path / "bundle", config)
    threads, sent = 6, []

    def body(round_: int, i: int) -> dict:  # one card and device, several accounts: bursts and shared devices
        return payment(account_id=f"acct-{round_}-{i % 3}", amount=float(1 + i), event_id=f"ev-{round_}-{i}",
                       features={f"f{k}": float(i % 2) * 3 for k in range(6)}, timestamp=T0 + 30 * round_)

    def send(round_: int, i: int, start: threading.Barrier) -> None:
        client = app.test_client()
        start.wait()
        answer = client.post("/v1/fraud/precheck", json=body(round_, i), headers=client_headers)
        assert answer.status_code == 200, answer.get_json()
        sent.append(answer.get_json())

    try:
        for round_ in range(10):  # until payments raced between their preview and their commit (bounded)
            start = threading.Barrier(threads)
            workers = [threading.Thread(target=send, args=(round_, i, start)) for i in range(threads)]
            for worker in workers:
                worker.start()
            for worker in workers:
                worker.join()
            if node.metrics.event_count("fraud", "rescored") and round_ >= 1:
                break
        assert len(sent) == threads * (round_ + 1) and node.metrics.event_count("fraud", "rescored") > 0
        exposed = app.test_client().get("/metrics").get_data(as_text=True)
        counted = f'storefront_edge_plugin_events_total{{event="rescored",plugin="fraud"}} ' \
                  f'{node.metrics.event_count("fraud", "rescored")}'
        assert counted in exposed  # operators see the re-scores: each one, in /metrics
        logged = [(i, json.loads(p)) for i, p in node.db().execute("SELECT id, payload FROM fraud_decisions ORDER BY rowid")]
    finally:
        node.close()
    replay_dir = tmp_path / "replay"
    shutil.copytree(data_dir / "keys", replay_dir / "keys")
    again, other = _node_with_bundle(replay_dir, tmp_path / "bundle", config)
    try:
        client = again.test_client()
        one_by_one = [client.post("/v1/fraud/precheck", json=body, headers=client_headers).get_json() for _, body in logged]
    finally:
        other.close()
    fields = ("decision", "score", "reasons", "rule_hits", "model_scores", "features")
    answered = {answer["id"]: answer for answer in sent}
    assert len(logged) == len(answered) == len(sent)
    assert len({a["decision"] for a in one_by_one}) >= 2, "the payments are not all decided alike"
    for (decision_id, body), alone in zip(logged, one_by_one):
        assert {f: answered[decision_id][f] for f in fields} == {f: alone[f] for f in fields}, body["event_id"]
