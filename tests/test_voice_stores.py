"""The voice plugin per store (CDN edge mode): each store's FAQ, facts, orders, catalog and stock answer on its
own prefix only; turns and tickets carry their store; the hub sends each node its stores' knowledge; a node's
knowledge from before stores is migrated to the store ``default`` and a one-store node answers as before."""

from __future__ import annotations

import pytest

from edge.app import create_app
from edge.sync.worker import sync_once
from tests.cdn_support import ADMIN, KEYS, bearer
from tests.pg_server import hub_backend, pg_server  # noqa: F401 (fixtures)
from tests.test_sync_support import FlaskTransport, hub, hub_store, make_edge, node_of, publish, register  # noqa: F401

CATALOG = [{"store": "north", "sku": "Oatly-Oat-Milk", "title": "Oatly Oat Milk", "price": 2.0},
           {"store": "south", "sku": "Oatly-Oat-Milk", "title": "Oatly Oat Milk", "price": 3.0}]
FAQ = [{"store": "north", "faq_id": "parking-en", "question": "is there parking", "keywords": "parking,park,car",
        "answer": "North: park in the garage behind the store."},
       {"store": "south", "faq_id": "wifi-en", "question": "do you have free wifi", "keywords": "wifi,internet",
        "answer": "South: join the network South-Guest."}]
FACTS = [{"store": "north", "fact_id": "hours", "subject": "store", "relation": "hours", "object": "8 am to 9 pm"},
         {"store": "south", "fact_id": "hours", "subject": "store", "relation": "hours", "object": "10 am to 4 pm"},
         {"store": "north", "fact_id": "oat-aisle", "subject": "Oatly-Oat-Milk", "relation": "aisle", "object": "3"},
         {"store": "south", "fact_id": "oat-aisle", "subject": "Oatly-Oat-Milk", "relation": "aisle", "object": "12"},
         *({"store": s, "fact_id": "oat-alias", "subject": "Oatly-Oat-Milk", "relation": "alias", "object": "oat milk"}
           for s in ("north", "south"))]
ORDERS = [{"store": "north", "order_id": "4711", "status": "ready for pickup", "detail": ""},
          {"store": "south", "order_id": "5000", "status": "on its way", "detail": ""}]
STOCK = [{"id": "north/Oatly-Oat-Milk", "store": "north", "sku": "Oatly-Oat-Milk", "on_hand": 7},
         {"id": "south/Oatly-Oat-Milk", "store": "south", "sku": "Oatly-Oat-Milk", "on_hand": 0}]


def _keyed(rows: list[dict], own: str) -> list[dict]:
    return [{**row, "id": f"{row['store']}/{row[own]}"} for row in rows]


@pytest.fixture
def shops(tmp_path):
    """A node of stores ``north`` and ``south`` with their own catalog, stock and voice knowledge."""
    app = create_app({"DATA_DIR": str(tmp_path / "var"), "PLUGINS": ["catalog", "voice"], "STORES": "north,south",
                      "STORE_KEYS": dict(KEYS), "ADMIN_KEY": ADMIN}, watch=False)
    db = node_of(app).db()
    db["catalog_items"].insert_all(_keyed(CATALOG, "sku"), pk="id")
    db["stock_levels"].insert_all(STOCK, pk="id")
    for table, rows, own in (("voice_faq", FAQ, "faq_id"), ("voice_facts", FACTS, "fact_id"), ("voice_orders", ORDERS, "order_id")):
        db[table].insert_all(_keyed(rows, own), pk="id")
    yield app
    node_of(app).close()


def ask(app, store: str, text: str, session: str = "kiosk-1") -> dict:
    response = app.test_client().post(f"/v1/stores/{store}/voice/text", json={"text": text, "session_id": session},
                                      headers=bearer(store))
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def test_a_stores_faq_never_answers_on_another_store(shops):
    north = ask(shops, "north", "is there parking")
    assert north["intent"] == "FAQ" and north["answer"].startswith("North:") and north["data"]["faq_id"] == "parking-en"
    south = ask(shops, "south", "is there parking")
    assert south["intent"] != "FAQ" and "North" not in south["answer"]
    assert ask(shops, "south", "do you have free wifi")["answer"].startswith("South:")
    assert "South" not in ask(shops, "north", "do you have free wifi")["answer"]


@pytest.mark.parametrize("text, north, south", [
    ("what time do you close today", "8 am to 9 pm", "10 am to 4 pm"),
    ("where can I find the oat milk", "aisle 3", "aisle 12"),
    ("do you have oat milk", "7 in stock", "out of stock"),
])
def test_facts_and_stock_come_from_the_requests_store(shops, text, north, south):
    assert north in ask(shops, "north", text)["answer"]
    assert south in ask(shops, "south", text)["answer"]


def test_orders_are_found_in_their_own_store_only(shops):
    assert "ready for pickup" in ask(shops, "north", "where is my order 4711")["answer"]
    assert ask(shops, "south", "where is my order 4711")["data"] == {"order_id": "4711", "found": False}
    assert ask(shops, "south", "where is my order 5000")["data"]["status"] == "on its way"


