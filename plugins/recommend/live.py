"""The node's own new events, folded in as they arrive (no rebuild per event).

Every request first reads the events stored since the last one it folded (by ULID, at most
``batch`` at a time) and folds each commerce event (view, click, cart, order with a ``session_id`` and an
``sku``): into the session's recent items and its cart/order set, into decayed live popularity
(half-life ``half_life_s``), and, for views, clicks and carts, into co-visitation deltas counted as
training counts them (forward pairs within ``WINDOW`` positions weigh ``1/distance``, backward ones half
of that). Events from before ``since`` (the end of the active bundle's training data) only set the session
state: the bundle counted them already. Each worker folds for itself; they read the same events, so they agree. At start a worker
folds at most the last ``max_events`` events. Sessions are kept for the ``max_sessions`` most recent.
"""

from __future__ import annotations

import json
import time
from collections import OrderedDict, defaultdict
from dataclasses import dataclass, field

WINDOW = 5
COMMERCE = {"view", "click", "cart", "order"}


@dataclass
class LiveSession:
    """One session as the node saw it."""

    items: list = field(default_factory=list)   # viewed, clicked and carted SKUs, oldest first (at most 50)
    bought: set = field(default_factory=set)    # SKUs in the cart or ordered


class LiveEvents:
    """Sessions, popularity and co-visitation deltas from the node's events (SKU keyed)."""

    def __init__(self, max_sessions=50_000, max_events=200_000, half_life_s=7 * 86_400.0, batch=5_000, since=None):
        self.since = since
        self.max_sessions, self.max_events, self.half_life_s, self.batch = max_sessions, max_events, half_life_s, batch
        self.sessions: OrderedDict[str, LiveSession] = OrderedDict()
        self.covisit: dict[str, dict[str, float]] = defaultdict(dict)
        self.popularity: dict[str, float] = {}
        self.store_popularity: dict[str, dict[str, float]] = defaultdict(dict)
        self.last_id: str | None = None
        self.folded = 0
        self._epoch = time.time()

    def catch_up(self, db) -> int:
        """Fold every event stored since the last call; return how many were read."""
        if self.last_id is None:
            first = db.execute("SELECT id FROM events ORDER BY id DESC LIMIT 1 OFFSET ?", [self.max_events]).fetchone()
            self.last_id = first[0] if first else ""
        read = 0
        while True:
            rows = db.execute("SELECT id, kind, payload, origin, created_at FROM events WHERE id > ? ORDER BY id LIMIT ?",
                              [self.last_id, self.batch]).fetchall()
            for row in rows:
                self.fold(*row)
            read += len(rows)
            if rows:
                self.last_id = rows[-1][0]
            if len(rows) < self.batch:
                return read

    def fold(self, event_id: str, kind: str, payload: str, origin: str | None = None, created_at: str | None = None) -> None:
        """Fold one stored event (into the session only when the bundle's training already counted it)."""
        if kind not in COMMERCE:
            return
        try:
            data = json.loads(payload)
            session_id, sku = data.get("session_id"), data.get("sku")
        except (ValueError, AttributeError):
            return
        if not isinstance(session_id, str) or not isinstance(sku, str):
            return
        counted = self.since is not None and _seconds(data.get("client_ts") or created_at) <= self.since
        if not counted:
            self.folded += 1
            weight = self._weight()
            self.popularity[sku] = self.popularity.get(sku, 0.0) + weight
            if origin:
                self.store_popularity[origin][sku] = self.store_popularity[origin].get(sku, 0.0) + weight
        session = self._session(session_id)
        if kind in ("cart", "order"):
            session.bought.add(sku)
        if kind != "order":
            if not counted:
                self._add_pairs(session.items, sku)
            session.items = (session.items + [sku])[-50:]

    def _weight(self) -> float:
        exponent = (time.time() - self._epoch) / self.half_life_s
        if exponent > 50:  # rescale before the weights overflow
            self.popularity = {k: v * 2.0 ** -exponent for k, v in self.popularity.items()}
            self._epoch, exponent = time.time(), 0.0
        return 2.0 ** exponent

    def _session(self, session_id: str) -> LiveSession:
        session = self.sessions.pop(session_id, None) or LiveSession()
        self.sessions[session_id] = session
        while len(self.sessions) > self.max_sessions:
            self.sessions.popitem(last=False)
        return session

    def _add_pairs(self, items: list, sku: str) -> None:
        for distance, earlier in enumerate(reversed(items[-WINDOW:]), start=1):
            if earlier == sku:
                continue
            self.covisit[earlier][sku] = self.covisit[earlier].get(sku, 0.0) + 1.0 / distance
            self.covisit[sku][earlier] = self.covisit[sku].get(earlier, 0.0) + 0.5 / distance

    def session(self, session_id: str | None) -> LiveSession:
        """The session's state (empty for a session the node has not seen)."""
        return self.sessions.get(session_id) if session_id in self.sessions else LiveSession()

    def popular(self, origin: str | None, n: int) -> list[tuple[str, float]]:
        """The live popular SKUs (this store's when it has events of its own), best first."""
        import heapq

        source = self.store_popularity.get(origin) or self.popularity
        return heapq.nlargest(n, source.items(), key=lambda kv: kv[1])


def _seconds(stamp) -> float:
    """Seconds since the epoch of an ISO 8601 time (naive means UTC); infinity when it cannot be read."""
    import datetime

    try:
        value = datetime.datetime.fromisoformat(stamp)
    except (TypeError, ValueError):
        return float("inf")
    return (value if value.tzinfo else value.replace(tzinfo=datetime.timezone.utc)).timestamp()
