"""The fraud upkeep thread's WAL checkpoints: off the request path, one per node, the WAL bounded, a reader that
holds the WAL back detected. Real SQLite files and real commits (prechecks through the app); the frame counts
come from the store's wal-index, never from a clock."""

from __future__ import annotations

import logging
import threading

import pytest

from plugins.fraud.service import FraudConfig
from plugins.fraud.upkeep import Checkpointer, Upkeep, wal_index

from tests.test_fraud import T0, payment

VALVE = 1500
FINISH = 60


def _app(data_dir, upkeep_seconds: float):
    from edge.app import create_app

    from tests.conftest import ADMIN_KEY, CLIENT_KEY

    config = {"clock": "payload", "refresh_seconds": 0, "upkeep_seconds": upkeep_seconds, "wal_autocheckpoint": VALVE,
              "checkpoint_finish_pages": FINISH, "prune_every": 10_000_000}
    return create_app({"DATA_DIR": str(data_dir), "PLUGINS": ["fraud"], "CLIENT_KEY": CLIENT_KEY, "ADMIN_KEY": ADMIN_KEY,
                       "PLUGIN_CONFIG": {"fraud": config}}, watch=False)


def _prechecks(app, headers, count: int, every: int = 0, checkpointer=None) -> dict:
    """Post ``count`` prechecks; every ``every`` of them start a checkpoint round that runs while the next ones commit.
    The WAL's frame count after each commit, its largest value and the restarts seen."""
    client, path = app.test_client(), app.extensions["storefront_edge"].store.path
    frames, salts, rounds, running = [], set(), [], None
    for i in range(count):
        body = payment(account_id=f"acct-{i}", card_hash=f"cafe{i:012d}", device_id=f"dev-{i % 40}", ip=f"10.9.{i % 200}.1",
                       timestamp=T0 + i)
        assert client.post("/v1/fraud/precheck", json=body, headers=headers).status_code == 200
        index = wal_index(path)
        frames.append(index["frames"])
        salts.add(index["salt"])
        if checkpointer is not None and i % every == every - 1:
            if running is not None:
                running.join()
            running = threading.Thread(target=lambda: rounds.append(checkpointer.round()))
            running.start()
    if running is not None:
        running.join()
    return {"frames": frames, "restarts": len(salts) - 1, "rounds": rounds}


@pytest.mark.parametrize("with_checkpointer", [True, False])
def test_the_checkpointer_keeps_the_wal_below_the_point_where_a_commit_checkpoints_by_itself(data_dir, client_headers,
                                                                                               with_checkpointer):
    from edge.api import connect

    app = _app(data_dir, upkeep_seconds=3600)  # the thread starts (request connections get the valve) but never ticks here
    node = app.extensions["storefront_edge"]
    own = connect(node.store.path)
    try:
        checkpointer = Checkpointer(own, FINISH, VALVE) if with_checkpointer else None
        seen = _prechecks(app, client_headers, 300, every=5, checkpointer=checkpointer)
    finally:
        own.close()
        node.close()
    if with_checkpointer:
        assert max(seen["frames"]) < VALVE  # no precheck's commit ever reached its own automatic checkpoint
        assert seen["restarts"] >= 3  # the WAL starts again from its beginning, round after round
        finished = [r for r in seen["rounds"] if r[1] >= FINISH]
        assert finished and all(copied == pages for _, pages, copied in finished)  # no connection held the WAL back
    else:  # the same commits without it: the WAL reaches the valve, where a commit runs the checkpoint itself
        assert max(seen["frames"]) >= VALVE


def test_request_connections_keep_sqlites_checkpoint_as_a_safety_valve_only_while_the_upkeep_thread_runs(data_dir,
                                                                                                        client_headers):
    for upkeep_seconds, expected in ((3600, VALVE), (0, 1000)):
        app = _app(data_dir, upkeep_seconds)
        node = app.extensions["storefront_edge"]
        try:
            app.test_client().post("/v1/fraud/precheck", json=payment(), headers=client_headers)
            assert node.db().execute("PRAGMA wal_autocheckpoint").fetchone()[0] == expected
            limit = node.db().execute("PRAGMA journal_size_limit").fetchone()[0]
            assert limit == (VALVE * 4096 if upkeep_seconds else -1)  # the WAL file is trimmed after a spike
        finally:
            node.close()


def _filled(path, rows: int = 50):
    from edge.api import connect

    db = connect(path)
    db.execute("CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, body BLOB)")
    for _ in range(rows):
        with db.conn:
            db.execute("INSERT INTO t (body) VALUES (randomblob(6000))")
    return db


def test_a_reader_left_open_holds_the_checkpoint_back_and_is_reported(tmp_path, caplog):
    from edge.api import connect

    path = tmp_path / "store.db"
    writer, reader, own = _filled(path), connect(path), connect(path)
    try:
        cursor = reader.execute("SELECT id FROM t")
        cursor.fetchone()  # not read to its end: the reader keeps its snapshot
        for _ in range(40):
            with writer.conn:
                writer.execute("INSERT INTO t (body) VALUES (randomblob(6000))")
        checkpointer = Checkpointer(own, finish_pages=10, valve_pages=50)
        with caplog.at_level(logging.WARNING, logger="plugins.fraud.upkeep"):
            busy, pages, copied = checkpointer.round()
        assert (busy, copied < pages) == (0, True) and checkpointer.stats["held_back"] == 1
        assert "a reader holds the WAL" in caplog.text
        cursor.fetchall()  # read to its end: the snapshot goes
        busy, pages, copied = checkpointer.round()
        assert copied == pages and checkpointer.stats["held_back"] == 1
        with writer.conn:
            writer.execute("INSERT INTO t (body) VALUES (randomblob(10))")
        assert wal_index(path)["frames"] < 5  # the next commit restarted the WAL
    finally:
        for db in (writer, reader, own):
            db.close()


