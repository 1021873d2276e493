"""The fraud plugin's tables.

Synced edge → hub, append-only with ULID keys: ``fraud_decisions`` (every answer, with what is needed
to audit it: the payload without any card number, the rules version, the bundle, the features, the
scores) and ``fraud_reviews`` (the review queue). Hub-owned, published on the hub and read-only on
joined edges: ``fraud_rules`` (the rule set), ``fraud_lists`` (block and allow lists) and
``fraud_labels`` (analysts' verdicts; an edge treats the entities of a ``fraud`` verdict as known-fraud
graph nodes). Local to the node (never synced): the velocity windows (``fraud_rolling``) and the graph
(``fraud_edges``, ``fraud_nodes``, ``fraud_components``).

Stores (CDN edge mode): decisions and reviews carry the ``store`` they were made for and sync per
store; rules, lists and labels are node-wide (see :mod:`plugins.fraud.service`).

Decisions are append-only: triggers refuse an UPDATE or DELETE of a logged decision.
"""

from __future__ import annotations

from sqlite_utils import Migrations

migrations = Migrations("fraud")


@migrations()
def create_decision_log(db):
    db["fraud_decisions"].create(
        {"id": str, "created_at": str, "event_id": str, "decision": str, "score": float, "reasons": str,
         "rule_hits": str, "model_scores": str, "features": str, "payload": str, "account_id": str, "card_hash": str,
         "device_id": str, "ip": str, "email": str, "store_id": str, "amount": float, "currency": str,
         "rules_version": str, "bundle": str, "latency_ms": float, "origin": str},
        pk="id", not_null={"created_at", "decision", "score", "payload"},
    )
    db["fraud_decisions"].create_index(["event_id"], unique=True)
    db["fraud_decisions"].create_index(["decision", "created_at"])
    for op in ("UPDATE", "DELETE"):
        db.execute(f"CREATE TRIGGER fraud_decisions_no_{op.lower()} BEFORE {op} ON fraud_decisions "
                   "BEGIN SELECT RAISE(ABORT, 'fraud_decisions is append-only'); END")
    db["fraud_reviews"].create(
        {"id": str, "decision_id": str, "created_at": str, "score": float, "reasons": str, "account_id": str,
         "amount": float, "currency": str, "origin": str},
        pk="id", not_null={"decision_id", "created_at"},
    )


@migrations()
def create_hub_tables(db):
    db["fraud_rules"].create(
        {"id": str, "position": int, "action": str, "expr": str, "reason": str, "enabled": int, "version": str},
        pk="id", not_null={"action", "expr"}, defaults={"position": 0, "enabled": 1, "reason": "", "version": ""},
    )
    db["fraud_lists"].create(
        {"id": str, "list": str, "kind": str, "value": str, "note": str},
        pk="id", not_null={"list", "kind", "value"}, defaults={"note": ""},
    )
    db["fraud_lists"].create_index(["kind", "value"])
    db["fraud_labels"].create(
        {"decision_id": str, "verdict": str, "analyst": str, "note": str, "labelled_at": str, "account_id": str,
         "card_hash": str, "device_id": str, "ip": str},
        pk="decision_id", not_null={"verdict"}, defaults={"note": ""},
    )


@migrations()
def create_local_state(db):
    db.execute("CREATE TABLE fraud_velocity (entity TEXT NOT NULL, res INTEGER NOT NULL, bucket INTEGER NOT NULL, "
               "n INTEGER NOT NULL, total REAL NOT NULL, PRIMARY KEY (entity, res, bucket)) WITHOUT ROWID")
    db.execute("CREATE TABLE fraud_edges (a TEXT NOT NULL, b TEXT NOT NULL, last_seen INTEGER NOT NULL, "
               "PRIMARY KEY (a, b)) WITHOUT ROWID")
    db.execute("CREATE INDEX fraud_edges_seen ON fraud_edges (last_seen)")
    db.execute("CREATE INDEX fraud_velocity_bucket ON fraud_velocity (bucket)")


@migrations()
def rolling_windows_components_and_stores(db):
    """Velocity as one rolling row per entity, graph components kept union-find style, decisions and reviews
    carrying their store. The node-local velocity buckets and edges of before are dropped (their keys had no
    store; windows refill within a day, the graph within its time to live)."""
    db.execute("DROP TABLE fraud_velocity")
    db.execute("DELETE FROM fraud_edges")
    db.execute("CREATE TABLE fraud_rolling (entity TEXT PRIMARY KEY, last_seen INTEGER NOT NULL, state BLOB NOT NULL) "
               "WITHOUT ROWID")
    db.execute("CREATE INDEX fraud_rolling_seen ON fraud_rolling (last_seen)")
    db.execute("CREATE TABLE fraud_nodes (node TEXT PRIMARY KEY, comp INTEGER NOT NULL, last_seen INTEGER NOT NULL) WITHOUT ROWID")
    db.execute("CREATE INDEX fraud_nodes_comp ON fraud_nodes (comp)")
    db.execute("CREATE INDEX fraud_nodes_seen ON fraud_nodes (last_seen)")
    db.execute("CREATE TABLE fraud_components (comp INTEGER PRIMARY KEY, size INTEGER NOT NULL)")
    for table in ("fraud_decisions", "fraud_reviews"):
        db.execute(f"ALTER TABLE {table} ADD COLUMN store TEXT NOT NULL DEFAULT 'default'")


@migrations()
def seen_hours_instead_of_last_seen_indexes(db):
    """The prune finds old rows by ``seen_hour`` (a lower bound of ``last_seen``'s hour: set when the row is
    inserted, raised only by the prune) instead of an index on ``last_seen``, which every payment moved: 17 of
    the 42 pages a precheck wrote at 1,000,000 stored events were those three indexes' entries. Rows from before
    get their hour at once (about 11 s for a node holding 1,000,000 events, once), so no prune after the
    upgrade has to raise millions of rows."""
    for table, old in (("fraud_rolling", "fraud_rolling_seen"), ("fraud_edges", "fraud_edges_seen"),
                       ("fraud_nodes", "fraud_nodes_seen")):
        db.execute(f"DROP INDEX {old}")
        db.execute(f"ALTER TABLE {table} ADD COLUMN seen_hour INTEGER NOT NULL DEFAULT 0")
        db.execute(f"UPDATE {table} SET seen_hour = last_seen / 3600")
        db.execute(f"CREATE INDEX {table}_hour ON {table} (seen_hour)")
