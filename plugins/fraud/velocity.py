"""Velocity: payment counts and amount sums per card, device, IP and account over 1 minute, 1 hour, 24 hours.

Kept incrementally in ``fraud_rolling``: one row per entity holding its recent buckets packed in a
blob (10 s buckets for the minute, 1 min for the hour, 1 h for the day; at most 7 + 61 + 25 of them).
A payment reads the rows of its entities with one statement, adds itself to the current bucket of
each resolution, drops the buckets that fell out of the window (measured from the newest bucket the
entity has seen, so a replay out of order still counts), and writes the rows back with one prepared
statement in the same transaction. A window is the sum of the buckets that start inside it (the
minute is exact to 10 s, the day to 1 h), and no statement ever scans history. ``prune`` drops the
rows of entities not seen for a day, in bounded batches, found by ``seen_hour`` (:mod:`plugins.fraud.aging`:
a payment never moves an index entry).

Keys (CDN edge mode): ``<store>/<kind>:<value>``, so every store's windows are its own, plus a
node-wide row per card (``*/card:<value>``) read as ``node_card_count_<window>`` /
``node_card_sum_<window>``: a card hammering several stores of one node is itself a signal.
"""

from __future__ import annotations

import struct

from .features import ENTITIES, WINDOWS
from .aging import SEEN_HOUR, Sweep, expired

RESOLUTION = {"1m": 10, "1h": 60, "24h": 3600}
LONGEST = max(WINDOWS.values()) + max(RESOLUTION.values())
NODE_WIDE = "*"
_BUCKET = struct.Struct("<qqd")  # bucket start, count, amount sum
_HEADER = struct.Struct("<HHH")  # buckets per resolution, in RESOLUTION's order
_FIELDS = {"card": "card_hash", "device": "device_id", "ip": "ip", "account": "account_id"}


def entity_keys(payment: dict, store: str) -> dict[str, str]:
    """``{entity kind: key}`` of the payment's card, device, IP and account in ``store`` (absent ones left out)."""
    return {kind: f"{store}/{kind}:{payment[field]}" for kind, field in _FIELDS.items() if payment.get(field)}


def velocity_keys(keys: dict[str, str]) -> dict[str, str]:
    """The store's entity keys plus the node-wide card key (``node_card``)."""
    out = dict(keys)
    if "card" in keys:
        out["node_card"] = NODE_WIDE + keys["card"][keys["card"].index("/"):]
    return out


def unpack(blob: bytes | None) -> list[dict[int, list]]:
    """``[{bucket start: [count, sum]}]`` per resolution of a ``fraud_rolling`` state."""
    if not blob:
        return [{} for _ in RESOLUTION]
    sizes, offset, out = _HEADER.unpack_from(blob), _HEADER.size, []
    for size in sizes:
        buckets = {}
        for _ in range(size):
            start, n, total = _BUCKET.unpack_from(blob, offset)
            buckets[start] = [n, total]
            offset += _BUCKET.size
        out.append(buckets)
    return out


def pack(state: list[dict[int, list]]) -> bytes:
    """The blob of :func:`unpack`'s structure."""
    parts = [_HEADER.pack(*(len(b) for b in state))]
    parts += [_BUCKET.pack(start, n, total) for buckets in state for start, (n, total) in sorted(buckets.items())]
    return b"".join(parts)


def add(state: list[dict[int, list]], amount: float, ts: int) -> None:
    """Count one payment at ``ts`` in every resolution and forget the buckets no window can reach."""
    for buckets, (window, res) in zip(state, RESOLUTION.items()):
        slot = buckets.setdefault(ts - ts % res, [0, 0.0])
        slot[0] += 1
        slot[1] += amount
        horizon = max(buckets) - WINDOWS[window] - res
        for start in [s for s in buckets if s < horizon]:
            del buckets[start]


def window_sums(state: list[dict[int, list]], ts: int) -> dict[str, tuple[int, float]]:
    """``{window: (count, sum)}`` at ``ts``: the buckets starting in ``[ts - window, ts]``."""
    out = {}
    for buckets, (window, seconds) in zip(state, WINDOWS.items()):
        inside = [v for start, v in buckets.items() if ts - seconds <= start <= ts]
        out[window] = (sum(v[0] for v in inside), sum(v[1] for v in inside))
    return out


def _stored(db, wanted: dict[str, str]) -> dict[str, bytes]:
    """``{entity key: state blob}`` of the ``wanted`` entities that have a row (one read)."""
    marks = ", ".join("?" * len(wanted))
    return dict(db.conn.execute(f"SELECT entity, state FROM fraud_rolling WHERE entity IN ({marks})", list(wanted.values())))


def _with_payment(stored: dict[str, bytes], wanted: dict[str, str], amount: float, ts: int) -> tuple[dict, list, dict]:
    """The payment added to the stored states: ``({kind: state}, rows to write, features)``."""
    states = {}
    for kind, key in wanted.items():
        states[kind] = unpack(stored.get(key))
        add(states[kind], amount, ts)
    rows = [(key, ts, pack(states[kind]), ts // SEEN_HOUR) for kind, key in wanted.items()]
    return states, rows, features_of(states, ts)


def read_as_recorded(db, keys: dict[str, str], amount: float, ts: int, memo: dict | None = None) -> dict:
    """The velocity features :func:`record_and_read` would return for the payment now, without writing anything.
    ``memo``: where to keep what was read and worked out, for :func:`record_and_read` to reuse if nothing changed."""
    wanted = velocity_keys(keys)
    if not wanted:
        return features_of({}, ts)
    stored = _stored(db, wanted)
    _, rows, features = _with_payment(stored, wanted, amount, ts)
    if memo is not None:
        memo["velocity"] = (stored, rows, features)
    return features


def record_and_read(db, keys: dict[str, str], amount: float, ts: int, memo: dict | None = None) -> dict:
    """Add the payment to each of its entities' windows (one read, one write) and return the velocity features;
    what :func:`read_as_recorded` kept in ``memo`` is reused when the stored states are still the ones it read."""
    wanted = velocity_keys(keys)
    if not wanted:
        return features_of({}, ts)
    stored = _stored(db, wanted)
    seen = (memo or {}).get("velocity")
    _, rows, features = seen if seen is not None and seen[0] == stored else _with_payment(stored, wanted, amount, ts)
    db.conn.executemany("INSERT INTO fraud_rolling (entity, last_seen, state, seen_hour) VALUES (?, ?, ?, ?) ON CONFLICT "
                        "(entity) DO UPDATE SET last_seen = max(last_seen, excluded.last_seen), state = excluded.state",
                        rows)
    return features


def features_of(states: dict, ts: int) -> dict:
    """``{card_count_1m: ..., card_sum_1m: ..., ..., node_card_count_1m: ...}`` (0 for absent entities)."""
    out = {}
    for kind in (*ENTITIES, "node_card"):
        sums = window_sums(states[kind], ts) if kind in states else {}
        for window in WINDOWS:
            count, total = sums.get(window, (0, 0.0))
            out[f"{kind}_count_{window}"] = int(count)
            out[f"{kind}_sum_{window}"] = round(float(total), 2)
    return out


def prune(db, ts: int, batch: int = 5000) -> Sweep:
    """Drop the rows of entities no window can reach any more, of up to ``batch`` candidates."""
    gone, full = expired(db, "fraud_rolling", ("entity",), ts - LONGEST, batch)
    db.conn.executemany("DELETE FROM fraud_rolling WHERE entity = ?", gone)
    return Sweep(len(gone), full)
