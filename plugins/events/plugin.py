"""Events plugin hooks: the events table (append-only, synced edge to hub) and its route.

Sync itself (capture triggers, sync state, the elected worker) belongs to the node (:mod:`edge.node`).
"""

from __future__ import annotations

from edge.api import PluginInfo, SyncedTable, hookimpl

from . import routes, schema

PLUGIN_NAME = "events"


@hookimpl
def plugin_info():
    return PluginInfo(name="events", version="0.1.0", description="Store events (views, clicks, carts, orders, ...) synced to the hub",
                      config=routes.EventsConfig)


@hookimpl
def migrations():
    return schema.migrations


@hookimpl
def blueprint(node):
    return routes.make_blueprint()


@hookimpl
def synced_tables():
    return [SyncedTable("events", direction="edge_to_hub", policy="append_only", key="id", store_column="store")]
