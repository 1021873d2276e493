"""The hub over HTTP (Flask test client as transport): auth, push checks, catalog and bundle rollout.

Every hub test runs on both backends: SQLite in the data folder and a real PostgreSQL server.
"""

from __future__ import annotations

import pytest

from edge.sync import delta as wire
from edge.sync.export import export_delta
from edge.sync.worker import local_status, sync_once
from tests.builders import signed_bundle
from tests.pg_server import hub_backend, pg_server  # noqa: F401 (fixtures)
from tests.test_sync_support import (FlaskTransport, as_items, hub, hub_event_ids, hub_store, make_edge,  # noqa: F401
                                     node_of, post_event, register)


def test_events_reach_the_hub_once_with_the_node_as_origin(hub, tmp_path):
    edge = make_edge(tmp_path / "e1", register(hub, "store-1"))
    ids = [post_event(edge, "order", total=i) for i in range(20)]
    transport = FlaskTransport(hub)
    assert sync_once(node_of(edge), transport)["pushed"] == 20
    assert sync_once(node_of(edge), transport)["pushed"] == 0
    assert hub_event_ids(hub) == sorted(ids)
    assert {r["origin"] for r in hub_store(hub).rows("events")} == {"store-1"}
    assert local_status(node_of(edge).db())["pending_changes"] == 0  # acknowledged, and kept for a hub restore
    assert local_status(node_of(edge).db())["retained_changes"] == 20


def test_event_route_validates(tmp_path):
    client = make_edge(tmp_path / "e").test_client()
    assert client.post("/v1/events", json={"kind": "teleport"}).status_code == 422
    assert client.post("/v1/events", data="{", content_type="application/json").status_code == 400
    assert client.post("/v1/events", data="x", content_type="text/plain").status_code == 415
    assert client.post("/v1/events", json={"kind": "view", "extra": 1}).status_code == 422
    assert client.post("/v1/events", json={"kind": "view", "payload": {"sku": "a"}}).status_code == 201