def test_turns_and_tickets_carry_their_store_and_failures_count_per_store(shops):
    assert not ask(shops, "north", "open the garage door", session="same")["escalated"]
    assert not ask(shops, "south", "open the garage door", session="same")["escalated"]  # north's miss is not south's
    handed = ask(shops, "south", "open the garage door", session="same")
    assert handed["escalation_reason"] == "repeated_failure"
    db = node_of(shops).db()
    assert sorted((r["store"], r["escalated"]) for r in db["voice_turns"].rows) == [("north", 0), ("south", 0), ("south", 1)]
    assert db["voice_tickets"].get(handed["ticket_id"])["store"] == "south"


def test_the_hub_sends_each_node_its_stores_knowledge_and_receives_turns_with_their_store(hub, tmp_path):
    publish(hub, "catalog_items", CATALOG)
    publish(hub, "voice_faq", FAQ)
    publish(hub, "voice_orders", ORDERS)
    north = make_edge(tmp_path / "n", register(hub, "pop-n", stores="north"), PLUGINS=["catalog", "voice"], STORES="north", CLIENT_KEY="k")
    south = make_edge(tmp_path / "s", register(hub, "pop-s", stores="south"), PLUGINS=["catalog", "voice"], STORES="south")
    for edge in (north, south):
        sync_once(node_of(edge), FlaskTransport(hub))
    assert [r["id"] for r in node_of(north).db()["voice_faq"].rows] == ["north/parking-en"]
    assert [r["id"] for r in node_of(south).db()["voice_orders"].rows] == ["south/5000"]
    publish(hub, "voice_faq", [{"store": "south", "faq_id": "toilet-en", "question": "where are the toilets",
                                "answer": "South: next to the exit.", "keywords": "toilet"}])
    for edge in (north, south):
        sync_once(node_of(edge), FlaskTransport(hub))  # a delta this time
    assert [r["id"] for r in node_of(north).db()["voice_faq"].rows] == ["north/parking-en"]
    assert sorted(r["id"] for r in node_of(south).db()["voice_faq"].rows) == ["south/toilet-en", "south/wifi-en"]
    turn = north.test_client().post("/v1/voice/text", json={"text": "is there parking"}, headers={"Authorization": "Bearer k"})
    assert turn.get_json()["answer"].startswith("North:")  # a one-store node answers its plain route for its store
    sync_once(node_of(north), FlaskTransport(hub))
    assert [(r["store"], r["answer"][:6]) for r in hub_store(hub).rows("voice_turns")] == [("north", "North:")]
    for edge in (north, south):
        node_of(edge).close()


def test_knowledge_from_before_stores_is_migrated_to_the_default_store(tmp_path):
    from sqlite_utils import Migrations

    from edge.store import STORE_FILE, connect, migrate
    from plugins.voice import schema

    folder = tmp_path / "var"
    folder.mkdir()
    before = Migrations("voice")
    before._migrations = [m for m in schema.migrations._migrations if m.name != "scope_knowledge_by_store"]
    db = connect(folder / STORE_FILE)
    migrate(db, [before])
    db["voice_faq"].insert({"id": "parking-en", "lang": "en", "question": "is there parking", "answer": "Park behind.",
                            "keywords": "parking,park"})
    db["voice_orders"].insert({"id": "4711", "status": "ready for pickup", "detail": ""})
    db["voice_turns"].insert({"id": "01OLD", "session_id": "s", "created_at": "2026-11-30T00:00:00Z"})
    db.close()
    app = create_app({"DATA_DIR": str(folder), "PLUGINS": ["catalog", "voice"], "CLIENT_KEY": "k"}, watch=False)
    db = node_of(app).db()
    assert [(r["id"], r["store"], r["faq_id"]) for r in db["voice_faq"].rows] == [("default/parking-en", "default", "parking-en")]
    assert db["voice_turns"].get("01OLD")["store"] == "default"
    client, key = app.test_client(), {"Authorization": "Bearer k"}
    assert client.post("/v1/voice/text", json={"text": "is there parking"}, headers=key).get_json()["answer"] == "Park behind."
    assert "ready for pickup" in client.post("/v1/voice/text", json={"text": "where is my order 4711"}, headers=key).get_json()["answer"]
    node_of(app).close()


def test_the_wyoming_server_answers_from_the_store_it_serves(shops, tmp_path, runner):
    import contextvars

    from edge.cli.main import cli
    from plugins.voice import knowledge

    db = node_of(shops).db()

    def served(store):
        knowledge.SERVING.set(store)
        return [e["answer"][:6] for e in knowledge.faq_entries(db, "en")], knowledge.order(db, "4711")

    assert contextvars.copy_context().run(served, "south") == (["South:"], None)
    assert contextvars.copy_context().run(served, "north")[1]["status"] == "ready for pickup"
    folder = str(tmp_path / "var")
    refused = runner.invoke(cli, ["--data-dir", folder, "voice", "wyoming", "--store", "east"], env={"STOREFRONT_EDGE_STORES": "north,south"})
    assert refused.exit_code == 2 and "north, south" in refused.output and "Traceback" not in refused.output
    unnamed = runner.invoke(cli, ["--data-dir", folder, "voice", "wyoming"], env={"STOREFRONT_EDGE_STORES": "north,south"})
    assert unnamed.exit_code == 2 and "--store" in unnamed.output
