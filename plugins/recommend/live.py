"""The node's own new events, folded in as they arrive (no rebuild per event, no scan of stored events per request).

Every request first reads the events stored since the last one it folded (by ULID, at most ``batch`` at a
time) and folds each commerce event (view, click, cart, order with a ``session_id`` and an ``sku``) into
the state of the event's store (CDN edge mode: one node, many stores; the events table names each
event's store): the session's recent items and its cart/order set, decayed live popularity (half-life
``half_life_s``), and, for views, clicks and carts, co-visitation deltas counted as training counts them
(forward pairs within ``WINDOW`` positions weigh ``1/distance``, backward ones half of that). One store's
events never change another's sessions, popularity or co-visitation; the trained bundle is shared.

Bounded by construction: each SKU's co-visitation row keeps its ``row_cap`` strongest partners (pruned
when it doubles), a store keeps live popularity and co-visitation rows for its ``max_skus`` most popular
SKUs (pruned when it doubles: a client posting made-up SKUs cannot grow a worker without end), sessions are kept for the ``max_sessions`` most recent per store, and the popular list
is tracked as events fold (weights only grow, so an SKU enters the top only when it passes the current
n-th best) instead of being ranked over every SKU per request.

Events from before ``since`` (the end of the active bundle's training data) only set the session state:
the bundle counted them already. Each worker folds for itself; they read the same events, so they agree.
At start a worker folds at most the last ``max_events`` events.
"""

from __future__ import annotations

import json
import time
from collections import OrderedDict, defaultdict
from dataclasses import dataclass, field

WINDOW = 5
COMMERCE = {"view", "click", "cart", "order"}
TOP = 200  # live popular SKUs tracked per store


@dataclass
class LiveSession:
    """One session as the node saw it."""

    items: list = field(default_factory=list)   # viewed, clicked and carted SKUs, oldest first (at most 50)
    bought: set = field(default_factory=set)    # SKUs in the cart or ordered


class TopTracker:
    """The ``n`` largest of values that only grow, kept up to date as they grow (no ranking over every key)."""

    def __init__(self, n: int = TOP):
        self.n, self.kept, self.floor = n, {}, 0.0

    def offer(self, key: str, value: float) -> None:
        """Note that ``key``'s value is now ``value``."""
        if key in self.kept or value > self.floor:
            self.kept[key] = value
            if len(self.kept) > 2 * self.n:
                best = sorted(self.kept.items(), key=lambda kv: -kv[1])[: self.n]
                self.kept, self.floor = dict(best), best[-1][1]

    def scale(self, factor: float) -> None:
        self.kept = {k: v * factor for k, v in self.kept.items()}
        self.floor *= factor

    def best(self, n: int) -> list[tuple[str, float]]:
        return sorted(self.kept.items(), key=lambda kv: -kv[1])[: min(n, self.n)]


class LiveStore:
    """One store's sessions, popularity and co-visitation deltas (SKU keyed)."""

    def __init__(self, max_sessions: int, row_cap: int, max_skus: int = 200_000):
        self.max_sessions, self.row_cap, self.max_skus = max_sessions, row_cap, max_skus
        self.sessions: OrderedDict[str, LiveSession] = OrderedDict()
        self.covisit: dict[str, dict[str, float]] = defaultdict(dict)
        self.popularity: dict[str, float] = {}
        self.top = TopTracker()
        self.folded = 0

    def count(self, sku: str, weight: float) -> None:
        """Add ``weight`` to the SKU's live popularity."""
        self.folded += 1
        value = self.popularity[sku] = self.popularity.get(sku, 0.0) + weight
        self.top.offer(sku, value)
        if len(self.popularity) > 2 * self.max_skus:
            self._keep_most_popular()

    def _keep_most_popular(self) -> None:
        kept = dict(sorted(self.popularity.items(), key=lambda kv: -kv[1])[: self.max_skus])
        self.popularity = kept
        self.covisit = defaultdict(dict, {sku: row for sku, row in self.covisit.items() if sku in kept})

    def scale(self, factor: float) -> None:
        self.popularity = {k: v * factor for k, v in self.popularity.items()}
        self.top.scale(factor)

    def session(self, session_id: str) -> LiveSession:
        """The session's state, made the most recent (the oldest past ``max_sessions`` are dropped)."""
        session = self.sessions.pop(session_id, None) or LiveSession()
        self.sessions[session_id] = session
        while len(self.sessions) > self.max_sessions:
            self.sessions.popitem(last=False)
        return session

    def add_pairs(self, items: list, sku: str) -> None:
        """Co-visitation of ``sku`` with the session's last ``WINDOW`` items."""
        for distance, earlier in enumerate(reversed(items[-WINDOW:]), start=1):
            if earlier == sku:
                continue
            self._add(earlier, sku, 1.0 / distance)
            self._add(sku, earlier, 0.5 / distance)

    def _add(self, sku: str, other: str, weight: float) -> None:
        row = self.covisit[sku]
        row[other] = row.get(other, 0.0) + weight
        if len(row) > 2 * self.row_cap:
            self.covisit[sku] = dict(sorted(row.items(), key=lambda kv: -kv[1])[: self.row_cap])


