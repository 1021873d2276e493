"""Catalog plugin hooks: its tables, its routes, and how the catalog syncs (hub-owned)."""

from __future__ import annotations

from edge.hookspecs import PluginInfo, SyncedTable, hookimpl

from . import routes, schema


@hookimpl
def plugin_info():
    return PluginInfo(name="catalog", version="0.1.0", description="Product catalog: items, prices, stock, images")


@hookimpl
def migrations():
    return schema.migrations


@hookimpl
def blueprint(node):
    return routes.make_blueprint()


@hookimpl
def synced_tables():
    return [SyncedTable("catalog_items", direction="hub_to_edge", policy="hub_owned", key="sku")]
