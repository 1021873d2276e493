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
