"""The node side of a precheck: checks the request, builds the context (rules, lists, models), reads the features
and scores the models without the write lock, then records the windows and the graph, logs the decision and
queues reviews in one write transaction (:func:`precheck`).

Where rules come from: the ``fraud_rules`` table (published on the hub, or installed on a standalone
node with ``fraud rules install``) when it has rows, else ``rules.yaml`` of the active fraud bundle,
else the built-in rules. Rules, lists and known-fraud nodes are re-read at most every
``refresh_seconds``; a rule set that no longer compiles is reported by ``/readyz`` and the last good one
keeps running.

Stores (CDN edge mode, decision): a precheck is for the store its route names
(``/v1/stores/<store>/fraud/precheck``; the plain route on a one-store node). Its decision and review
rows carry that store and sync per store. Velocity windows and the graph are per store (one store's
traffic never shows in another store's features), plus one node-wide window per card
(``node_card_count_1m`` ... ``node_card_sum_24h``, readable by rules; not a model input), because a
card hammering several stores of one node is itself a signal. Rules, lists and labels are node-wide,
as the hub publishes them; a rule that should hold for some stores only says so itself
(``store == "north" and amount > 500``), and a known-fraud entity is known in every store.

The clock of the velocity windows and graph edges is the node's (``clock = "node"``, the default: a
client cannot age its own payments); ``clock = "payload"`` uses the payment's ``timestamp`` (replays).
"""

from __future__ import annotations

import datetime
import json
import logging
import threading
import time
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, model_validator

from edge.api import Conflict, Unprocessable, node_origin, validated, write_transaction

from . import engine, graph, rules, scoring, velocity
from .payload import Precheck, card_number_paths

log = logging.getLogger(__name__)
PLUGIN_NAME = "fraud"


class FraudConfig(BaseModel):
    """Settings: ``STOREFRONT_EDGE_PLUGIN_CONFIG__fraud__<key>``."""

    review_threshold: float = Field(99.0, ge=0, le=100, description="score at or above which a payment is reviewed")
    block_threshold: float = Field(99.8, ge=0, le=100, description="score at or above which a payment is blocked")
    max_amount: float = Field(1_000_000.0, gt=0, le=1e12, description="larger amounts are refused (422)")
    clock: Literal["node", "payload"] = "node"
    graph_ttl_hours: float = Field(168.0, gt=0, le=24 * 365)
    graph_max_nodes: int = Field(200, ge=2, le=10_000)
    refresh_seconds: float = Field(2.0, ge=0, le=3600)
    prune_every: int = Field(1000, ge=1, le=10_000_000, description="events between two prunings of old windows and edges")
    upkeep_seconds: float = Field(0.1, ge=0, le=3600, description="period of the upkeep thread's WAL checkpoint and "
                                  "prune (0: no thread; SQLite checkpoints in commits, prunes run after an answer)")
    checkpoint_finish_pages: int = Field(16_000, ge=1, le=1_000_000, description="WAL pages from which a checkpoint round "
                                         "that could not copy them all copies the last ones with writers paused")
    wal_autocheckpoint: int = Field(40_000, ge=1, le=1_000_000, description="pages at which a request's commit still "
                                    "checkpoints by itself while the upkeep thread runs (a safety valve)")

    @model_validator(mode="after")
    def _ordered(self):
        if self.block_threshold < self.review_threshold:
            raise ValueError("block_threshold must be at least review_threshold")
        return self


def load_lists(db) -> dict:
    """``{(list, kind): set(values)}`` of ``fraud_lists`` (emails compared in lower case)."""
    lists: dict = {}
    for name, kind, value in db.execute("SELECT list, kind, value FROM fraud_lists"):
        lists.setdefault((name, kind), set()).add(value.lower() if kind == "email" else value)
    return lists


def _bundle_rules(node) -> rules.RuleSet | None:
    bundle = node.bundle_for(scoring.MODELS["iforest"]) or node.bundle_for(scoring.MODELS["supervised"])
    path = Path(bundle.directory) / "rules.yaml" if bundle is not None else None
    return rules.load_file(path) if path is not None and path.is_file() else None


def current_rules(node, db, state) -> rules.RuleSet:
    """The rule set now in force (see the module docstring); a broken source keeps the last good set."""
    try:
        ruleset = rules.from_table(db) or _bundle_rules(node) or rules.default_rules()
        state.rule_errors = []
    except rules.RuleSetError as exc:
        state.rule_errors = exc.errors
        log.warning("fraud rules refused, the previous set keeps running: %s", exc)
        ruleset = getattr(state, "ruleset", None) or rules.default_rules()
    state.ruleset = ruleset
    return ruleset


