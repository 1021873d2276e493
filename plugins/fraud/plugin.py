"""Fraud precheck plugin: ordered rules, velocity, an account-device-IP-card graph and the models of the
``storefront-fraud`` bundle answer allow, review or block before a payment leaves the store.

Tables and their sync: :mod:`plugins.fraud.schema`; a precheck: :mod:`plugins.fraud.service`;
commands: :mod:`plugins.fraud.commands`. The plugin runs without a fraud bundle (rules, velocity and
graph only; ``/readyz`` says so) and picks the models up as soon as one is active.
"""

from __future__ import annotations

from edge.api import HealthReport, PluginInfo, SyncedTable, hookimpl

from . import schema
from .service import PLUGIN_NAME, FraudConfig


@hookimpl
def plugin_info():
    return PluginInfo(name=PLUGIN_NAME, version="0.1.0", config=FraudConfig,
                      description="Fraud prechecks: rules, velocity, graph and anomaly/supervised models")


@hookimpl
def migrations():
    return schema.migrations


@hookimpl
def synced_tables():
    return [SyncedTable("fraud_decisions", direction="edge_to_hub", policy="append_only", key="id", store_column="store"),
            SyncedTable("fraud_reviews", direction="edge_to_hub", policy="append_only", key="id", store_column="store"),
            SyncedTable("fraud_rules", direction="hub_to_edge", policy="hub_owned", key="id"),
            SyncedTable("fraud_lists", direction="hub_to_edge", policy="hub_owned", key="id"),
            SyncedTable("fraud_labels", direction="hub_to_edge", policy="hub_owned", key="decision_id")]


@hookimpl
def blueprint(node):
    from .routes import make_blueprint

    return make_blueprint()


@hookimpl
def cli_commands():
    from .commands import fraud_group, hub_group

    return [fraud_group, hub_group]


@hookimpl
def shutdown(node):
    from .service import stop_upkeep

    stop_upkeep(node)


@hookimpl
def health(node):
    from .scoring import MODELS

    state = node.slot(PLUGIN_NAME)
    errors = getattr(state, "rule_errors", [])
    has_models = node.bundle_for(MODELS["iforest"]) is not None
    detail = "; ".join(([] if has_models else ["no storefront-fraud bundle active: rules, velocity and graph only"])
                       + [f"newest rules refused: {e}" for e in errors])
    return HealthReport(ready=True, detail=detail, models=tuple(m for m in MODELS.values() if node.bundle_for(m)))
