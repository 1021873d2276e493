"""The events table: append-only, ULID keys, one row per thing that happened in the store."""

from __future__ import annotations

from sqlite_utils import Migrations

KINDS = ("view", "cart", "order", "voice_turn", "handoff", "fraud_decision")
migrations = Migrations("events")


@migrations()
def create_events(db):
    db["events"].create(
        {"id": str, "kind": str, "payload": str, "created_at": str, "origin": str},
        pk="id", not_null={"kind", "payload", "created_at"},
    )
    db["events"].create_index(["kind", "created_at"])
