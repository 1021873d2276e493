"""On the hub: an analyst's verdict on a logged decision, and rule files, published to every edge.

A verdict is a row of the hub-owned ``fraud_labels`` (keyed by the decision's id, with the decision's
account, card, device and IP so that every edge treats the entities of a ``fraud`` verdict as
known-fraud nodes of its graph). ``hub fraud label`` fills those from the decision the edge sent; the
hub's admin route ``POST /v1/hub/tables/fraud_labels/publish`` records the same row over HTTP (any
verdict other than ``fraud`` and ``legit`` is ignored by the edges and by retraining).
"""

from __future__ import annotations

import datetime
from pathlib import Path

from edge.api import NotFound, checked_publication

ENTITY_COLUMNS = ("account_id", "card_hash", "device_id", "ip")


def find_decision(store, decision_id: str) -> dict:
    """The decision ``decision_id`` as the hub received it; 404 when no edge has sent it."""
    for row in store.rows("fraud_decisions"):
        if row["id"] == decision_id:
            return row
    raise NotFound(f"no decision '{decision_id}' on the hub (has its edge synced?)", code="decision_not_found")


def label_decision(store, decision_id: str, verdict: str, analyst: str = "", note: str = "") -> dict:
    """Publish the verdict on ``decision_id``; return the label row."""
    decision = find_decision(store, decision_id)
    row = {"decision_id": decision_id, "verdict": verdict, "analyst": analyst, "note": note,
           "labelled_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
           **{column: decision.get(column) for column in ENTITY_COLUMNS}}
    store.publish("fraud_labels", checked_publication(store, "fraud_labels", [(1, row)]))
    return row


def publish_rules(store, path: Path) -> dict:
    """Check a rule file and publish it as the whole of ``fraud_rules`` (rules not in it are deleted)."""
    from .rules import load_file, parse_text, table_rows

    load_file(path)
    rows = table_rows(parse_text(Path(path).read_text(encoding="utf-8"), Path(path).name))
    publication = checked_publication(store, "fraud_rules", list(enumerate(rows, start=1)))
    keep = {row["id"] for row in rows}
    publication.deletes = [row["id"] for row in store.rows("fraud_rules") if row["id"] not in keep]
    return store.publish("fraud_rules", publication)
