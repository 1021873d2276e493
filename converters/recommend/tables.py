"""Build the scoring tables (:class:`plugins.recommend.scoring.RecTables`) from training sessions.

- popularity: counts over the last ``window_days`` of the data, each event weighed by
  ``0.5 ** (age / half_life)``; per store as well (the top ``STORE_TOP`` items of each origin);
- co-visitation (item-kNN): every ordered pair of a session within ``window`` positions, forward pairs
  weighing 1 and backward ones ``backward``, both divided by the distance and multiplied by the
  session's recency ``0.5 ** (age / half_life)``; the ``neighbours`` best per item are kept;
- session-kNN: the training sessions (items deduplicated, most recent ``max_sessions``) and, per item,
  the sessions holding it, most recent first.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np

from plugins.recommend.scoring import CSR, Params, RecTables

DAY = 86_400.0
STORE_TOP = 200


def vocabulary(sessions) -> list[str]:
    """Every item of the sessions, most frequent first (ties by first appearance)."""
    counts: dict[str, int] = {}
    for session in sessions:
        for sku in session.items:
            counts[sku] = counts.get(sku, 0) + 1
    return sorted(counts, key=lambda s: -counts[s])


def _decay(age_seconds, half_life_days: float):
    return 0.5 ** (np.asarray(age_seconds, dtype=np.float64) / (half_life_days * DAY))


def popularity(sessions, index, now, window_days=14.0, half_life_days=7.0):
    """Decayed counts per item over the recent window, globally and per store."""
    total = np.zeros(len(index), dtype=np.float64)
    stores: dict[str, np.ndarray] = {}
    for session in sessions:
        ages = now - np.asarray(session.times)
        keep = ages <= window_days * DAY
        if not keep.any():
            continue
        weights = _decay(ages[keep], half_life_days)
        items = np.array([index[s] for s, k in zip(session.items, keep) if k], dtype=np.int64)
        np.add.at(total, items, weights)
        if session.store:
            np.add.at(stores.setdefault(session.store, np.zeros(len(index))), items, weights)
    if not total.any():  # nothing recent at all: fall back on every event
        for session in sessions:
            np.add.at(total, [index[s] for s in session.items], 1.0)
    best = {store: _best(counts, STORE_TOP) for store, counts in stores.items()}
    return total.astype(np.float32), best


def _best(values: np.ndarray, n: int):
    order = np.argsort(-values, kind="stable")[:n]
    order = order[values[order] > 0]
    return order.astype(np.int64), values[order].astype(np.float32)


def covisitation(sessions, index, now, window=5, backward=0.5, half_life_days=30.0, neighbours=100) -> CSR:
    """Item-to-item co-visitation lists with position and time decay."""
    pairs: list[dict] = [defaultdict(float) for _ in range(len(index))]
    for session in sessions:
        items = [index[s] for s in session.items]
        recency = float(_decay(now - session.end, half_life_days))
        for a in range(len(items)):
            for b in range(a + 1, min(len(items), a + 1 + window)):
                i, j = items[a], items[b]
                if i == j:
                    continue
                w = recency / (b - a)
                pairs[i][j] += w
                pairs[j][i] += backward * w
    rows = []
    for row in pairs:
        if not row:
            rows.append((np.zeros(0, np.int32), np.zeros(0, np.float32)))
            continue
        keys = np.fromiter(row.keys(), dtype=np.int64, count=len(row))
        values = np.fromiter(row.values(), dtype=np.float64, count=len(row))
        order = np.argsort(-values, kind="stable")[:neighbours]
        rows.append((keys[order], values[order]))
    return CSR.from_rows(rows)


def session_index(sessions, index, now, max_sessions=200_000, half_life_days=60.0):
    """The sessions of session-kNN (most recent ``max_sessions``), the item -> sessions index and recencies."""
    kept = sessions[-max_sessions:]
    rows, holders = [], defaultdict(list)
    for number, session in enumerate(kept):
        items = np.array(list(dict.fromkeys(index[s] for s in session.items)), dtype=np.int64)
        rows.append((items, np.ones(len(items), np.float32)))
        for item in items.tolist():
            holders[item].append(number)
    by_item = [(np.array(holders.get(i, [])[::-1], dtype=np.int64), np.ones(len(holders.get(i, [])), np.float32))
               for i in range(len(index))]
    recency = _decay(now - np.array([s.end for s in kept], dtype=np.float64), half_life_days).astype(np.float32)
    return CSR.from_rows(rows), CSR.from_rows(by_item), np.maximum(recency, 1e-3)


def build_tables(sessions, params: Params | None = None, **options) -> RecTables:
    """Every table of the recommenders from training sessions (the sequential model's vectors come later)."""
    items = vocabulary(sessions)
    index = {sku: i for i, sku in enumerate(items)}
    now = max((s.end for s in sessions), default=0.0)
    counts = np.zeros(len(items), dtype=np.float32)
    for session in sessions:
        np.add.at(counts, [index[s] for s in session.items], 1.0)
    pop, stores = popularity(sessions, index, now)
    sess, by_item, recency = session_index(sessions, index, now)
    return RecTables(items=items, popularity=pop, counts=counts,
                     covisit=covisitation(sessions, index, now, **options), sessions=sess, item_sessions=by_item,
                     session_recency=recency, store_popularity=stores, params=params or Params(), index=index)
