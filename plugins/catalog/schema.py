"""Catalog tables and their migrations."""

from __future__ import annotations

from sqlite_utils import Migrations

migrations = Migrations("catalog")


@migrations()
def create_catalog_items(db):
    db["catalog_items"].create(
        {"sku": str, "title": str, "description": str, "price": float, "currency": str,
         "category": str, "in_stock": int, "images": str, "updated_at": str},
        pk="sku", not_null={"title"}, defaults={"currency": "EUR", "in_stock": 1, "images": "[]", "description": ""},
    )
    db["catalog_items"].create_index(["category"])


@migrations()
def create_stock_levels(db):
    """Stock on hand per SKU, synced as a counter (see ``plugin.synced_tables``)."""
    db["stock_levels"].create({"sku": str, "on_hand": int}, pk="sku", not_null={"on_hand"}, defaults={"on_hand": 0})


@migrations()
def scope_catalog_by_store(db):
    """One catalog per store (CDN edge mode): every row carries its ``store``; the key is ``<store>/<sku>``.

    The key stays one column, so sync, publication and capture need nothing new, and the store a change
    belongs to can be read from its key alone (a deletion carries only its key).
    """
    from edge.api import rebuild_per_store

    columns = "sku, title, description, price, currency, category, in_stock, images, updated_at"
    rebuild_per_store(db, "catalog_items", (
        "CREATE TABLE [catalog_items] ([id] TEXT PRIMARY KEY NOT NULL, [store] TEXT NOT NULL DEFAULT 'default', [sku] TEXT NOT NULL, "
        "[title] TEXT NOT NULL, [description] TEXT DEFAULT '', [price] FLOAT, [currency] TEXT DEFAULT 'EUR', "
        "[category] TEXT, [in_stock] INTEGER DEFAULT 1, [images] TEXT DEFAULT '[]', [updated_at] TEXT)"), columns, "sku")
    db.execute("CREATE UNIQUE INDEX idx_catalog_items_store_sku ON catalog_items (store, sku)")
    db.execute("CREATE INDEX idx_catalog_items_store_category ON catalog_items (store, category)")
    rebuild_per_store(db, "stock_levels", (
        "CREATE TABLE [stock_levels] ([id] TEXT PRIMARY KEY NOT NULL, [store] TEXT NOT NULL DEFAULT 'default', "
        "[sku] TEXT NOT NULL, [on_hand] INTEGER NOT NULL DEFAULT 0)"), "sku, on_hand", "sku")
    db.execute("CREATE UNIQUE INDEX idx_stock_levels_store_sku ON stock_levels (store, sku)")
