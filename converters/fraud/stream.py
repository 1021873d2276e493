"""A synthetic payment stream with planted fraud: rings of accounts sharing devices, cards and IPs, and
card-testing bursts (many small payments on one stolen card within a minute or two).

Everything here is synthetic (seeded random numbers); it exercises the velocity and graph features
and trains the small demo bundle, and says nothing about real fraud rates.
"""

from __future__ import annotations

import csv
import hashlib
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

FIELDS = ("timestamp", "amount", "currency", "account_id", "card_hash", "device_id", "ip", "store_id", "email",
          "item_count", "label", "pattern", "group")


@dataclass(frozen=True)
class StreamParams:
    """What the generator plants (every figure it prints carries these)."""

    seed: int = 7
    accounts: int = 2000
    hours: float = 48.0
    payments_per_account_per_day: float = 1.5
    shared_ips: int = 20              # shop and carrier NAT addresses that many honest accounts share
    shared_ip_share: float = 0.3
    rings: int = 12
    ring_accounts: tuple = (4, 9)
    ring_payments: tuple = (3, 8)     # per ring account
    bursts: int = 25
    burst_payments: tuple = (6, 20)
    burst_seconds: int = 90
    legit_email_share: float = 0.6   # payments that carry an e-mail address (a guest checkout has none)
    fraud_email_share: float = 0.4
    start: int = 1_780_000_000


def _hash(kind: str, value) -> str:
    return hashlib.sha256(f"{kind}:{value}".encode()).hexdigest()[:32]


def _legit(rng, p: StreamParams) -> list[dict]:
    rows, span = [], int(p.hours * 3600)
    for account in range(p.accounts):
        cards = [_hash("card", f"{account}-{i}") for i in range(rng.integers(1, 3))]
        devices = [f"dev-{account}-{i}" for i in range(rng.integers(1, 3))]
        home_ip = f"10.{account // 250}.{account % 250}.{rng.integers(1, 250)}"
        count = rng.poisson(p.payments_per_account_per_day * p.hours / 24)
        for ts in np.sort(rng.integers(0, span, count)):
            ip = f"172.16.0.{rng.integers(1, p.shared_ips + 1)}" if rng.random() < p.shared_ip_share else home_ip
            rows.append({"timestamp": p.start + int(ts), "amount": round(float(rng.lognormal(3.3, 1.0)), 2),
                         "account_id": f"acct-{account}", "card_hash": cards[rng.integers(len(cards))],
                         "device_id": devices[rng.integers(len(devices))], "ip": ip,
                         "email": f"user{account}@example.com" if rng.random() < p.legit_email_share else "", "item_count": int(rng.integers(1, 6)),
                         "label": 0, "pattern": "legit", "group": ""})
    return rows


def _rings(rng, p: StreamParams) -> list[dict]:
    rows, span = [], int(p.hours * 3600)
    for ring in range(p.rings):
        members = int(rng.integers(*p.ring_accounts, endpoint=True))
        devices = [f"ring{ring}-dev{i}" for i in range(2)]
        cards = [_hash("ringcard", f"{ring}-{i}") for i in range(3)]
        ips = [f"203.0.{ring}.{i + 1}" for i in range(2)]
        begin = int(rng.integers(0, max(1, span - 6 * 3600)))
        for member in range(members):
            for _ in range(int(rng.integers(*p.ring_payments, endpoint=True))):
                rows.append({"timestamp": p.start + begin + int(rng.integers(0, 6 * 3600)),
                             "amount": round(float(rng.lognormal(4.6, 0.6)), 2), "account_id": f"ring{ring}-acct{member}",
                             "card_hash": cards[rng.integers(3)], "device_id": devices[rng.integers(2)],
                             "ip": ips[rng.integers(2)],
                             "email": f"ring{ring}-{member}@example.net" if rng.random() < p.fraud_email_share else "", "item_count": int(rng.integers(1, 3)),
                             "label": 1, "pattern": "ring", "group": f"ring{ring}"})
    return rows


def _bursts(rng, p: StreamParams) -> list[dict]:
    rows, span = [], int(p.hours * 3600)
    for burst in range(p.bursts):
        begin = int(rng.integers(0, span - p.burst_seconds))
        card, device = _hash("stolen", burst), f"burst-dev-{burst}"
        ip = f"198.51.100.{burst % 250 + 1}"
        for ts in np.sort(rng.integers(0, p.burst_seconds, int(rng.integers(*p.burst_payments, endpoint=True)))):
            rows.append({"timestamp": p.start + begin + int(ts), "amount": round(float(rng.uniform(0.5, 5.0)), 2),
                         "account_id": f"burst-acct-{burst}-{int(rng.integers(3))}", "card_hash": card,
                         "device_id": device, "ip": ip,
                         "email": f"burst{burst}@example.net" if rng.random() < p.fraud_email_share else "", "item_count": 1,
                         "label": 1, "pattern": "burst", "group": f"burst{burst}"})
    return rows


def generate(params: StreamParams | None = None) -> list[dict]:
    """Every payment of the stream in time order (``label`` 1 for planted fraud, ``pattern`` legit/ring/burst)."""
    p = params or StreamParams()
    rng = np.random.default_rng(p.seed)
    rows = _legit(rng, p) + _rings(rng, p) + _bursts(rng, p)
    rows.sort(key=lambda r: (r["timestamp"], r["account_id"]))
    for row in rows:
        row.update(currency="USD", store_id="store-1")
    return rows


def describe(params: StreamParams) -> dict:
    """The generator's parameters as JSON (with the note that the stream is synthetic)."""
    return {"synthetic": True, **{k: list(v) if isinstance(v, tuple) else v for k, v in asdict(params).items()}}


def write_csv(rows: list[dict], path: Path) -> None:
    """Write the stream as CSV (the backtest's and ``fraud train --stream``'s input)."""
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=FIELDS)
        writer.writeheader()
        writer.writerows({k: row.get(k, "") for k in FIELDS} for row in rows)

