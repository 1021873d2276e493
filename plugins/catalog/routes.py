"""Catalog routes: list and filter items, one item, and item images.

Images are served only from inside ``<data dir>/media/catalog``: a SKU or file name that is ``..``,
holds a slash or a NUL, or resolves (through a link) outside that folder is 404, as is a missing file.
"""

from __future__ import annotations

import json
from pathlib import Path

from flask import Blueprint, jsonify, request, send_file
from pydantic import BaseModel, Field

from edge.api import SQLITE_INT_MAX, NotFound, current_node, documented, validated

from .filters import Filters


class Item(BaseModel):
    sku: str
    title: str
    description: str
    price: float
    currency: str
    category: str
    in_stock: int
    image_urls: list[str]


class ItemPage(BaseModel):
    items: list[Item]
    total: int


class ListQuery(BaseModel):
    category: str | None = None
    in_stock: bool | None = None
    limit: int = Field(50, ge=1, le=500)
    offset: int = Field(0, ge=0, le=SQLITE_INT_MAX)


def item_from_row(row: dict) -> dict:
    """The public shape of a catalog row (image file names become URLs)."""
    item = {k: row[k] for k in ("sku", "title", "description", "price", "currency", "category", "in_stock")}
    item["image_urls"] = [f"/v1/catalog/images/{name}" for name in json.loads(row.get("images") or "[]")]
    return item


def confined_file(root: Path, *parts: str) -> Path:
    """``root/part/...`` if each part is a plain name and the file resolves inside ``root``; 404 otherwise."""
    if any(p in ("", ".", "..") or "/" in p or "\\" in p or "\0" in p for p in parts):
        raise NotFound("no such image", code="unknown_image")
    root = root.resolve()
    path = root.joinpath(*parts).resolve()
    if not path.is_relative_to(root) or not path.is_file():
        raise NotFound("no such image", code="unknown_image")
    return path


def make_blueprint() -> Blueprint:
    """A fresh Blueprint with the catalog routes."""
    bp = Blueprint("catalog", __name__, url_prefix="/v1/catalog")

    @bp.get("/items")
    @documented("List catalog items, optionally by category or stock", response=ItemPage, errors=(422,), tags=("catalog",))
    def list_items():
        query = validated(ListQuery, request.args.to_dict())
        clause, params = Filters(category=query.category, in_stock=query.in_stock).sql(alias="")
        table = current_node().db()["catalog_items"]
        rows = table.rows_where(clause, params, order_by="sku", limit=query.limit, offset=query.offset)
        return jsonify({"items": [item_from_row(r) for r in rows], "total": table.count_where(clause, params)})

    @bp.get("/items/<sku>")
    @documented("One catalog item by SKU", response=Item, errors=(404,), tags=("catalog",))
    def get_item(sku: str):
        rows = list(current_node().db()["catalog_items"].rows_where("sku = ?", [sku]))
        if not rows:
            raise NotFound(f"no catalog item with SKU '{sku}'", code="unknown_sku")
        return jsonify(item_from_row(rows[0]))

    @bp.get("/images/<sku>/<name>")
    @documented("An item image", response={"type": "string", "format": "binary"}, errors=(404,), tags=("catalog",))
    def get_image(sku: str, name: str):
        path = confined_file(current_node().data_dir / "media" / "catalog", sku, name)
        return send_file(path, max_age=3600, conditional=True)

    return bp
