"""Recommendations plugin hooks: its routes, its per-worker state, its commands and the demo bundle.

The ``storefront-recs`` bundle (tables, annoy index and the ``recs_sequence`` ONNX model) is optional:
without it the node answers from its live events and catalog content, and says so in its health.
"""

from __future__ import annotations

from pydantic import BaseModel, Field

from edge.api import HealthReport, PluginInfo, hookimpl

from . import artifacts, routes

PLUGIN_NAME = "recommend"


class RecommendConfig(BaseModel):
    """Settings (``PLUGIN_CONFIG__recommend__<key>``)."""

    max_k: int = Field(50, ge=1, le=100, description="Most results one request may ask for")
    max_per_category: int = Field(3, ge=1, le=100, description="Category diversity: most results of one category")
    long_tail_alpha: float | None = Field(None, ge=0, le=3, description="Long-tail boost (score / (1 + count) ** "
                                          "alpha); unset: the value the bundle's training tuned")
    long_tail_bonus: float | None = Field(None, ge=0, le=1, description="Long-tail re-rank: added to a long-tail "
                                          "item's score, the best scoring 1; unset: the value the bundle's training tuned")
    live_weight: float = Field(0.5, ge=0, le=10, description="Least blend weight of the co-visitation counted from "
                               "this node's events since the bundle (what is new between bundle updates)")
    learned_blend: bool = Field(True, description="Rank with the bundle's learned blend when it has one (false: "
                                "the tuned linear blend, which runs fewer scorers and is faster; see the README)")
    candidates: int = Field(100, ge=10, le=1000, description="Candidates each scorer contributes")
    catalog_refresh_s: float = Field(2.0, ge=0, le=3600, description="How often the catalog view is checked")
    fold_max_events: int = Field(200_000, ge=0, le=10_000_000, description="Events a worker folds in at start")
    max_sessions: int = Field(50_000, ge=1, le=10_000_000, description="Live sessions kept (most recent)")


def recommender(node):
    """This worker's :class:`~plugins.recommend.service.Recommender` (made on first use)."""
    slot = node.slot(PLUGIN_NAME)
    if getattr(slot, "recommender", None) is None:
        from .service import Recommender

        slot.recommender = Recommender(node.plugin_config(PLUGIN_NAME))
    return slot.recommender


@hookimpl
def plugin_info():
    return PluginInfo(name=PLUGIN_NAME, version="0.1.0", requires=("catalog", "events"), config=RecommendConfig,
                      description="Session-aware, in-stock recommendations from the storefront-recs bundle and live events")


@hookimpl
def blueprint(node):
    return routes.make_blueprint()


@hookimpl
def startup(node):
    node.slot(PLUGIN_NAME).recommender = None


@hookimpl
def shutdown(node):
    slot = node.slot(PLUGIN_NAME)
    if getattr(slot, "recommender", None) is not None:
        slot.recommender.close()
    slot.recommender = None


@hookimpl
def cli_commands():
    from .commands import hub_group, recommend_group

    return [recommend_group, hub_group]


@hookimpl
def health(node):
    if node.bundle_for(artifacts.MODEL_NAME) is None:
        return HealthReport(ready=True, detail="no storefront-recs bundle: live events and catalog content only")
    return HealthReport(ready=True)
