"""``POST /v1/events``: record one event (client key), answered 201 with its ULID."""

from __future__ import annotations

import datetime
import json
from typing import Literal

from flask import Blueprint, jsonify
from pydantic import BaseModel, ConfigDict, Field, field_validator

from edge.bodies import json_body, validated
from edge.node import current_node
from edge.openapi import documented

MAX_PAYLOAD_CHARS = 64 * 1024


class EventIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: Literal["view", "cart", "order", "voice_turn", "handoff", "fraud_decision"]
    payload: dict = Field(default_factory=dict)

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


def record_event(db, kind: str, payload: dict, origin: str | None = None) -> dict:
    """Store one event with a new ULID; return ``{"id", "kind", "created_at"}``."""
    from ulid import ULID

    row = {"id": str(ULID()), "kind": kind, "payload": json.dumps(payload, separators=(",", ":")),
           "created_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="milliseconds"), "origin": origin}
    with db.atomic():
        db["events"].insert(row)
    return {"id": row["id"], "kind": kind, "created_at": row["created_at"]}


def node_origin(db) -> str | None:
    """This node's origin name once it has joined a hub (``None`` before: the hub stamps it)."""
    row = db.execute("SELECT origin FROM _sync_state WHERE id = 1").fetchone() if db["_sync_state"].exists() else None
    return row[0] if row else None


def make_blueprint() -> Blueprint:
    """A fresh Blueprint with the events route."""
    bp = Blueprint("events", __name__, url_prefix="/v1/events")

    @bp.post("")
    @documented("Record an event (view, cart, order, voice turn, handoff, fraud decision)", request=EventIn,
                response=EventOut, status=201, errors=(400, 415, 422), tags=("events",))
    def post_event():
        event = validated(EventIn, json_body())
        db = current_node().db()
        return jsonify(record_event(db, event.kind, event.payload, node_origin(db))), 201

    return bp
