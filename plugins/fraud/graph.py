"""The account-device-IP-card graph of recent payments, updated per event in ``fraud_edges``.

Each payment links its account to its card, device and IP (both directions, ``last_seen`` = the
payment's time; a payment without an account links its card instead). Features read after the
event's own edges are written:

- distinct accounts per device, IP and card, and cards, devices and IPs per account (a range read of
  the node's edges by primary key);
- ``component_size``: the nodes reachable from the payment's account by a breadth-first walk over
  edges younger than the time to live, bounded by ``max_nodes`` and ``max_depth`` (a component larger
  than that is reported as ``max_nodes``) and by ``fanout`` neighbours per node (a shop's shared IP
  does not make every walk visit every customer);
- ``fraud_distance``: hops from the payment's account to the nearest known-fraud node (an entity of a
  ``fraud`` verdict in ``fraud_labels`` or on a block list) within that walk, ``null`` if none.

Edges older than the time to live are ignored at once and deleted by ``prune`` in bounded batches.
"""

from __future__ import annotations

from dataclasses import dataclass

KIND_OF_PREFIX = {"account": "account_id", "card": "card_hash", "device": "device_id", "ip": "ip"}


@dataclass(frozen=True)
class GraphLimits:
    """Bounds of the walk and the time to live of an edge."""

    ttl_s: int = 7 * 86400
    max_nodes: int = 200
    max_depth: int = 4
    fanout: int = 50


def centre(keys: dict[str, str]) -> str | None:
    """The node a payment's edges meet at: its account, else its card."""
    return keys.get("account") or keys.get("card")


def record(db, keys: dict[str, str], ts: int) -> None:
    """Link the payment's centre to each of its other entities (both directions) at time ``ts``."""
    hub = centre(keys)
    others = [key for key in keys.values() if key != hub]
    rows = [(a, b, ts) for other in others for a, b in ((hub, other), (other, hub))]
    db.conn.executemany("INSERT INTO fraud_edges (a, b, last_seen) VALUES (?, ?, ?) "
                   "ON CONFLICT (a, b) DO UPDATE SET last_seen = max(last_seen, excluded.last_seen)", rows)


def _count(db, node: str | None, prefix: str, since: int) -> int:
    if node is None:
        return 0
    return db.execute("SELECT COUNT(*) FROM fraud_edges WHERE a = ? AND b >= ? AND b < ? AND last_seen >= ?",
                      [node, prefix + ":", prefix + ";", since]).fetchone()[0]


def _walk(db, start: str, since: int, known: frozenset, limits: GraphLimits) -> tuple[int, int | None]:
    seen, frontier, distance = {start}, [start], (0 if start in known else None)
    for depth in range(1, limits.max_depth + 1):
        following = []
        for node in frontier:
            for (neighbour,) in db.execute("SELECT b FROM fraud_edges WHERE a = ? AND last_seen >= ? LIMIT ?",
                                           [node, since, limits.fanout]):
                if neighbour in seen:
                    continue
                seen.add(neighbour)
                following.append(neighbour)
                if distance is None and neighbour in known:
                    distance = depth
                if len(seen) >= limits.max_nodes:
                    return len(seen), distance
        if not following:
            break
        frontier = following
    return len(seen), distance


def read(db, keys: dict[str, str], ts: int, known: frozenset, limits: GraphLimits) -> dict:
    """The graph features of a payment whose edges were just recorded."""
    since = ts - limits.ttl_s
    account = keys.get("account")
    out = {"accounts_per_device": _count(db, keys.get("device"), "account", since),
           "accounts_per_ip": _count(db, keys.get("ip"), "account", since),
           "accounts_per_card": _count(db, keys.get("card"), "account", since),
           "cards_per_account": _count(db, account, "card", since),
           "devices_per_account": _count(db, account, "device", since),
           "ips_per_account": _count(db, account, "ip", since)}
    start = centre(keys)
    size, distance = _walk(db, start, since, known, limits) if start else (0, None)
    if distance is None and any(key in known for key in keys.values()):
        distance = 1
    out.update(component_size=size, fraud_distance=distance, near_fraud=distance is not None and distance <= 2)
    return out


def known_fraud_nodes(db) -> frozenset:
    """Graph nodes of confirmed fraud: the entities of ``fraud`` verdicts and every block-listed entity."""
    nodes = set()
    for row in db.execute("SELECT account_id, card_hash, device_id, ip FROM fraud_labels WHERE verdict = 'fraud'"):
        nodes.update(f"{kind}:{value}" for kind, value in zip(KIND_OF_PREFIX, row) if value)
    for kind, value in db.execute("SELECT kind, value FROM fraud_lists WHERE list = 'block' AND kind IN "
                                  "('account', 'card', 'device', 'ip')"):
        nodes.add(f"{kind}:{value}")
    return frozenset(nodes)


def prune(db, ts: int, ttl_s: int, batch: int = 5000) -> int:
    """Delete up to ``batch`` edges older than ``ttl_s``; return how many went."""
    return db.execute("DELETE FROM fraud_edges WHERE (a, b) IN (SELECT a, b FROM fraud_edges WHERE last_seen < ? LIMIT ?)",
                      [ts - ttl_s, batch]).rowcount
