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
