"""Faults: SIGKILL-like exits at each step, convergence in random order, restore, outage, skew, migration.

The tests that go through the hub run on both hub backends (SQLite, and a real PostgreSQL server).
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from edge.sync.worker import sync_once
from tests.pg_server import hub_backend, pg_server  # noqa: F401 (fixtures)
from tests.test_sync_support import (FlaskTransport, as_items, event_ids, hub_event_ids, hub_store, make_edge, make_hub,
                                     node_of, post_event, publish, register)

CHILD = textwrap.dedent('''
    import os, sys
    sys.path.insert(0, {root!r})
    from pathlib import Path
    from tests.test_sync_support import FlaskTransport, make_edge, make_hub, node_of, post_event
    import edge.sync.worker as worker, edge.sync.apply as apply, edge.hub.pg_apply as pg_apply
    step, folder, token, url = sys.argv[1], Path(sys.argv[2]), sys.argv[3], sys.argv[4] or None
    hub, edge = make_hub(folder / "hub", url), make_edge(folder / "edge", token)
    node = node_of(edge)
    for i in range(5):
        post_event(edge, "view", i=i)
    die = lambda *a, **k: os._exit(9)
    if step == "capture":
        db = node.db()
        db.conn.execute("BEGIN")
        db["events"].insert({{"id": "01ZZZZZZZZZZZZZZZZZZZZZZZZ", "kind": "view", "payload": "{{}}", "created_at": "t"}})
        die()
    if step == "export":
        worker.encode = die
    if step == "apply":  # the hub dies applying the push, before its cursor is written
        apply.Applier._set_cursor = die
        pg_apply.set_cursor = die
    if step == "ack":
        worker.record_ack = die
    transport = FlaskTransport(hub)
    if step == "send":
        original = transport.request
        def send(method, url, **kw):
            response = original(method, url, **kw)
            if url.endswith("/push"):
                die()
            return response
        transport.request = send
    worker.sync_once(node, transport)
    os._exit(0)
''')


@pytest.mark.parametrize("step", ["capture", "export", "send", "apply", "ack"])
def test_killed_at_each_step_then_restarted_loses_and_duplicates_nothing(tmp_path, step, hub_backend):
    from edge.paths import PROJECT_ROOT

    hub = make_hub(tmp_path / "hub", hub_backend.url)
    token = register(hub, "store-1")
    script = tmp_path / "child.py"
    script.write_text(CHILD.format(root=str(PROJECT_ROOT)))
    child = subprocess.run([sys.executable, str(script), step, str(tmp_path), token, hub_backend.url or ""],
                           timeout=120, capture_output=True)
    assert child.returncode == 9, child.stderr.decode()[-2000:]
    if step == "apply":
        assert hub_event_ids(hub) == [] and hub_store(hub).cursor_of("store-1")["seq"] == 0  # rolled back as one
    hub, edge = make_hub(tmp_path / "hub", hub_backend.url), make_edge(tmp_path / "edge", token)
    sync_once(node_of(edge), FlaskTransport(hub))
    local = event_ids(node_of(edge).db())
    assert len(local) == 5 and "01ZZZZZZZZZZZZZZZZZZZZZZZZ" not in local
    assert hub_event_ids(hub) == local
    assert sync_once(node_of(edge), FlaskTransport(hub))["pushed"] == 0


@settings(max_examples=5, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(order=st.lists(st.integers(0, 2), min_size=6, max_size=12), catalog_at=st.integers(0, 5))
def test_three_edges_converge_in_any_order(tmp_path_factory, hub_backend, order, catalog_at):
    folder = tmp_path_factory.mktemp("fleet")
    hub = make_hub(folder / "hub", hub_backend.fresh_url())
    edges = [make_edge(folder / f"e{i}", register(hub, f"store-{i}")) for i in range(3)]
    posted = []
    for step, who in enumerate(order):
        if step == catalog_at:
            publish(hub, "catalog_items", [{"sku": "a", "title": f"Apple {step}", "price": 1}, {"sku": "b", "title": "Bread", "price": 2}])
        posted.append(post_event(edges[who], "cart", step=step))
        if step % 2:
            sync_once(node_of(edges[who]), FlaskTransport(hub))
    for edge in edges:
        sync_once(node_of(edge), FlaskTransport(hub))
    assert hub_event_ids(hub) == sorted(posted)
    catalogs = [as_items(node_of(e).db()["catalog_items"].rows) for e in edges]
    assert catalogs[0] == catalogs[1] == catalogs[2] == as_items(hub_store(hub).rows("catalog_items"))
    hub_store(hub).close()


def test_edge_restored_from_backup_starts_a_new_epoch_without_loss(tmp_path, hub_backend):
    import shutil

    hub = make_hub(tmp_path / "hub", hub_backend.url)
    edge = make_edge(tmp_path / "edge", register(hub, "store-1"))
    transport = FlaskTransport(hub)
    before = [post_event(edge, "view", n=i) for i in range(3)]
    node_of(edge).db().execute("PRAGMA wal_checkpoint(TRUNCATE)")
    shutil.copy(tmp_path / "edge" / "store.db", tmp_path / "backup.db")
    after_backup = [post_event(edge, "order", n=i) for i in range(4)]
    sync_once(node_of(edge), transport)
    node_of(edge).close()
    for suffix in ("-wal", "-shm"):
        (tmp_path / "edge" / f"store.db{suffix}").unlink(missing_ok=True)
    shutil.copy(tmp_path / "backup.db", tmp_path / "edge" / "store.db")
    restored = make_edge(tmp_path / "edge", node_of(edge).config["HUB_TOKEN"])
    epoch = node_of(restored).db().execute("SELECT epoch FROM _sync_state").fetchone()[0]
    new = [post_event(restored, "cart", n=i) for i in range(5)]  # same seq numbers as the lost ones
    sync_once(node_of(restored), transport)
    assert node_of(restored).db().execute("SELECT epoch FROM _sync_state").fetchone()[0] != epoch
    assert hub_event_ids(hub) == sorted(before + after_backup + new)


def test_long_outage_then_catch_up_in_bounded_batches(tmp_path, hub_backend):
    hub = make_hub(tmp_path / "hub", hub_backend.url)
    edge = make_edge(tmp_path / "edge", register(hub, "store-1"), SYNC_BATCH=500)
    transport = FlaskTransport(hub)
    transport.down = True
    db = node_of(edge).db()
    from plugins.events.routes import record_event

    for i in range(3000):
        record_event(db, "view", {"i": i})
    with pytest.raises(Exception, match="unreachable"):
        sync_once(node_of(edge), transport)
    transport.down = False
    pushes = []
    original = transport.request
    transport.request = lambda method, url, **kw: (pushes.append(len(kw.get("data") or b"")) if url.endswith("/push") else None) or original(method, url, **kw)
    assert sync_once(node_of(edge), transport)["pushed"] == 3000
    assert len(pushes) == 6 and len(hub_event_ids(hub)) == 3000


def test_clock_skew_of_an_hour_keeps_last_writer_wins_consistent(tmp_path):
    from edge.hookspecs import SyncedTable
    from edge.store import connect
    from edge.sync import capture, delta as wire
    from edge.sync.apply import Applier
    from edge.sync.export import export_delta

    tables = {"notes": SyncedTable("notes", "edge_to_hub", "last_writer_wins", "id")}
    stores = []
    for name in ("ahead", "behind", "target"):
        db = connect(tmp_path / f"{name}.db")
        db["notes"].create({"id": str, "body": str}, pk="id")
        capture.install_triggers(db, tables, "edge")
        capture.set_origin(db, name)
        stores.append(db)
    ahead, behind, target = stores
    hour = 3600 * 1000 * 65536
    ahead.execute("UPDATE _sync_state SET hlc = hlc + ?", [hour])  # its wall clock runs an hour fast
    ahead.conn.commit()
    ahead["notes"].insert({"id": "n", "body": "ahead"})
    Applier(behind, tables).apply(wire.decode(wire.encode(export_delta(ahead, 0))))
    behind["notes"].update("n", {"body": "behind, later"})  # its clock jumps past what it saw
    assert behind.execute("SELECT max(hlc) FROM _changes").fetchone()[0] > ahead.execute("SELECT max(hlc) FROM _changes").fetchone()[0]
    for source in (behind, ahead):  # reverse order: the causal later write still wins
        Applier(target, tables).apply(wire.decode(wire.encode(export_delta(source, 0))))
    assert target["notes"].get("n")["body"] == "behind, later"


def test_migration_mid_stream(tmp_path, hub_backend):
    from sqlite_utils import Migrations

    hub = make_hub(tmp_path / "hub", hub_backend.url)
    token = register(hub, "store-1")
    edge = make_edge(tmp_path / "edge", token)
    first = post_event(edge, "view")
    node_of(edge).close()
    extra = Migrations("events_extra")

    @extra()
    def add_device(db):
        db["events"].add_column("device", str)

    module = type(sys)("extra_plugin")
    from edge.hookspecs import hookimpl

    module.PLUGIN_NAME = "extra_plugin"
    module.migrations = hookimpl(lambda: extra)
    module.plugin_info = hookimpl(lambda: __import__("edge.hookspecs", fromlist=["PluginInfo"]).PluginInfo("extra_plugin", "0.1.0"))
    migrated = make_edge(tmp_path / "edge", token, EXTRA_PLUGINS=["plugins.events.plugin", module])
    db = node_of(migrated).db()
    from plugins.events.routes import record_event

    second = record_event(db, "cart", {})["id"]
    db["events"].update(second, {"device": "kiosk-3"})
    versions = sorted(r[0] for r in db.execute("SELECT DISTINCT schema_ver FROM _changes"))
    assert len(versions) == 2 and versions[1] == versions[0] + 1  # changes from before and after the migration
    assert "kiosk-3" in db.execute("SELECT row FROM _changes WHERE op = 'U'").fetchone()[0]  # triggers follow the new column
    sync_once(node_of(migrated), FlaskTransport(hub))
    assert hub_event_ids(hub) == sorted([first, second])  # the hub, one schema behind, keeps what it knows
