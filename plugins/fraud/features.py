"""The names a rule may read and the model's derived inputs: payload fields, velocity, graph, lists, scores.

One list, used by the rule compiler (an unknown name is refused), the engine (which fills them) and
the converters (the derived features a stream model is trained on).
"""

from __future__ import annotations

ENTITIES = ("card", "device", "ip", "account")
WINDOWS = {"1m": 60, "1h": 3600, "24h": 86400}
LIST_KINDS = ("card", "device", "ip", "account", "email")

PAYLOAD_FIELDS = ("amount", "amount_log", "currency", "account_id", "card_hash", "device_id", "ip", "store_id", "email",
                  "item_count", "hour", "has_email", "store")
VELOCITY_FIELDS = tuple(f"{entity}_{what}_{window}" for entity in ENTITIES for window in WINDOWS for what in ("count", "sum"))
# The card's windows over every store of the node (CDN edge mode); rules may read them, the models do not.
NODE_VELOCITY_FIELDS = tuple(f"node_card_{what}_{window}" for window in WINDOWS for what in ("count", "sum"))
GRAPH_FIELDS = ("accounts_per_device", "accounts_per_ip", "accounts_per_card", "cards_per_account", "devices_per_account",
                "ips_per_account", "component_size", "fraud_distance", "near_fraud")
LIST_FIELDS = (*(f"{kind}_blocklisted" for kind in LIST_KINDS), *(f"{kind}_allowlisted" for kind in LIST_KINDS),
               "blocklisted", "allowlisted")
SCORE_FIELDS = ("score", "anomaly_score", "supervised_score")

RULE_FIELDS = frozenset(PAYLOAD_FIELDS + VELOCITY_FIELDS + NODE_VELOCITY_FIELDS + GRAPH_FIELDS + LIST_FIELDS + SCORE_FIELDS)

# What a model trained on the payment stream reads (numbers only; a missing value counts as 0).
STREAM_MODEL_FEATURES = ("amount_log", "item_count", "hour", "has_email", *VELOCITY_FIELDS,
                         *(f for f in GRAPH_FIELDS if f not in ("fraud_distance",)))


def model_vector(names, derived: dict, extra: dict | None) -> tuple[list[float], list[str]]:
    """The model input for ``names`` from the derived features and the payload's own ``features``.

    Returns the values and the names that were missing (filled with 0).
    """
    extra = extra or {}
    values, missing = [], []
    for name in names:
        value = extra.get(name, derived.get(name))
        if isinstance(value, bool):
            value = float(value)
        if not isinstance(value, (int, float)):
            missing.append(name)
            value = 0.0
        values.append(float(value))
    return values, missing
