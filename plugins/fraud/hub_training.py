"""``hub train fraud``: retrain the fraud models from the decisions the edges sent and the analysts' verdicts.

Training rows are the features each decision was made on (as logged), labelled 1 for a ``fraud``
verdict and 0 otherwise: an unlabelled decision counts as legitimate (most traffic is), which is what
the unsupervised models need; the gradient boosting is trained when at least two decisions of each
verdict exist. The new bundle is one patch version above the group's current ``storefront-fraud``
target (or 1.0.0), signed, and with ``--publish`` rolled out to the group through the hub's bundle
rollout.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path


def training_rows(store) -> tuple[list, list, int]:
    """Feature rows, labels and how many decisions carry a verdict."""
    from .features import STREAM_MODEL_FEATURES, model_vector

    verdicts = {row["decision_id"]: row["verdict"] for row in store.rows("fraud_labels")
                if row["verdict"] in ("fraud", "legit")}
    X, y = [], []
    for decision in store.rows("fraud_decisions"):
        features = json.loads(decision.get("features") or "{}")
        X.append(model_vector(STREAM_MODEL_FEATURES, features, None)[0])
        y.append(1 if verdicts.get(decision["id"]) == "fraud" else 0)
    return X, y, sum(1 for d in verdicts)


def next_version(store, group: str) -> str:
    """One patch above the group's current storefront-fraud target, or 1.0.0."""
    from converters.fraud.bundle import BUNDLE_NAME

    current = next((t["version"] for t in store.rollout_for(group)["bundles"] if t["name"] == BUNDLE_NAME), None)
    if not current:
        return "1.0.0"
    major, minor, patch = (int(p) for p in current.split("-")[0].split("+")[0].split("."))
    return f"{major}.{minor}.{patch + 1}"


def retrain(store, group, hub_dir, out_dir, sign_key, version, min_labels, publish, log, trees: int = 200) -> dict:
    """Train, write and sign the bundle; publish it to ``group`` when asked. Return a summary."""
    import numpy as np

    from converters.fraud.bundle import write_bundle
    from converters.fraud.train import train

    from .features import STREAM_MODEL_FEATURES

    X, y, labelled = training_rows(store)
    if labelled < min_labels:
        raise ValueError(f"only {labelled} labelled decisions on the hub (at least {min_labels} needed)")
    version = version or next_version(store, group)
    out_dir = Path(out_dir) if out_dir else Path(hub_dir) / "fraud-train" / version
    with tempfile.TemporaryDirectory(prefix="fraud-hub-train-") as work:
        trained = train(np.asarray(X), np.asarray(y), STREAM_MODEL_FEATURES, Path(work), trees=trees, log=log)
        write_bundle(out_dir, trained, version, metrics={"trained_on": trained["spec"]["trained_on"]},
                     recipe={"data": "labelled decisions on the hub", "command": "storefront-edge hub train fraud"},
                     sign_key=sign_key)
    result = {"version": version, "bundle": str(out_dir), "decisions": len(X), "labelled": labelled,
              "fraud": int(sum(y)), "published": False}
    if publish:
        record = store.publish_bundle(out_dir, group)
        result.update(published=True, group=group, digest=record["digest"])
    return result
