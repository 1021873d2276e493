"""Velocity: payment counts and amount sums per card, device, IP and account over 1 minute, 1 hour, 24 hours.

Kept incrementally in ``fraud_velocity`` as bucketed counters (one row per entity, resolution and
bucket start): an event adds to one bucket per window and entity, and a window is the sum of at most
``window / resolution + 1`` buckets, read by primary key, never a scan of the history. Resolutions:
10 s for the minute, 1 min for the hour, 1 h for the day, so a window is exact to its bucket size
(a window covers the buckets that start inside it: the minute 50-60 s, the day 23-24 h). ``prune`` drops buckets older than the longest window.
"""

from __future__ import annotations

from .features import ENTITIES, WINDOWS

RESOLUTION = {"1m": 10, "1h": 60, "24h": 3600}
LONGEST = max(WINDOWS.values()) + max(RESOLUTION.values())


def entity_keys(payment: dict) -> dict[str, str]:
    """``{entity kind: key}`` of the payment's card, device, IP and account (absent ones left out)."""
    fields = {"card": "card_hash", "device": "device_id", "ip": "ip", "account": "account_id"}
    return {kind: f"{kind}:{payment[field]}" for kind, field in fields.items() if payment.get(field)}


def record(db, keys: dict[str, str], amount: float, ts: int) -> None:
    """Add one payment of ``amount`` at ``ts`` (epoch seconds) to every window of every entity."""
    rows = [(key, res, ts - ts % res, amount) for key in keys.values() for res in set(RESOLUTION.values())]
    db.conn.executemany("INSERT INTO fraud_velocity (entity, res, bucket, n, total) VALUES (?, ?, ?, 1, ?) "
                   "ON CONFLICT (entity, res, bucket) DO UPDATE SET n = n + 1, total = total + excluded.total", rows)


def read(db, keys: dict[str, str], ts: int) -> dict:
    """``{card_count_1m: ..., card_sum_1m: ..., ...}`` for every entity and window (0 for absent entities)."""
    out = {}
    for kind in ENTITIES:
        key = keys.get(kind)
        for window, seconds in WINDOWS.items():
            res = RESOLUTION[window]
            count, total = (0, 0.0)
            if key is not None:
                count, total = db.execute(
                    "SELECT COALESCE(SUM(n), 0), COALESCE(SUM(total), 0) FROM fraud_velocity "
                    "WHERE entity = ? AND res = ? AND bucket >= ? AND bucket <= ?", [key, res, ts - seconds, ts]).fetchone()
            out[f"{kind}_count_{window}"] = int(count)
            out[f"{kind}_sum_{window}"] = round(float(total), 2)
    return out


def prune(db, ts: int) -> int:
    """Drop buckets no window can reach any more; return how many."""
    return db.execute("DELETE FROM fraud_velocity WHERE bucket < ?", [ts - LONGEST]).rowcount
