"""``POST /v1/events``: record one event or a batch (client key), answered 201 with the ULIDs.

A body that is a JSON object is one event, answered with that event; a JSON list is a batch of up to
``max_batch`` events (plugin setting ``PLUGIN_CONFIG__events__max_batch``, default 500), stored in one transaction and answered
``{"events": [...]}`` in order. A batch with one event that does not fit is refused whole (422, its
``index`` and field problems in ``details``); a longer batch is 413 ``batch_too_large``.

Commerce events (``view``, ``click``, ``cart``, ``order``) may carry structured fields: ``session_id``,
``sku``, ``quantity``, ``price`` and the client's ``client_ts``. They are stored in the payload (the
events table and its sync stay as they are), so what reads events (the recommender) finds them there.

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
from pydantic import BaseModel, ConfigDict, Field, RootModel, field_validator, model_validator

from edge.api import (MAX_PRICE, Conflict, PayloadTooLarge, Unprocessable, current_node, current_store, documented,
                      json_body, node_origin, validated, write_transaction)

MAX_PAYLOAD_CHARS = 64 * 1024
EVENT_ID = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$"
SESSION_OR_SKU = r"^[^\x00-\x1f]{1,128}$"
COMMERCE_FIELDS = ("session_id", "sku", "quantity", "price", "client_ts")
DEFAULT_MAX_BATCH = 500


class EventIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: Literal["view", "click", "cart", "order", "voice_turn", "handoff", "fraud_decision"]
    payload: dict = Field(default_factory=dict)
    session_id: str | None = Field(None, pattern=SESSION_OR_SKU, description="The shopper's session (commerce events)")
    sku: str | None = Field(None, pattern=SESSION_OR_SKU, description="The catalog item viewed, clicked, carted or ordered")
    quantity: int | None = Field(None, ge=1, le=100_000)
    price: float | None = Field(None, ge=0, le=MAX_PRICE, allow_inf_nan=False)
    client_ts: datetime.datetime | None = Field(None, description="When it happened on the client (ISO 8601)")
    event_id: str | None = Field(None, pattern=EVENT_ID, description="The client's own id of this event (a UUID, a "
                                 "ULID, ...): a retry with the same event_id is stored once and answered the same.")

    @field_validator("payload")
    @classmethod
    def _small(cls, value: dict) -> dict:
        if len(json.dumps(value)) > MAX_PAYLOAD_CHARS:
            raise ValueError(f"payload is larger than {MAX_PAYLOAD_CHARS} characters of JSON")
        return value

    @model_validator(mode="after")
    def _commerce(self):
        if self.kind == "click" and (self.session_id is None or self.sku is None):
            raise ValueError("a click needs session_id and sku")
        if (self.quantity is not None or self.price is not None) and self.sku is None:
            raise ValueError("quantity and price belong to an sku")
        return self

    def stored_payload(self) -> dict:
        """The payload as stored: the structured commerce fields folded in beside the client's own keys."""
        fields = {k: getattr(self, k) for k in COMMERCE_FIELDS if getattr(self, k) is not None}
        if "client_ts" in fields:
            fields["client_ts"] = fields["client_ts"].isoformat()
        return {**self.payload, **fields}


class EventOut(BaseModel):
    id: str
    kind: str
    created_at: str
    event_id: str | None = None


class EventsConfig(BaseModel):
    """The events plugin's settings."""
    max_batch: int = Field(DEFAULT_MAX_BATCH, ge=1, le=10_000, description="Most events in one POST /v1/events batch")


class EventsIn(RootModel):
    """One event, or a batch: a list of events."""
    root: EventIn | list[EventIn]


class BatchOut(BaseModel):
    events: list[EventOut]


class EventsOut(RootModel):
    root: EventOut | BatchOut


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


def _insert_event(db, kind: str, payload: dict, origin: str | None, event_id: str | None, store: str) -> dict:
    """Insert one event of ``store`` inside the caller's transaction, unless its ``event_id`` was seen (then its
    first answer). The same ``event_id`` sent for another store counts as reused (409): its fingerprint names
    the store."""
    from ulid import ULID

    body = json.dumps(payload, separators=(",", ":"))
    scope = "" if store == "default" else f"{store}\n"
    fingerprint = hashlib.sha256(f"{scope}{kind}\n{body}".encode()).hexdigest()
    if event_id is not None and (seen := _replayed(db, event_id, fingerprint)) is not None:
        return _answer(seen, event_id)
    row = {"id": str(ULID()), "kind": kind, "payload": body, "origin": origin, "store": store,
           "created_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="milliseconds")}
    db["events"].insert(row)
    if event_id is not None:
        db["event_client_ids"].insert({"event_id": event_id, "id": row["id"], "kind": kind,
                                       "created_at": row["created_at"], "fingerprint": fingerprint})
    return _answer(row, event_id)


def record_event(db, kind: str, payload: dict, origin: str | None = None, event_id: str | None = None,
                 store: str = "default") -> dict:
    """Store one event of ``store`` with a new ULID, once per ``event_id``; return ``{"id", "kind", "created_at"[, "event_id"]}``."""
    with write_transaction(db):
        return _insert_event(db, kind, payload, origin, event_id, store)


def record_events(db, events: list[EventIn], origin: str | None = None, store: str = "default") -> list[dict]:
    """Store a batch of ``store`` in one transaction (all or nothing); an ``event_id`` repeated in it is stored once."""
    with write_transaction(db):
        return [_insert_event(db, e.kind, e.stored_payload(), origin, e.event_id, store) for e in events]


def validated_batch(items: list, max_batch: int) -> list[EventIn]:
    """Every event of a batch validated; 413 past ``max_batch``, 422 naming the first bad event's index."""
    if len(items) > max_batch:
        raise PayloadTooLarge(f"a batch holds at most {max_batch} events, this one {len(items)}",
                              code="batch_too_large", details={"max_batch": max_batch})
    if not items:
        raise Unprocessable("the batch is empty", code="invalid_request", details=[{"field": "", "problem": "empty"}])
    events = []
    for index, item in enumerate(items):
        try:
            events.append(validated(EventIn, item))
        except Unprocessable as exc:
            raise Unprocessable(f"event {index} of the batch does not fit the schema; nothing was stored",
                                code="invalid_event", details={"index": index, "problems": exc.details}) from None
    return events


def make_blueprint() -> Blueprint:
    """A fresh Blueprint with the events route."""
    bp = Blueprint("events", __name__, url_prefix="/v1/events")

    @bp.post("")
    @documented("Record an event or a batch of events (a JSON list: all stored or none); idempotent with event_id",
                request=EventsIn, response=EventsOut, status=201, errors=(400, 409, 413, 415, 422), tags=("events",))
    def post_event():
        body = json_body()
        node = current_node()
        db = node.db()
        if isinstance(body, list):
            events = validated_batch(body, node.plugin_config("events").max_batch)
            return jsonify({"events": record_events(db, events, node_origin(db), current_store())}), 201
        event = validated(EventIn, body)
        answer = record_event(db, event.kind, event.stored_payload(), node_origin(db), event.event_id, current_store())
        return jsonify(answer), 201

    return bp
