"""Catalog routes: list and filter items, one item, item images, and (admin key) a catalog upload.

``POST /v1/catalog/import`` takes a zip (``application/zip``) holding one CSV and its images, as
``storefront-edge catalog import`` takes a CSV and its folder (see :mod:`.upload`); a node joined to a
hub refuses it (409 ``catalog_not_writable``: its catalog comes from the hub). The visual search index is rebuilt
in the background, as after a sync: the old catalog and index answer until the new index is swapped in.

Images are served only from inside ``<data dir>/media/catalog``: a SKU or file name that is ``..``,
holds a slash or a NUL, or resolves (through a link) outside that folder is 404, as is a missing file.
"""

from __future__ import annotations

import json
from pathlib import Path

from flask import Blueprint, jsonify, request, send_file
from pydantic import BaseModel, Field

from edge.api import (SQLITE_INT_MAX, BadRequest, Conflict, NotFound, Unprocessable, UnsupportedMediaType,
                      current_node, documented, require_admin, validated)

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


class Imported(BaseModel):
    imported: int


ZIP_TYPES = ("application/zip", "application/x-zip-compressed", "application/octet-stream")
MAX_ZIP_BYTES = 512 * 1024 * 1024


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

    @bp.post("/import")
    @documented("Import a catalog: a zip of one CSV and its images (admin key); every problem listed with its line, nothing imported on any",
                auth="admin", request={"type": "string", "format": "binary"}, request_media="application/zip",
                response=Imported, errors=(400, 409, 413, 415, 422), tags=("catalog",))
    def import_upload():
        require_admin()
        if request.mimetype not in ZIP_TYPES:
            raise UnsupportedMediaType(f"send the catalog as application/zip, not '{request.mimetype or 'nothing'}'",
                                       details={"accepted": list(ZIP_TYPES)})
        return jsonify({"imported": _import_upload(current_node())}), 201

    return bp


def _import_upload(node) -> int:
    import shutil
    import sqlite3
    import tempfile

    from edge.api import read_body

    from .importer import CatalogImportError
    from .upload import ArchiveRefused, import_zip

    work = Path(tempfile.mkdtemp(prefix=".upload-", dir=node.data_dir))
    try:
        (work / "catalog.zip").write_bytes(read_body(MAX_ZIP_BYTES))
        return import_zip(node.db(), work / "catalog.zip", node.data_dir / "media" / "catalog", work)
    except ArchiveRefused as exc:
        raise BadRequest(str(exc), code="bad_archive") from None
    except CatalogImportError as exc:
        raise Unprocessable(f"nothing imported: {len(exc.problems)} problem(s) in the catalog", code="invalid_catalog",
                            details={"problems": [{"line": line, "error": error} for line, error in exc.problems]}) from None
    except sqlite3.DatabaseError as exc:
        raise Conflict(f"this node's catalog is not writable here: {exc}", code="catalog_not_writable") from None
    finally:
        shutil.rmtree(work, ignore_errors=True)
