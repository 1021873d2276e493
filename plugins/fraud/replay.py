"""Replay payments through the node's own engine (velocity, graph, rules, models) in a private store.

Used by the backtest, by training on the payment stream (its derived features) and by the benchmarks,
so every figure comes from the code that answers ``POST /v1/fraud/precheck``.
"""

from __future__ import annotations

from pathlib import Path


def private_store(path: Path | None = None):
    """A store with the fraud tables (in memory unless ``path``)."""
    import sqlite_utils

    from edge.api import connect, migrate

    from .schema import migrations

    db = connect(path) if path is not None else sqlite_utils.Database(memory=True)
    migrate(db, [migrations])
    return db


def replay(rows, ctx, db=None, progress=None):
    """Yield ``(row, result)`` for every row (a stream or backtest CSV row) in order, as the engine answers it."""
    from . import engine

    db = db if db is not None else private_store()
    for index, row in enumerate(rows):
        body = to_payload(row)
        with db.conn:
            result = engine.evaluate(db, body, int(body["timestamp"]), ctx)
        if progress is not None and index and index % 20000 == 0:
            progress(index)
        yield row, result


def stream_context(ruleset=None, scorer=None):
    """An engine context for replays: the given rules (none by default), no lists."""
    from . import engine, rules

    return engine.Context(ruleset if ruleset is not None else rules.compile_rules([], "none"), scorer=scorer)


def to_payload(row: dict) -> dict:
    """The precheck request body of a stream or backtest CSV row (strings as CSV gives them, or numbers)."""
    body = {"amount": float(row["amount"]), "currency": row.get("currency") or "USD", "timestamp": epoch_of(row["timestamp"])}
    for key in ("account_id", "card_hash", "device_id", "ip", "store_id", "email"):
        if row.get(key):
            body[key] = str(row[key])
    count = int(float(row.get("item_count") or 0))
    if count:
        body["items"] = [{"sku": "item", "qty": count}]
    return body


def epoch_of(value) -> int:
    """Epoch seconds of a number, a numeric string or an ISO 8601 time."""
    import datetime

    try:
        return int(float(value))
    except (TypeError, ValueError):
        parsed = datetime.datetime.fromisoformat(str(value))
        return int((parsed if parsed.tzinfo else parsed.replace(tzinfo=datetime.timezone.utc)).timestamp())
