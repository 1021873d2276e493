"""One precheck: derive the features, score, apply the rules, decide, log. Shared by the route, the backtest
and the converters' replay of a payment stream, so every figure is what the node answers.

The chain, in order: rules (allow, then block, then review; the first match decides), then the model
score against the thresholds of the config (``block_threshold``, ``review_threshold``), else allow.
"""

from __future__ import annotations

import datetime
import json
import math
import time
from dataclasses import dataclass, field

from . import graph, velocity
from .features import LIST_KINDS, model_vector

DEFAULT_STORE = "default"

REASON_TEXT = {
    "score_block": "the model score is at or above the block threshold",
    "score_review": "the model score is at or above the review threshold",
    "no_model": "no fraud model is active: rules only",
}


@dataclass(frozen=True)
class Thresholds:
    """Score thresholds of the decisions (0-100, calibrated: see :mod:`plugins.fraud.scoring`)."""

    review: float = 99.0
    block: float = 99.8


@dataclass
class Context:
    """What a precheck needs besides the payment: the rules, lists, known-fraud nodes, scorer, limits."""

    rules: object
    thresholds: Thresholds = field(default_factory=Thresholds)
    scorer: object = None
    known: frozenset = frozenset()
    lists: dict = field(default_factory=dict)
    limits: graph.GraphLimits = field(default_factory=graph.GraphLimits)
    known_components: object = None  # store -> component ids holding known fraud (None: walk whenever fraud is known)


