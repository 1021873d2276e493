"""The voice tables.

Hub-owned (published on the hub, read-only on joined edges): ``voice_faq`` (questions and answers per
language), ``voice_facts`` (subject-relation-object rows: product aisle, aliases and attributes, store hours,
after-sales policies), ``voice_orders`` (order status for the kiosk). Edge to hub, append-only:
``voice_turns`` (every turn with its session id) and ``voice_tickets`` (hand-offs to a person).

Every table is per store (CDN edge mode, like the catalog): a row carries its ``store``; a knowledge row is
keyed ``<store>/<key>`` (``default/parking-en``) with its own key beside it (``faq_id``, ``fact_id``,
``order_id``), so two stores may both have an order ``4711`` and the hub sends each node only the rows of its
stores. Publish ``{"store": "north", "faq_id": "parking-en", ...}`` (or ``"id": "north/parking-en"``); a row
without a store is the store ``default``'s, which is what a node of one store serves.
"""

from __future__ import annotations

from sqlite_utils import Migrations

migrations = Migrations("voice")
HUB_OWNED = ("voice_faq", "voice_facts", "voice_orders")
EDGE_TO_HUB = ("voice_turns", "voice_tickets")
OWN_KEYS = {"voice_faq": "faq_id", "voice_facts": "fact_id", "voice_orders": "order_id"}


@migrations()
def create_knowledge(db):
    db["voice_faq"].create({"id": str, "lang": str, "question": str, "answer": str, "keywords": str},
                           pk="id", not_null={"question", "answer"}, defaults={"lang": "en", "keywords": ""})
    db["voice_facts"].create({"id": str, "subject": str, "relation": str, "object": str, "lang": str},
                             pk="id", not_null={"subject", "relation", "object"}, defaults={"lang": "en"})
    db["voice_facts"].create_index(["subject", "relation"])
    db["voice_orders"].create({"id": str, "status": str, "detail": str, "updated_at": str},
                              pk="id", not_null={"status"}, defaults={"detail": ""})


@migrations()
def create_turns_and_tickets(db):
    db["voice_turns"].create(
        {"id": str, "session_id": str, "lang": str, "transcript": str, "intent": str, "slots": str, "answer": str,
         "confidence": float, "engine": str, "escalated": int, "timings": str, "created_at": str},
        pk="id", not_null={"session_id", "created_at"})
    db["voice_turns"].create_index(["session_id", "created_at"])
    db["voice_tickets"].create(
        {"id": str, "session_id": str, "reason": str, "transcript": str, "context": str, "status": str,
         "created_at": str}, pk="id", not_null={"session_id", "reason", "created_at"}, defaults={"status": "open"})


@migrations()
def scope_knowledge_by_store(db):
    """Knowledge per store (CDN edge mode): each FAQ entry, fact and order carries its ``store`` and is keyed
    ``<store>/<key>`` (the key it had before is kept in ``faq_id`` / ``fact_id`` / ``order_id``); the rows so
    far are the store ``default``'s, as the catalog's were. Turns and tickets carry the store they were for."""
    from edge.api import rebuild_per_store

    head = "[id] TEXT PRIMARY KEY NOT NULL, [store] TEXT NOT NULL DEFAULT 'default'"
    rebuild_per_store(db, "voice_faq", f"CREATE TABLE [voice_faq] ({head}, [faq_id] TEXT NOT NULL, [lang] TEXT DEFAULT 'en', "
                      "[question] TEXT NOT NULL, [answer] TEXT NOT NULL, [keywords] TEXT DEFAULT '')",
                      "lang, question, answer, keywords", "id", "faq_id")
    rebuild_per_store(db, "voice_facts", f"CREATE TABLE [voice_facts] ({head}, [fact_id] TEXT NOT NULL, [subject] TEXT NOT NULL, "
                      "[relation] TEXT NOT NULL, [object] TEXT NOT NULL, [lang] TEXT DEFAULT 'en')",
                      "subject, relation, object, lang", "id", "fact_id")
    rebuild_per_store(db, "voice_orders", f"CREATE TABLE [voice_orders] ({head}, [order_id] TEXT NOT NULL, [status] TEXT NOT NULL, "
                      "[detail] TEXT DEFAULT '', [updated_at] TEXT)", "status, detail, updated_at", "id", "order_id")
    db.execute("CREATE UNIQUE INDEX idx_voice_faq_store_faq_id ON voice_faq (store, faq_id)")
    db.execute("CREATE INDEX idx_voice_faq_store_lang ON voice_faq (store, lang)")
    db.execute("CREATE UNIQUE INDEX idx_voice_facts_store_fact_id ON voice_facts (store, fact_id)")
    db.execute("CREATE INDEX idx_voice_facts_store_subject_relation ON voice_facts (store, subject, relation)")
    db.execute("CREATE UNIQUE INDEX idx_voice_orders_store_order_id ON voice_orders (store, order_id)")
    for table in EDGE_TO_HUB:
        db[table].add_column("store", str, not_null_default="default")
    db.execute("CREATE INDEX idx_voice_turns_store_session ON voice_turns (store, session_id, created_at)")
