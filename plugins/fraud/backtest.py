"""``fraud backtest``: replay labelled transactions in time order through a rule set and count what it caught.

Velocity and graph features are rebuilt by the replay (a private in-memory store), so rules on them
are tested as the node would run them. The figures: the confusion table of the decisions (flagged =
review or block against the label), per decision, and per rule its hits and the fraud among them.
"""

from __future__ import annotations

import csv
from pathlib import Path

LABEL_COLUMNS = ("label", "is_fraud", "fraud", "Class")


def read_transactions(path: Path) -> list[dict]:
    """The rows of a transactions CSV in time order, each with an integer ``label``."""
    from .replay import epoch_of

    with open(path, newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        columns = reader.fieldnames or []
        label = next((c for c in LABEL_COLUMNS if c in columns), None)
        missing = [c for c in ("timestamp", "amount") if c not in columns] + ([] if label else ["label"])
        if missing:
            raise ValueError(f"{Path(path).name} lacks column(s) {', '.join(missing)}")
        rows = []
        for number, row in enumerate(reader, start=2):
            try:
                row["timestamp"] = epoch_of(row["timestamp"])
                row["label"] = int(float(row[label]))
                float(row["amount"])
            except (TypeError, ValueError):
                raise ValueError(f"{Path(path).name} line {number}: bad timestamp, amount or label") from None
            rows.append(row)
    rows.sort(key=lambda r: r["timestamp"])
    return rows


def backtest(ruleset, csv_path: Path) -> dict:
    """The confusion table and per-rule figures of ``ruleset`` on the transactions in ``csv_path``."""
    from .replay import replay, stream_context

    table = {"tp": 0, "fp": 0, "fn": 0, "tn": 0}
    decisions: dict = {}
    per_rule = {rule.id: {"action": rule.action, "hits": 0, "fraud": 0, "decided": 0} for rule in ruleset.rules}
    for row, result in replay(read_transactions(csv_path), stream_context(ruleset)):
        fraud, flagged = row["label"] == 1, result["decision"] != "allow"
        table[("t" if fraud == flagged else "f") + ("p" if flagged else "n")] += 1
        decisions.setdefault(result["decision"], {"count": 0, "fraud": 0})
        decisions[result["decision"]]["count"] += 1
        decisions[result["decision"]]["fraud"] += int(fraud)
        for rule_id in result["rule_hits"]:
            per_rule[rule_id]["hits"] += 1
            per_rule[rule_id]["fraud"] += int(fraud)
        if result["reasons"] and result["reasons"][0]["code"].startswith("rule:"):
            per_rule[result["reasons"][0]["code"][5:]]["decided"] += 1
    positives, flagged = table["tp"] + table["fn"], table["tp"] + table["fp"]
    return {"rules_version": ruleset.version, "transactions": sum(table.values()), "confusion": table,
            "precision": round(table["tp"] / flagged, 4) if flagged else 0.0,
            "recall": round(table["tp"] / positives, 4) if positives else 0.0,
            "decisions": decisions, "rules": per_rule}


def render(report: dict) -> str:
    """The report as a text table."""
    c = report["confusion"]
    lines = [f"{report['transactions']} transactions, rules {report['rules_version'] or '-'}",
             "", "                 label fraud   label legit",
             f"flagged          {c['tp']:>11}   {c['fp']:>11}", f"allowed          {c['fn']:>11}   {c['tn']:>11}",
             f"precision {report['precision']:.4f}  recall {report['recall']:.4f}", "",
             f"{'rule':<28}{'action':<8}{'hits':>8}{'fraud':>8}{'decided':>9}"]
    for rule_id, r in report["rules"].items():
        lines.append(f"{rule_id[:27]:<28}{r['action']:<8}{r['hits']:>8}{r['fraud']:>8}{r['decided']:>9}")
    return "\n".join(lines)