def context(node, db) -> engine.Context:
    """The precheck context of this worker, re-read at most every ``refresh_seconds``."""
    state, config = node.slot(PLUGIN_NAME), node.plugin_config(PLUGIN_NAME)
    now = time.monotonic()
    if getattr(state, "loaded_at", None) is None or now - state.loaded_at >= config.refresh_seconds:
        state.lists, state.known = load_lists(db), graph.known_fraud_nodes(db)
        state.known_comps, state.origin = {}, node_origin(db)
        current_rules(node, db, state)
        state.loaded_at = now
    cache = state.__dict__.setdefault("scorer_cache", {})
    limits = graph.GraphLimits(ttl_s=int(config.graph_ttl_hours * 3600), max_nodes=config.graph_max_nodes)

    def known_components(store: str) -> set:
        if store not in state.known_comps:
            state.known_comps[store] = set(graph.components_of(db, store, state.known))
        return state.known_comps[store]

    return engine.Context(state.ruleset, engine.Thresholds(config.review_threshold, config.block_threshold),
                          scoring.active_scorer(node, cache), state.known, state.lists, limits, known_components)


def checked_request(data, max_amount: float) -> Precheck:
    """The validated request; 422 naming the paths of any card number (never its digits), or every bad field."""
    paths = card_number_paths(data) if isinstance(data, (dict, list)) else []
    if paths:
        raise Unprocessable("the request holds a raw card number: send a card fingerprint or token hash (card_hash)",
                            code="card_number_refused", details=[{"field": p, "problem": "card number"} for p in paths])
    body = validated(Precheck, data)
    if body.amount > max_amount:
        raise Unprocessable("the request does not fit the schema", code="invalid_request",
                            details=[{"field": "amount", "problem": f"over the limit of {max_amount:g}"}])
    return body


def _replay(db, body: dict) -> dict | None:
    if body.get("event_id") is None:
        return None
    row = db.execute("SELECT * FROM fraud_decisions WHERE event_id = ?", [body["event_id"]]).fetchone()
    if row is None:
        return None
    stored = dict(zip([c[0] for c in db.execute("SELECT * FROM fraud_decisions LIMIT 0").description], row))
    if json.loads(stored["payload"]) != json.loads(json.dumps(body, default=str)):
        raise Conflict(f"event_id '{body['event_id']}' was used already for another payment", code="event_id_reused")
    return answer_of(stored, replayed=True)


def answer_of(row: dict, replayed: bool = False) -> dict:
    """The answer for a logged decision row."""
    return {"id": row["id"], "decision": row["decision"], "score": row["score"], "reasons": json.loads(row["reasons"]),
            "rule_hits": json.loads(row["rule_hits"]), "model_scores": json.loads(row["model_scores"]),
            "features": json.loads(row["features"]), "rules_version": row["rules_version"], "bundle": row["bundle"],
            "latency_ms": row["latency_ms"], "created_at": row["created_at"], "replayed": replayed}


def _insert(db, table: str, row: dict) -> None:
    """One row by a prepared statement (the same text for every row of a table: SQLite's statement cache keeps it)."""
    db.conn.execute(f"INSERT INTO {table} ({', '.join(row)}) VALUES ({', '.join('?' * len(row))})", list(row.values()))


def _log(db, row: dict) -> None:
    """Log the decision (and queue a review) inside the payment's transaction."""
    from ulid import ULID

    _insert(db, "fraud_decisions", row)
    if row["decision"] == "review":
        _insert(db, "fraud_reviews", engine.review_row(row, str(ULID())))


def precheck(node, data, store: str = engine.DEFAULT_STORE) -> dict:
    """Check one payment (parsed JSON) for ``store`` end to end; return the answer (decision logged, review queued).

    The features are read and the models scored without the write lock (:func:`engine.preview`); then one write
    transaction records the velocity windows and the graph, logs the decision and queues a review together (a
    payment is never counted without its decision, and a retry racing the first copy waits for its lock and is
    answered from the log). The features the transaction records are the ones the answer reports: when another
    payment of the same entities committed in between and changed them, the payment is scored again inside the
    transaction, so every answer is the one the payments in their commit order give. A retry with the same
    ``event_id`` is answered from the log. Old rows are pruned after the answer is sent (:func:`claim_prune`).
    """
    started = time.perf_counter()
    config = node.plugin_config(PLUGIN_NAME)
    body = checked_request(data, config.max_amount).model_dump(mode="json", exclude_none=True)
    db, state = node.db(), node.slot(PLUGIN_NAME)
    if config.upkeep_seconds > 0:
        from .upkeep import tune_connection

        tune_connection(db, config.wal_autocheckpoint)
    ctx = context(node, db)
    ts = (engine.epoch_seconds(datetime.datetime.fromisoformat(body["timestamp"])) if config.clock == "payload"
          and body.get("timestamp") else int(time.time()))
    if (replayed := _replay(db, body)) is not None:  # a retry of a logged payment: nothing to score
        return replayed
    memo: dict = {}
    previewed = engine.preview(db, body, ts, ctx, store, memo)
    result = engine.conclude(body, previewed, ctx)
    with write_transaction(db):
        if (replayed := _replay(db, body)) is not None:
            return replayed
        row, rescored = _record(db, body, ts, ctx, store, (previewed, memo), result, started, state.origin)
    tally(node, "payments").add()
    if rescored:  # counted in /metrics (storefront_edge_plugin_events_total{plugin="fraud",event="rescored"})
        node.metrics.count_event(PLUGIN_NAME, "rescored")
    state.prune_ts = ts
    return answer_of(row) | {"missing_features": row["missing_features"],
                             "latency_ms": round((time.perf_counter() - started) * 1000, 3)}


