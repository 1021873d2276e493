"""Events plugin hooks: the events table and route, and the node's sync worker.

The sync worker starts from this plugin's ``startup`` hook: it checks the sync triggers in every
worker process, then — only when ``HUB_URL`` is set — tries a non-blocking ``fcntl`` lock on
``<data dir>/run/sync.lock``; the one process that gets it runs the sync loop.
"""

from __future__ import annotations

import logging

from edge.hookspecs import PluginInfo, SyncedTable, hookimpl

from . import routes, schema

log = logging.getLogger(__name__)
PLUGIN_NAME = "events"
_workers: dict[int, object] = {}


@hookimpl
def plugin_info():
    return PluginInfo(name="events", version="0.1.0", description="Store events (views, carts, orders, ...) synced to the hub")


@hookimpl
def migrations():
    return schema.migrations


@hookimpl
def blueprint(node):
    return routes.make_blueprint()


@hookimpl
def synced_tables():
    return [SyncedTable("events", direction="edge_to_hub", policy="append_only", key="id")]


@hookimpl
def startup(node):
    from edge.sync.worker import prepare_store, start_worker

    prepare_store(node)
    worker = start_worker(node)
    if worker is not None:
        _workers[id(node)] = worker


@hookimpl
def shutdown(node):
    worker = _workers.pop(id(node), None)
    if worker is not None:
        worker.stop()
