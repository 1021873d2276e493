"""The voice tables.

Hub-owned (published on the hub, read-only on joined edges): ``voice_faq`` (questions and answers per
language), ``voice_facts`` (subject-relation-object rows: product aisle, aliases and attributes, store hours,
after-sales policies), ``voice_orders`` (order status for the kiosk). Edge to hub, append-only:
``voice_turns`` (every turn with its session id) and ``voice_tickets`` (hand-offs to a person).
"""

from __future__ import annotations

from sqlite_utils import Migrations

migrations = Migrations("voice")
HUB_OWNED = ("voice_faq", "voice_facts", "voice_orders")
EDGE_TO_HUB = ("voice_turns", "voice_tickets")


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