class LiveEvents:
    """The live state of every store of the node, folded from the events table."""

    def __init__(self, max_sessions=50_000, max_events=200_000, half_life_s=7 * 86_400.0, batch=5_000, since=None,
                 row_cap=200):
        self.since = since
        self.max_sessions, self.max_events, self.half_life_s, self.batch = max_sessions, max_events, half_life_s, batch
        self.row_cap = row_cap
        self.stores: dict[str, LiveStore] = {}
        self.last_id: str | None = None
        self.folded = 0
        self._epoch = time.time()
        self._select = None

    def store(self, store: str = "default") -> LiveStore:
        """One store's live state (empty for a store without events yet)."""
        if store not in self.stores:
            self.stores[store] = LiveStore(self.max_sessions, self.row_cap)
        return self.stores[store]

    def catch_up(self, db) -> int:
        """Fold every event stored since the last call; return how many were read."""
        if self._select is None:
            columns = {row[1] for row in db.execute("PRAGMA table_info(events)")}
            store = "store" if "store" in columns else "'default'"
            self._select = (f"SELECT id, kind, payload, origin, created_at, {store} FROM events WHERE id > ? "
                            "ORDER BY id LIMIT ?")
        if self.last_id is None:
            first = db.execute("SELECT id FROM events ORDER BY id DESC LIMIT 1 OFFSET ?", [self.max_events]).fetchone()
            self.last_id = first[0] if first else ""
        read = 0
        while True:
            rows = db.execute(self._select, [self.last_id, self.batch]).fetchall()
            for event_id, kind, payload, origin, created_at, store in rows:
                self.fold(event_id, kind, payload, origin, created_at, store)
            read += len(rows)
            if rows:
                self.last_id = rows[-1][0]
            if len(rows) < self.batch:
                return read

    def fold(self, event_id: str, kind: str, payload: str, origin: str | None = None, created_at: str | None = None,
             store: str = "default") -> None:
        """Fold one stored event into its store (into the session only when the bundle's training already counted it)."""
        if kind not in COMMERCE:
            return
        try:
            data = json.loads(payload)
            session_id, sku = data.get("session_id"), data.get("sku")
        except (ValueError, AttributeError):
            return
        if not isinstance(session_id, str) or not isinstance(sku, str):
            return
        live = self.store(store or "default")
        counted = self.since is not None and _seconds(data.get("client_ts") or created_at) <= self.since
        if not counted:
            self.folded += 1
            live.count(sku, self._weight())
        session = live.session(session_id)
        if kind in ("cart", "order"):
            session.bought.add(sku)
        if kind != "order":
            if not counted:
                live.add_pairs(session.items, sku)
            session.items = (session.items + [sku])[-50:]

    def _weight(self) -> float:
        exponent = (time.time() - self._epoch) / self.half_life_s
        if exponent > 50:  # rescale before the weights overflow
            for live in self.stores.values():
                live.scale(2.0 ** -exponent)
            self._epoch, exponent = time.time(), 0.0
        return 2.0 ** exponent

    def session(self, session_id: str | None, store: str = "default") -> LiveSession:
        """The session's state in ``store`` (empty for a session the node has not seen there)."""
        sessions = self.stores[store].sessions if store in self.stores else {}
        return sessions.get(session_id) if session_id in sessions else LiveSession()

    def covisit(self, store: str = "default") -> dict:
        """``{sku: {other: weight}}`` folded from ``store``'s events."""
        return self.stores[store].covisit if store in self.stores else {}

    def popular(self, store: str, n: int) -> list[tuple[str, float]]:
        """The live popular SKUs of ``store``, best first."""
        return self.stores[store].top.best(n) if store in self.stores else []


def _seconds(stamp) -> float:
    """Seconds since the epoch of an ISO 8601 time (naive means UTC); infinity when it cannot be read."""
    import datetime

    try:
        value = datetime.datetime.fromisoformat(stamp)
    except (TypeError, ValueError):
        return float("inf")
    return (value if value.tzinfo else value.replace(tzinfo=datetime.timezone.utc)).timestamp()