def _record(db, body: dict, ts: int, ctx, store: str, preview: tuple[dict, dict], result: dict, started: float,
            origin: str | None) -> tuple[dict, bool]:
    """Inside the payment's write transaction: record its windows and graph, score it again if what is recorded
    differs from what was previewed (``preview``: the features and the memo of :func:`engine.preview`), log the
    decision. The logged row (with ``missing_features``) and whether the payment was scored again."""
    from ulid import ULID

    previewed, memo = preview
    derived = engine.derive(db, body, ts, ctx, store, memo)
    rescored = derived != previewed  # a payment of the same entities committed since the preview
    if rescored:
        result = engine.conclude(body, derived, ctx)
    result["latency_ms"] = round((time.perf_counter() - started) * 1000, 3)
    created = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="milliseconds")
    row = engine.log_row(result, body, str(ULID()), created, origin, store)
    _log(db, row)
    return row | {"missing_features": result["missing_features"]}, rescored


class Tally:
    """A count shared by a worker's request threads and its upkeep thread (payments since the last prune, payments
    scored again): counting and claiming are atomic, so no payment is lost from a count and one claim alone wins."""

    def __init__(self):
        self._lock, self._count = threading.Lock(), 0

    @property
    def count(self) -> int:
        """Payments counted since the last claim."""
        return self._count

    def add(self) -> None:
        """Count one payment."""
        with self._lock:
            self._count += 1

    def claim(self, every: int) -> int:
        """The count, once it reached ``every`` (it restarts from 0 at once, so one caller of those racing wins it),
        else 0."""
        with self._lock:
            if self._count < every:
                return 0
            claimed, self._count = self._count, 0
            return claimed


def tally(node, name: str) -> Tally:
    """This worker's :class:`Tally` ``name`` (``payments``: since the last prune was claimed). Created once, even by
    racing first callers."""
    tallies = node.slot(PLUGIN_NAME).__dict__.setdefault("tallies", {})
    found = tallies.get(name)
    return found if found is not None else tallies.setdefault(name, Tally())


def prune_due(node) -> bool:
    """Whether ``prune_every`` payments went by since this worker last claimed a prune."""
    return tally(node, "payments").count >= node.plugin_config(PLUGIN_NAME).prune_every


def claim_prune(node) -> bool:
    """Whether the caller should prune now (:func:`prune_due`); claiming restarts the count at once, so of the answers
    in flight and the upkeep thread, one schedules the prune, not each of them."""
    return tally(node, "payments").claim(node.plugin_config(PLUGIN_NAME).prune_every) > 0


_UPKEEP_LOCK = threading.Lock()


def ensure_upkeep(node) -> bool:
    """Start this worker's upkeep thread (:mod:`plugins.fraud.upkeep`) once; whether one runs."""
    from .upkeep import Upkeep

    state, config = node.slot(PLUGIN_NAME), node.plugin_config(PLUGIN_NAME)
    if config.upkeep_seconds <= 0:
        return False
    if getattr(state, "upkeep", None) is None:
        with _UPKEEP_LOCK:  # concurrent first prechecks of one worker start one thread, not one each
            if getattr(state, "upkeep", None) is None:
                state.upkeep = Upkeep(node.store.path, config,
                                      lambda db: prune(node, db) if claim_prune(node) else None).start()
    return True


def stop_upkeep(node) -> None:
    """Stop this worker's upkeep thread, if it runs."""
    upkeep = getattr(node.slot(PLUGIN_NAME), "upkeep", None)
    if upkeep is not None:
        upkeep.stop()


PRUNE_BATCH = 500


def prune(node, db=None) -> None:
    """Drop every velocity row, edge and graph node no window or time to live can reach (run by the upkeep thread,
    or after an answer is sent, once :func:`claim_prune` says so), and never a live one.

    Short write transactions of up to ``PRUNE_BATCH`` candidate rows per table, so a payment waiting for the write
    lock waits for one of them at most, never for the whole prune. A batch that deletes nothing may still have
    expired rows behind it (:mod:`plugins.fraud.aging`): the prune goes on until every table's batch comes back
    short of full, which ends, as every row a batch looks at leaves the candidates. Candidates are found by the
    hour (``seen_hour``): every row last seen before the hour of the cutoff goes; one that expired within that
    hour goes at a later prune (no window or feature reads it meanwhile)."""
    state, config = node.slot(PLUGIN_NAME), node.plugin_config(PLUGIN_NAME)
    db = node.db() if db is None else db
    ts, ttl_s = getattr(state, "prune_ts", None), int(config.graph_ttl_hours * 3600)
    if ts is None:  # no payment yet: nothing to measure the age of rows against
        return
    try:
        more = True
        while more:
            with write_transaction(db):
                sweep = velocity.prune(db, ts, PRUNE_BATCH) + graph.prune(db, ts, ttl_s, PRUNE_BATCH)
            more = sweep.full
    except Exception:  # a failed prune is retried after the next prune_every payments
        log.exception("fraud: pruning old velocity rows and graph edges failed")
