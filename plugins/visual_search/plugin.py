"""Visual search plugin hooks: config, the FTS migration, routes, the per-worker indexer, health.

It requires the catalog plugin (its index and FTS table are built from ``catalog_items``); the indexer
lives in the node's state slot for this plugin.
"""

from __future__ import annotations

from edge.api import HealthReport, PluginInfo, hookimpl

from . import routes, schema
from .config import VisualSearchConfig

PLUGIN_NAME = "visual_search"


def indexer_for(node):
    """The indexer ``startup`` created for ``node`` (``None`` before it)."""
    return getattr(node.slot(PLUGIN_NAME), "indexer", None)


@hookimpl
def plugin_info():
    return PluginInfo(name=PLUGIN_NAME, version="0.1.0", config=VisualSearchConfig, requires=("catalog",),
                      description="Find catalog items by photo (image embeddings + annoy), by text (FTS5) or both")


@hookimpl
def migrations():
    return schema.migrations


@hookimpl
def startup(node):
    from .imaging import single_threaded_decoding
    from .indexer import Indexers

    single_threaded_decoding()
    schema.ensure_fts(node.db())
    indexer = Indexers(node, node.plugin_config(PLUGIN_NAME))
    node.slot(PLUGIN_NAME).indexer = indexer
    indexer.start()


@hookimpl
def shutdown(node):
    indexer = indexer_for(node)
    node.slot(PLUGIN_NAME).indexer = None
    if indexer is not None:
        indexer.stop()


@hookimpl
def blueprint(node):
    return routes.make_blueprint(lambda n: indexer_for(n) or _not_started())


def _not_started():
    from edge.api import ServiceUnavailable

    raise ServiceUnavailable("the visual search plugin has not started", code="plugin_not_ready")


@hookimpl
def health(node, store):
    indexer = indexer_for(node)
    if indexer is None:
        return HealthReport(False, "the visual search plugin has not started")
    ready, detail, data = indexer.health(store)
    return HealthReport(ready, detail, data, models=(node.plugin_config(PLUGIN_NAME).model,))