def test_node_auth_is_required_and_tokens_are_stored_hashed(hub):
    token = register(hub, "store-1")
    client = hub.test_client()
    assert client.get("/v1/hub/sync/cursor").status_code == 401
    assert client.get("/v1/hub/sync/cursor", headers={"Authorization": "Bearer store-1.wrong"}).status_code == 403
    assert client.get("/v1/hub/sync/cursor", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    stored = [r["token_hash"] for r in hub_store(hub).rows("hub_nodes")]
    assert len(stored) == 1 and len(stored[0]) == 64 and token.split(".", 1)[1] not in stored[0]


def _push(hub, token, delta):
    return hub.test_client().post("/v1/hub/sync/push", data=wire.encode(delta),
                                  headers={"Authorization": f"Bearer {token}", "Content-Type": "application/zstd"})


def test_hub_refuses_foreign_origin_and_hub_owned_tables(hub, tmp_path):
    t1, t2 = register(hub, "store-1"), register(hub, "store-2")
    edge = make_edge(tmp_path / "e1", t1)
    post_event(edge)
    db = node_of(edge).db()
    delta = export_delta(db, 0)
    response = _push(hub, t2, delta)  # store-2 sending store-1's delta
    assert response.status_code == 403 and response.get_json()["error"]["code"] == "origin_mismatch"
    forged = wire.seal(delta.header, [(1, "catalog_items", "x", "I", '{"sku":"x","title":"t"}', 1, "store-1", 1)])
    response = _push(hub, t1, forged)
    assert response.status_code == 403 and response.get_json()["error"]["code"] == "forbidden_table"
    other = wire.seal(delta.header, [(1, "events", "z", "I", '{"id":"z","kind":"view","payload":"{}","created_at":"t","origin":"store-2"}', 1, "store-1", 1)])
    assert _push(hub, t1, other).get_json()["error"]["code"] == "foreign_origin"
    bad = hub.test_client().post("/v1/hub/sync/push", data=b"junk", headers={"Authorization": f"Bearer {t1}", "Content-Type": "application/zstd"})
    assert bad.status_code == 400 and bad.get_json()["error"]["code"] == "corrupt_delta"
    assert hub_store(hub).rows("events") == [] and hub_store(hub).rows("catalog_items") == []


def _publish_csv(hub, table: str, text: str):
    response = hub.test_client().post(f"/v1/hub/tables/{table}/publish", data=text, content_type="text/csv")
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def test_published_catalog_reaches_edges_and_is_read_only_there(hub, tmp_path):
    _publish_csv(hub, "catalog_items", "sku,title,price\na1,Apple,1.5\nb2,Bread,2.0\n")
    edge = make_edge(tmp_path / "e1", register(hub, "store-1"))
    node = node_of(edge)
    assert sync_once(node, FlaskTransport(hub))["pulled"] == 2
    assert sorted(r["sku"] for r in node.db()["catalog_items"].rows) == ["a1", "b2"]
    with pytest.raises(Exception, match="owned by the hub"):
        node.db()["catalog_items"].insert({"id": "default/z", "sku": "z", "title": "local"})
    _publish_csv(hub, "catalog_items", "sku,title,price\na1,Green apple,1.7\n")
    sync_once(node, FlaskTransport(hub))
    assert node.db()["catalog_items"].get("default/a1")["title"] == "Green apple"
    assert as_items(node.db()["catalog_items"].rows) == as_items(hub_store(hub).rows("catalog_items"))
    status = {n["name"]: n for n in hub.test_client().get("/v1/hub/status").get_json()["nodes"]}
    assert status["store-1"]["cursor_lag"] == 0 and status["store-1"]["last_seen"]


def test_register_node_over_http_shows_the_token_once(hub):
    client = hub.test_client()
    response = client.post("/v1/hub/nodes", json={"name": "store-9", "group": "canary"})
    assert response.status_code == 201 and response.get_json()["token"].startswith("store-9.")
    assert client.post("/v1/hub/nodes", json={"name": "store-9", "group": "canary"}).status_code == 409
    assert client.post("/v1/hub/nodes", json={"name": "Bad Name!", "group": "x"}).status_code == 422
    assert "token" not in str(client.get("/v1/hub/status").get_json())


def test_staged_rollout_reaches_only_the_group(hub, tmp_path):
    from edge.bundles.signing import generate_keypair

    private, public = generate_keypair(tmp_path / "keys")
    for folder in (tmp_path / "hub", tmp_path / "canary", tmp_path / "rest"):
        (folder / "keys" / "trusted").mkdir(parents=True, exist_ok=True)
        (folder / "keys" / "trusted" / "signing.pub").write_bytes(public.read_bytes())
    canary = make_edge(tmp_path / "canary", register(hub, "store-c", "canary"))
    rest = make_edge(tmp_path / "rest", register(hub, "store-r", "stores"))
    unsigned = tmp_path / "b0"
    signed_bundle(unsigned, private, version="2.0.0")
    (unsigned / "manifest.sig").write_text('{"algorithm": "ed25519", "key_id": "x", "signature": "AA=="}')
    with pytest.raises(Exception, match="does not trust|signature"):
        hub_store(hub).publish_bundle(unsigned, "canary")
    record = hub_store(hub).publish_bundle(signed_bundle(tmp_path / "b1", private, version="1.2.0"), "canary")
    assert sync_once(node_of(canary), FlaskTransport(hub))["bundles"] == {"test-bundle": "1.2.0"}
    assert node_of(canary).registry.active_version("test-bundle") == "1.2.0"
    assert sync_once(node_of(rest), FlaskTransport(hub))["bundles"] == {}
    assert node_of(rest).registry.active() == {}
    sync_once(node_of(canary), FlaskTransport(hub))  # reports its version
    status = {n["name"]: n for n in hub.test_client().get("/v1/hub/status").get_json()["nodes"]}
    assert status["store-c"]["bundles"] == {"test-bundle": "1.2.0"} and record["digest"]
    assert status["store-c"]["targets"] == {"test-bundle": "1.2.0"} and status["store-r"]["targets"] == {}
    assert hub.test_client().get(f"/v1/hub/bundles/{'0' * 64}", headers={"Authorization": "Bearer x.y"}).status_code == 403


def _trusting(tmp_path, *folders):
    from edge.bundles.signing import generate_keypair

    private, public = generate_keypair(tmp_path / "keys")
    for folder in folders:
        (folder / "keys" / "trusted").mkdir(parents=True, exist_ok=True)
        (folder / "keys" / "trusted" / "signing.pub").write_bytes(public.read_bytes())
    return private


def test_rollout_is_per_bundle_name(hub, tmp_path, runner):
    private = _trusting(tmp_path, tmp_path / "hub", tmp_path / "edge")
    edge = make_edge(tmp_path / "edge", register(hub, "store-1", "canary"))
    store = hub_store(hub)

    def bundle(name, version, model):
        return signed_bundle(tmp_path / f"{name}-{version}", private, version=version, name=name,
                             models={model: {"file": "doubler.onnx", "runtime": "onnx"}})

    store.publish_bundle(bundle("vision", "1.0.0", "embedder"), "canary")
    assert hub.test_client().get("/v1/hub/rollout", headers={"Authorization": "Bearer x.y"}).status_code == 403
    store.publish_bundle(bundle("fraud", "2.0.0", "scorer"), "canary")
    assert sync_once(node_of(edge), FlaskTransport(hub))["bundles"] == {"fraud": "2.0.0", "vision": "1.0.0"}
    store.publish_bundle(bundle("vision", "1.1.0", "embedder"), "canary")
    assert sync_once(node_of(edge), FlaskTransport(hub))["bundles"] == {"vision": "1.1.0"}, "only the changed name"
    assert node_of(edge).registry.active() == {"fraud": "2.0.0", "vision": "1.1.0"}
    sync_once(node_of(edge), FlaskTransport(hub))
    status = {n["name"]: n for n in store.status()}["store-1"]
    assert status["bundles"] == status["targets"] == {"fraud": "2.0.0", "vision": "1.1.0"}
    assert status["target_version"] is None  # two names: no single version to show
    from edge.cli.main import cli

    url_args = ["--database-url", store.url] if hasattr(store, "url") else []
    listed = runner.invoke(cli, ["hub", "nodes", "--data-dir", str(tmp_path / "hub"), *url_args])
    assert listed.exit_code == 0 and "bundles=fraud@2.0.0,vision@1.1.0" in listed.output, listed.output


def test_a_single_bundle_edge_still_reads_the_rollout(hub, tmp_path):
    private = _trusting(tmp_path, tmp_path / "hub")
    token = register(hub, "store-1", "canary")
    record = hub_store(hub).publish_bundle(signed_bundle(tmp_path / "b", private, version="1.2.0"), "canary")
    answer = hub.test_client().get("/v1/hub/rollout", headers={"Authorization": f"Bearer {token}"}).get_json()
    assert (answer["version"], answer["digest"]) == ("1.2.0", record["digest"])  # what older edges read
    assert answer["bundles"] == [{"name": "test-bundle", "version": "1.2.0", "digest": record["digest"]}]
    hub.test_client().get("/v1/hub/sync/cursor", headers={"Authorization": f"Bearer {token}", "X-Bundle-Version": "1.2.0"})
    assert {n["name"]: n for n in hub_store(hub).status()}["store-1"]["bundle_version"] == "1.2.0"


def _old_hub_tables(hub_backend, hub_dir):
    """Hub tables as the hub kept them before per-name rollouts, with one group-wide target."""
    rows = [("INSERT INTO hub_bundles (digest, name, version, size, created_at) VALUES ('d1', 'vision', '1.0.0', 10, 't')"),
            ("INSERT INTO hub_rollouts (grp, digest, version, updated_at) VALUES ('canary', 'd1', '1.0.0', 't')")]
    if hub_backend.url is None:
        from sqlite_utils import Migrations

        from edge.hub.store import HUB_FILE, create_hub_tables
        from edge.store import connect, migrate

        old = Migrations("hub")
        old()(create_hub_tables)
        db = connect(hub_dir / HUB_FILE)
        migrate(db, [old])
        with db.atomic():
            for sql in rows:
                db.execute(sql)
        db.close()
        return
    import psycopg

    with psycopg.connect(hub_backend.url, autocommit=True) as conn:
        conn.execute("CREATE TABLE hub_nodes (name text PRIMARY KEY, grp text NOT NULL, token_hash text NOT NULL, "
                     "created_at text, last_seen text, bundle_version text, pulled_seq bigint DEFAULT 0)")
        conn.execute("CREATE TABLE hub_bundles (digest text PRIMARY KEY, name text, version text, size bigint, created_at text)")
        conn.execute("CREATE TABLE hub_rollouts (grp text PRIMARY KEY, digest text, version text, updated_at text)")
        for sql in rows:
            conn.execute(sql)


def test_an_earlier_hub_keeps_its_rollouts_under_their_bundle_names(hub_backend, tmp_path):
    from tests.test_sync_support import make_hub

    hub_dir = tmp_path / "old-hub"
    hub_dir.mkdir()
    _old_hub_tables(hub_backend, hub_dir)
    upgraded = make_hub(hub_dir, hub_backend.url)
    try:
        store = hub_store(upgraded)
        assert store.rollout_for("canary")["bundles"] == [{"name": "vision", "version": "1.0.0", "digest": "d1"}]
        assert [r["name"] for r in store.rows("hub_rollout_targets")] == ["vision"]
        store.register_node("store-1", "canary")
        assert {n["name"]: n for n in store.status()}["store-1"]["targets"] == {"vision": "1.0.0"}
    finally:
        hub_store(upgraded).close()
