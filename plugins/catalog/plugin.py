"""Catalog plugin hooks: its tables, its routes, and how the catalog syncs.

``catalog_items`` is hub-owned: published on the hub, read-only on joined edges. Both tables are per store
(CDN edge mode): each row carries its ``store`` and is keyed ``<store>/<sku>``.

``stock_levels(sku, on_hand)`` is a counter. Each store changes it where the goods move: an edge
decrements ``on_hand`` when it sells, the hub increments it when a delivery arrives (e.g. ``INSERT ...
ON CONFLICT (id) DO UPDATE SET on_hand = on_hand + excluded.on_hand``). What syncs is the difference
of every write, never the total, and differences merge by adding, so concurrent sales on several edges
and deliveries at the hub all count, in any order. The table is declared ``edge_to_hub`` (the sales are
the bulk of its changes) but counters flow both ways: edges push their differences; the hub adds them,
re-logs them with their origin and serves them, with its own deliveries, to every edge. Nothing counts
twice: the applier skips counter changes of its own origin that come back, and a snapshot's totals are
completed with the receiver's own changes the hub has not applied yet (:mod:`edge.sync.apply`).
A deleted stock row syncs as subtracting its last total; rows are never deleted by sync.
"""

from __future__ import annotations

from edge.api import PluginInfo, SyncedTable, hookimpl

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
    return [SyncedTable("catalog_items", direction="hub_to_edge", policy="hub_owned", key="id", store_column="store", store_key="sku"),
            SyncedTable("stock_levels", direction="edge_to_hub", policy="counter", key="id", store_column="store", store_key="sku")]


@hookimpl
def cli_commands():
    from . import commands

    return [commands.catalog, commands.hub]


@hookimpl
def load_demo(node, models_dir):
    from . import commands

    return commands.load_demo(node, models_dir)