def test_one_checkpointer_per_node_and_another_worker_takes_over_when_it_goes(tmp_path):
    from edge.api import connect

    path = tmp_path / "store.db"
    config = FraudConfig(upkeep_seconds=3600)
    first, second = Upkeep(path, config, lambda db: None), Upkeep(path, config, lambda db: None)
    dbs = [_filled(path, rows=5), connect(path)]
    try:
        first.tick(dbs[0])
        second.tick(dbs[1])
        assert first.checkpointer is not None and second.checkpointer is None
        assert first.checkpointer.stats["rounds"] == 1
        first.release()
        second.tick(dbs[1])
        assert second.checkpointer is not None and second.checkpointer.stats["rounds"] == 1
    finally:
        second.release()
        for db in dbs:
            db.close()


def test_a_payment_moves_no_index_entry_and_the_prune_raises_live_rows_it_looks_at(tmp_path):
    from plugins.fraud import graph, velocity
    from plugins.fraud.replay import private_store

    db = private_store(tmp_path / "store.db")
    try:
        keys = velocity.entity_keys(payment(), "default")
        with db.conn:
            velocity.record_and_read(db, keys, 20.0, T0)
            graph.record(db, keys, T0)
            graph.join(db, keys, T0, T0 - 86400, set(), graph.GraphLimits())
        later = T0 + 5 * 3600
        with db.conn:  # the same entities five hours later: last_seen moves, seen_hour (indexed) does not
            velocity.record_and_read(db, keys, 20.0, later)
            graph.record(db, keys, later)
            graph.join(db, keys, later, later - 86400, set(), graph.GraphLimits())
        for table in ("fraud_rolling", "fraud_edges", "fraud_nodes"):
            assert db.execute(f"SELECT DISTINCT last_seen, seen_hour FROM {table}").fetchall() == [(later, T0 // 3600)]
        with db.conn:  # a row from before the seen_hour column (0) that is still live, and one that is stale
            db.execute("UPDATE fraud_rolling SET seen_hour = 0 WHERE entity = ?", [keys["card"]])
            db.execute("INSERT INTO fraud_rolling (entity, last_seen, state, seen_hour) VALUES ('default/ip:old', ?, x'', 0)",
                       [T0 - 3 * 86400])
        assert velocity.prune(db, later).deleted == 1  # only the stale one; the live one's seen_hour is raised
        rows = dict(db.execute("SELECT entity, seen_hour FROM fraud_rolling").fetchall())
        assert "default/ip:old" not in rows and rows[keys["card"]] == later // 3600
        assert velocity.prune(db, later + 26 * 3600).deleted == 5  # a day later every row of that payment is out of reach
        assert graph.prune(db, later + 8 * 86400, 7 * 86400).deleted == 6 + 4 and db["fraud_components"].count == 0
    finally:
        db.close()


def test_the_upkeep_thread_takes_its_period_and_page_thresholds_from_the_plugin_config_alone(data_dir, client_headers):
    import inspect

    app = _app(data_dir, upkeep_seconds=3600)  # FINISH and VALVE differ from the config's defaults
    node = app.extensions["storefront_edge"]
    try:
        assert app.test_client().post("/v1/fraud/precheck", json=payment(), headers=client_headers).status_code == 200
        upkeep = node.slot("fraud").upkeep
        assert (upkeep.interval_s, upkeep.finish_pages, upkeep.valve_pages) == (3600, FINISH, VALVE)
    finally:
        node.close()
    defaults = FraudConfig()
    plain = Upkeep(data_dir / "store.db", defaults, lambda db: None)
    assert (plain.finish_pages, plain.valve_pages) == (defaults.checkpoint_finish_pages, defaults.wal_autocheckpoint)
    assert all(p.default is inspect.Parameter.empty for p in inspect.signature(Upkeep).parameters.values())


def test_the_wal_index_helper_reads_what_sqlites_own_checkpoint_pragma_reports(tmp_path):
    from edge.api import connect

    path = tmp_path / "store.db"
    db, own = _filled(path, rows=5), connect(path)
    try:
        own.execute("PRAGMA wal_autocheckpoint=0")
        db.execute("PRAGMA wal_autocheckpoint=0")  # the WAL grows until the checkpoint below
        for _ in range(10):
            with db.conn:
                db.execute("INSERT INTO t (body) VALUES (randomblob(6000))")
        before = wal_index(path)
        busy, frames, copied = own.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        after = wal_index(path)
        assert busy == 0 and before["frames"] == frames == after["frames"] > 10 and after["backfilled"] == copied == frames
        with db.conn:  # everything copied back and no reader: this commit starts the WAL again, under a new salt
            db.execute("INSERT INTO t (body) VALUES (randomblob(10))")
        restarted = wal_index(path)
        assert restarted["frames"] < 5 and restarted["salt"] != after["salt"]
    finally:
        db.close()
        own.close()
