"""Visual search plugin hooks: config, the FTS migration, routes, the per-worker indexer, health."""

from __future__ import annotations

import weakref

from edge.hookspecs import HealthReport, PluginInfo, hookimpl

from . import routes, schema
from .config import VisualSearchConfig

PLUGIN_NAME = "visual_search"
_indexers: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def indexer_for(node):
    """The indexer ``startup`` created for ``node`` (``None`` before it)."""
    return _indexers.get(node)


@hookimpl
def plugin_info():
    return PluginInfo(name=PLUGIN_NAME, version="0.1.0", config=VisualSearchConfig,
                      description="Find catalog items by photo (image embeddings + annoy), by text (FTS5) or both")


@hookimpl
def migrations():
    return schema.migrations


@hookimpl
def startup(node):
    from .imaging import single_threaded_decoding
    from .indexer import Indexer

    single_threaded_decoding()
    schema.ensure_fts(node.db())
    indexer = Indexer(node, node.plugin_config(PLUGIN_NAME))
    _indexers[node] = indexer
    indexer.start()


@hookimpl
def shutdown(node):
    indexer = _indexers.pop(node, None)
    if indexer is not None:
        indexer.stop()


@hookimpl
def blueprint(node):
    return routes.make_blueprint(lambda n: _indexers.get(n) or _not_started())


def _not_started():
    from edge.errors import ServiceUnavailable

    raise ServiceUnavailable("the visual search plugin has not started", code="plugin_not_ready")


@hookimpl
def health(node):
    indexer = _indexers.get(node)
    if indexer is None:
        return HealthReport(False, "the visual search plugin has not started")
    ready, detail, data = indexer.health()
    return HealthReport(ready, detail, data)
