"""``storefront-edge recommend train|evaluate|export-events`` and ``hub train recommend`` (SQLite and PostgreSQL hubs)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from edge.cli.main import cli
from edge.sync.worker import sync_once
from tests import recommend_helpers as rh
from tests.pg_server import hub_backend, pg_server  # noqa: F401 (fixtures)
from tests.test_sync_support import FlaskTransport, hub_store, make_edge, make_hub, node_of, register

TRAINING = ["--seconds", "600", "--epochs", "2"]  # epochs bound the training, not the clock


def write_diginetica(path, sessions, start_session=1, day="2016-04-01", seed=0):
    """Item views in DIGINETICA's format: sessions walk a chain of items (item n is followed by n+1 or n+2)."""
    rng = np.random.default_rng(seed)
    lines = ["session_id;user_id;item_id;timeframe;eventdate"]
    for s in range(start_session, start_session + sessions):
        item = int(rng.integers(0, 30))
        for step in range(int(rng.integers(2, 6))):
            lines.append(f"{s};NA;{item};{step * 1000 + 5};{day}")
            item = (item + int(rng.integers(1, 3))) % 40
    path.write_text("\n".join(lines) + "\n")
    return path


def test_evaluate_prints_every_recommenders_figures_as_one_json_object(runner, tmp_path):
    train = write_diginetica(tmp_path / "train.csv", 300)
    test = write_diginetica(tmp_path / "test.csv", 60, start_session=1000, day="2016-04-20", seed=1)
    result = runner.invoke(cli, ["recommend", "evaluate", "--train", str(train), "--test", str(test), "--k", "20", *TRAINING])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    for name in ("popularity", "item_knn", "session_knn", "sequential", "blend"):
        assert set(report[name]) >= {"hr@20", "mrr@20", "coverage", "long_tail_share"}, name
    assert report["item_knn"]["hr@20"] > report["popularity"]["hr@20"], "the chains are learnt, not guessed"
    assert report["test_prefixes"] > 0 and "sequential: epoch" in result.stderr


def test_train_writes_a_bundle_from_an_event_export(runner, tmp_path):
    from converters.recommend.events import write_export
    from converters.recommend.synthetic import catalog_categories, synthetic_rows
    from edge.bundles.signing import generate_keypair

    events = tmp_path / "events.csv"
    write_export(synthetic_rows(catalog_categories(rh.write_catalog_csv(tmp_path / "c.csv", rh.catalog_rows())),
                                sessions=150), events)
    private, _ = generate_keypair(tmp_path / "keys")
    result = runner.invoke(cli, ["recommend", "train", "--events", str(events), "--out", str(tmp_path / "b"),
                                 "--sign-key", str(private), "--version", "2.1.0", *TRAINING])
    assert result.exit_code == 0, result.output
    manifest = json.loads((tmp_path / "b" / "manifest.json").read_text())
    assert manifest["name"] == "storefront-recs" and manifest["version"] == "2.1.0"
    assert "recs_sequence" in manifest["models"] and (tmp_path / "b" / "manifest.sig").is_file()


@pytest.mark.parametrize("text", ["a,b,c\n1,2,3\n", "session_id;user_id;item_id;timeframe;eventdate\n1;NA;5;x;2016-01-01\n",
                                  "id,kind,payload,created_at,origin\nbroken\n"])
def test_malformed_event_files_fail_in_one_line(runner, tmp_path, text):
    bad = tmp_path / "bad.csv"
    bad.write_text(text)
    result = runner.invoke(cli, ["recommend", "train", "--events", str(bad), "--out", str(tmp_path / "o"), *TRAINING])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1
    missing = runner.invoke(cli, ["recommend", "evaluate", "--train", str(tmp_path / "none.csv"), "--test", str(bad)])
    assert missing.exit_code == 2


def test_export_events_writes_what_train_reads(runner, data_dir):
    from converters.recommend.events import read_sessions
    from edge.app import create_app

    app = create_app({"DATA_DIR": str(data_dir), "PLUGINS": ["events"]}, watch=False)
    client = app.test_client()
    assert client.post("/v1/events", json=[{"kind": "view", "session_id": "s", "sku": "a"},
                                           {"kind": "cart", "session_id": "s", "sku": "b"},
                                           {"kind": "handoff"}]).status_code == 201
    app.extensions["storefront_edge"].close()
    out = data_dir / "export.csv"
    result = runner.invoke(cli, ["--data-dir", str(data_dir), "recommend", "export-events", "--out", str(out)])
    assert result.exit_code == 0 and "exported 3 events" in result.output
    [session] = read_sessions(out)
    assert session.items == ["a", "b"] and session.kinds == ["view", "cart"]


@pytest.mark.slow
def test_hub_train_recommend_trains_on_its_groups_events_and_publishes(runner, tmp_path, hub_backend):
    from edge.bundles.signing import generate_keypair

    hub = make_hub(tmp_path / "hub", hub_backend.url)
    try:
        private, public = generate_keypair(tmp_path / "hub" / "keys")
        rh.trust(tmp_path / "hub", public)
        edge = make_edge(tmp_path / "edge", register(hub, "store-1", group="north"), PLUGINS=["events"])
        other = make_edge(tmp_path / "other", register(hub, "store-2", group="south"), PLUGINS=["events"])
        north = [{"kind": "view", "session_id": f"n{s}", "sku": f"n-{(s + i) % 7}"} for s in range(40) for i in range(3)]
        assert edge.test_client().post("/v1/events", json=north).status_code == 201
        assert other.test_client().post("/v1/events", json=[{"kind": "view", "session_id": "x", "sku": "south-only"}] * 2
                                        ).status_code == 201
        for app in (edge, other):
            sync_once(node_of(app), FlaskTransport(hub))
            node_of(app).close()
        args = ["hub", "train", "recommend", "--group", "north", "--publish", "--data-dir", str(tmp_path / "hub"), *TRAINING]
        if hub_backend.url:
            args += ["--database-url", hub_backend.url]
        result = runner.invoke(cli, args)
        assert result.exit_code == 0, result.output
        assert "published storefront-recs" in result.stdout
        built = json.loads(next((tmp_path / "hub" / "recs-build").glob("*/recs.json")).read_text())
        assert "south-only" not in built["items"] and set(built["items"]) == {f"n-{i}" for i in range(7)}
        rollout = hub_store(hub).rollout_for("north")
        assert "storefront-recs" in json.dumps(rollout)
        empty = runner.invoke(cli, [*args[:4], "nowhere", *args[5:]])
        assert empty.exit_code == 1 and "no node is registered in group 'nowhere'" in empty.output
    finally:
        hub_store(hub).close()
