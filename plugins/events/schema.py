"""The events table: append-only, ULID keys, one row per thing that happened in the store."""

from __future__ import annotations

from sqlite_utils import Migrations

KINDS = ("view", "click", "cart", "order", "voice_turn", "handoff", "fraud_decision")
migrations = Migrations("events")


@migrations()
def create_events(db):
    db["events"].create(
        {"id": str, "kind": str, "payload": str, "created_at": str, "origin": str},
        pk="id", not_null={"kind", "payload", "created_at"},
    )
    db["events"].create_index(["kind", "created_at"])


@migrations()
def create_event_client_ids(db):
    """The client's ``event_id`` of each event that came with one: a retry finds its event here.

    Local to the node (not synced): a kiosk retries against the node it posted to. The answer is kept
    with the id so that a retry is answered the same even after the event itself was compacted away.
    """
    db["event_client_ids"].create(
        {"event_id": str, "id": str, "kind": str, "created_at": str, "fingerprint": str},
        pk="event_id", not_null={"id", "kind", "created_at", "fingerprint"},
    )


@migrations()
def add_event_store(db):
    """The store each event happened in (CDN edge mode); events recorded before stores were ``default``'s."""
    db["events"].add_column("store", str, not_null_default="default")
