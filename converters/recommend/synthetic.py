"""Synthetic shopper sessions over a catalog CSV, for the shipped demo bundle (no real shopper data).

Each session follows one category most of the time (items picked with a Zipf-like skew inside it, so
some items are popular and others long-tail), wanders to a random other category with probability
``wander``, carts an item with probability ``cart`` and orders its cart at the end with probability
``order``. Sessions are spread over the ``days`` before ``end`` and written as an event export.
"""

from __future__ import annotations

import csv
import datetime
import json
from pathlib import Path

import numpy as np


def catalog_categories(catalog_csv: Path) -> dict[str, list[str]]:
    """``{category: [sku, ...]}`` of a catalog CSV (columns ``sku`` and ``category``)."""
    groups: dict[str, list[str]] = {}
    with open(catalog_csv, newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            groups.setdefault(row.get("category") or "", []).append(row["sku"])
    return groups


def synthetic_rows(groups: dict, sessions=3000, days=30, wander=0.15, cart=0.15, order=0.5, seed=7,
                   end: datetime.datetime | None = None):
    """Event export rows (``id, kind, payload, created_at, origin``) of synthetic sessions."""
    rng = np.random.default_rng(seed)
    names = sorted(groups)
    weights = {c: 1.0 / np.arange(1, len(groups[c]) + 1) ** 1.1 for c in names}
    end = end or datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc)
    number = 0
    for s in range(sessions):
        at = end - datetime.timedelta(seconds=float(rng.uniform(0, days * 86_400)))
        category, cart_items = names[rng.integers(len(names))], []
        for _ in range(int(rng.integers(2, 9))):
            if rng.random() < wander:
                category = names[rng.integers(len(names))]
            p = weights[category] / weights[category].sum()
            sku = groups[category][rng.choice(len(p), p=p)]
            at += datetime.timedelta(seconds=float(rng.uniform(5, 90)))
            kind = "cart" if rng.random() < cart else "view"
            cart_items += [sku] if kind == "cart" else []
            number += 1
            yield _row(number, kind, f"demo-{s}", sku, at)
        if cart_items and rng.random() < order:
            for sku in cart_items:
                number += 1
                yield _row(number, "order", f"demo-{s}", sku, at + datetime.timedelta(seconds=30))


def _row(number, kind, session, sku, at):
    stamp = at.isoformat(timespec="milliseconds")
    return {"id": f"{number:012d}", "kind": kind, "origin": "demo",
            "payload": json.dumps({"session_id": session, "sku": sku, "client_ts": stamp}), "created_at": stamp}