def epoch_seconds(value) -> int:
    """Epoch seconds of a datetime (naive = UTC)."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=datetime.timezone.utc)
    return int(value.timestamp())


def payment_fields(body: dict, ts: int, store: str = DEFAULT_STORE) -> dict:
    """The payload fields a rule may read (besides the derived ones); ``store``: the node's store the request is for."""
    items = body.get("items") or []
    return {"store": store, "amount": body["amount"], "amount_log": math.log1p(max(body["amount"], 0.0)), "currency": body["currency"],
            "account_id": body.get("account_id"), "card_hash": body.get("card_hash"), "device_id": body.get("device_id"),
            "ip": body.get("ip"), "store_id": body.get("store_id"), "email": body.get("email"),
            "item_count": sum(item.get("qty", 1) for item in items), "hour": (ts // 3600) % 24,
            "has_email": body.get("email") is not None}


def list_flags(body: dict, lists: dict) -> dict:
    """``<kind>_blocklisted`` / ``<kind>_allowlisted`` and the two summaries, from ``{(list, kind): set(values)}``."""
    values = {"card": body.get("card_hash"), "device": body.get("device_id"), "ip": body.get("ip"),
              "account": body.get("account_id"), "email": (body.get("email") or "").lower() or None}
    flags = {}
    for name in ("block", "allow"):
        for kind in LIST_KINDS:
            flags[f"{kind}_{name}listed"] = values[kind] is not None and values[kind] in lists.get((name, kind), ())
        flags[f"{name}listed"] = any(flags[f"{kind}_{name}listed"] for kind in LIST_KINDS)
    return flags


def derive(db, body: dict, ts: int, ctx: Context, store: str = DEFAULT_STORE, memo: dict | None = None) -> dict:
    """Record the payment in ``store``'s velocity windows and graph, and return every derived feature (``memo``: what
    :func:`preview` kept, reused where the store still holds what it read)."""
    keys = velocity.entity_keys(body, store)
    windows = velocity.record_and_read(db, keys, float(body["amount"]), ts, memo)
    graph.record(db, keys, ts)
    return {**payment_fields(body, ts, store), **windows,
            **graph.read(db, keys, ts, ctx.known, ctx.limits, ctx.known_components), **list_flags(body, ctx.lists)}


def preview(db, body: dict, ts: int, ctx: Context, store: str = DEFAULT_STORE, memo: dict | None = None) -> dict:
    """Every feature :func:`derive` would return for the payment if it ran now, without writing anything (so without
    the write lock). Another payment of the same entities committing before ``derive`` runs may change them.
    ``memo``: a dict where to keep what was read and worked out, for ``derive`` to reuse."""
    keys = velocity.entity_keys(body, store)
    windows = velocity.read_as_recorded(db, keys, float(body["amount"]), ts, memo)
    return {**payment_fields(body, ts, store), **windows,
            **graph.read_as_recorded(db, keys, ts, ctx.known, ctx.limits, ctx.known_components),
            **list_flags(body, ctx.lists)}


def model_scores(ctx: Context, derived: dict, extra: dict) -> tuple[dict, list[str]]:
    """``{iforest, autoencoder, supervised, anomaly, combined}`` (0-100) and the features that were missing."""
    if ctx.scorer is None:
        return {}, []
    vector, missing = model_vector(ctx.scorer.features, derived, extra)
    scores = ctx.scorer.score([vector])
    return {role: round(float(values[0]), 2) for role, values in scores.items() if len(values)}, missing


def _reason(code: str, text: str) -> dict:
    return {"code": code, "text": text}


def decide(ctx: Context, env: dict) -> tuple[str, list[dict], list[str]]:
    """The decision, its reasons and the ids of every rule that matched."""
    rule, hits = ctx.rules.decide(env)
    hit_ids = [r.id for r in hits]
    if rule is not None:
        return rule.action, [_reason(f"rule:{rule.id}", rule.reason)], hit_ids
    score = env.get("score")
    if score is None:
        return "allow", [_reason("no_model", REASON_TEXT["no_model"])], hit_ids
    if score >= ctx.thresholds.block:
        return "block", [_reason("score_block", REASON_TEXT["score_block"])], hit_ids
    if score >= ctx.thresholds.review:
        return "review", [_reason("score_review", REASON_TEXT["score_review"])], hit_ids
    return "allow", [], hit_ids


def conclude(body: dict, derived: dict, ctx: Context) -> dict:
    """Score and decide a payment whose features are derived (no store access: runs outside any transaction)."""
    scores, missing = model_scores(ctx, derived, body.get("features") or {})
    env = {**derived, "score": scores.get("combined"), "anomaly_score": scores.get("anomaly"),
           "supervised_score": scores.get("supervised")}
    decision, reasons, hits = decide(ctx, env)
    used = {k: v for k, v in derived.items() if k not in ("account_id", "card_hash", "device_id", "ip", "email", "store")}
    return {"decision": decision, "score": env["score"] if env["score"] is not None else 0.0, "reasons": reasons,
            "rule_hits": hits, "model_scores": scores, "features": used, "missing_features": missing,
            "rules_version": ctx.rules.version, "bundle": getattr(ctx.scorer, "bundle", None)}


def evaluate(db, body: dict, ts: int, ctx: Context) -> dict:
    """Derive, score and decide one payment (``body`` already validated); writes velocity and graph only."""
    started = time.perf_counter()
    result = conclude(body, derive(db, body, ts, ctx), ctx)
    return {**result, "latency_ms": round((time.perf_counter() - started) * 1000, 3)}


def log_row(result: dict, body: dict, decision_id: str, created_at: str, origin: str | None,
            store: str = DEFAULT_STORE) -> dict:
    """The ``fraud_decisions`` row of an answer (the payload is stored as validated: no card number can be in it)."""
    dumps = lambda value: json.dumps(value, separators=(",", ":"), default=str)  # noqa: E731
    return {"id": decision_id, "created_at": created_at, "event_id": body.get("event_id"), "decision": result["decision"],
            "score": result["score"], "reasons": dumps(result["reasons"]), "rule_hits": dumps(result["rule_hits"]),
            "model_scores": dumps(result["model_scores"]), "features": dumps(result["features"]), "payload": dumps(body),
            "account_id": body.get("account_id"), "card_hash": body.get("card_hash"), "device_id": body.get("device_id"),
            "ip": body.get("ip"), "email": body.get("email"), "store_id": body.get("store_id"), "amount": body["amount"],
            "currency": body["currency"], "rules_version": result["rules_version"], "bundle": result["bundle"],
            "latency_ms": result["latency_ms"], "origin": origin, "store": store}


def review_row(row: dict, review_id: str) -> dict:
    """The review-queue row of a logged ``review`` decision."""
    return {"id": review_id, "decision_id": row["id"], "created_at": row["created_at"], "score": row["score"],
            "reasons": row["reasons"], "account_id": row["account_id"], "amount": row["amount"],
            "currency": row["currency"], "origin": row["origin"], "store": row["store"]}
