"""``POST /v1/events``: record one event (client key), answered 201 with its ULID.

An optional client ``event_id`` makes the post idempotent: a retry with the same ``event_id`` (after a
timeout, say) is stored once and answered the same, 201 with the first answer's ``id`` and
``created_at``; the same ``event_id`` with another kind or payload is 409 ``event_id_reused``.
"""

from __future__ import annotations

import datetime
import hashlib
import json
from typing import Literal

from flask import Blueprint, jsonify
from pydantic import BaseModel, ConfigDict, Field, field_validator

from edge.bodies import json_body, validated
from edge.errors import Conflict
from edge.node import current_node
from edge.openapi import documented
from edge.store import write_transaction

MAX_PAYLOAD_CHARS = 64 * 1024
EVENT_ID = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$"


class EventIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: Literal["view", "cart", "order", "voice_turn", "handoff", "fraud_decision"]
    payload: dict = Field(default_factory=dict)
    event_id: str | None = Field(None, pattern=EVENT_ID, description="The client's own id of this event (a UUID, a "
                                 "ULID, ...): a retry with the same event_id is stored once and answered the same.")

    @field_validator("payload")
    @classmethod
    def _small(cls, value: dict) -> dict:
        if len(json.dumps(value)) > MAX_PAYLOAD_CHARS:
            raise ValueError(f"payload is larger than {MAX_PAYLOAD_CHARS} characters of JSON")
        return value


class EventOut(BaseModel):
    id: str
    kind: str
    created_at: str
    event_id: str | None = None


def _answer(row: dict, event_id: str | None) -> dict:
    answer = {"id": row["id"], "kind": row["kind"], "created_at": row["created_at"]}
    return {**answer, "event_id": event_id} if event_id is not None else answer


def _replayed(db, event_id: str, fingerprint: str) -> dict | None:
    seen = db.execute("SELECT id, kind, created_at, fingerprint FROM event_client_ids WHERE event_id = ?",
                      [event_id]).fetchone()
    if seen is None:
        return None
    if seen[3] != fingerprint:
        raise Conflict(f"event_id '{event_id}' was used already for another event", code="event_id_reused")
    return {"id": seen[0], "kind": seen[1], "created_at": seen[2]}


def record_event(db, kind: str, payload: dict, origin: str | None = None, event_id: str | None = None) -> dict:
    """Store one event with a new ULID, once per ``event_id``; return ``{"id", "kind", "created_at"[, "event_id"]}``."""
    from ulid import ULID

    body = json.dumps(payload, separators=(",", ":"))
    fingerprint = hashlib.sha256(f"{kind}\n{body}".encode()).hexdigest()
    with write_transaction(db):
        if event_id is not None and (seen := _replayed(db, event_id, fingerprint)) is not None:
            return _answer(seen, event_id)
        row = {"id": str(ULID()), "kind": kind, "payload": body, "origin": origin,
               "created_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="milliseconds")}
        db["events"].insert(row)
        if event_id is not None:
            db["event_client_ids"].insert({"event_id": event_id, "id": row["id"], "kind": kind,
                                           "created_at": row["created_at"], "fingerprint": fingerprint})
    return _answer(row, event_id)


def node_origin(db) -> str | None:
    """This node's origin name once it has joined a hub (``None`` before: the hub stamps it)."""
    row = db.execute("SELECT origin FROM _sync_state WHERE id = 1").fetchone() if db["_sync_state"].exists() else None
    return row[0] if row else None


def make_blueprint() -> Blueprint:
    """A fresh Blueprint with the events route."""
    bp = Blueprint("events", __name__, url_prefix="/v1/events")

    @bp.post("")
    @documented("Record an event (view, cart, order, voice turn, handoff, fraud decision); idempotent with event_id",
                request=EventIn, response=EventOut, status=201, errors=(400, 409, 413, 415, 422), tags=("events",))
    def post_event():
        event = validated(EventIn, json_body())
        db = current_node().db()
        return jsonify(record_event(db, event.kind, event.payload, node_origin(db), event.event_id)), 201

    return bp
