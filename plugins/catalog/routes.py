"""Catalog routes, each for the request's store: list and filter items, one item, item images, and (admin
key) a catalog upload.

``POST /v1/catalog/import`` takes a zip (``application/zip``) holding one CSV and its images, as
``storefront-edge catalog import`` takes a CSV and its folder (see :mod:`.upload`); a node joined to a
hub refuses it (409 ``catalog_not_writable``: its catalog comes from the hub). The visual search index is rebuilt
in the background, as after a sync: the old catalog and index answer until the new index is swapped in.

Images are served only from inside ``<data dir>/media/catalog`` and only when they are one of the item's
own images in this store: a SKU or file name that is ``..``, holds a slash or a NUL, or resolves (through a
link) outside that folder is 404, as is a missing file or another store's image.

Caching (see :mod:`edge.caching`): lists and items carry an ETag (a digest of the answer) and
``Cache-Control: public, max-age=CATALOG_MAX_AGE``; an image URL names its content
(``/v1/catalog/images/<sku>/<digest>/<file>``, digest = the first 16 hex digits of its sha256) and is
``immutable``: a new photo gets a new URL, which changes the item's and the list's ETag at once. The
plain ``/v1/catalog/images/<sku>/<file>`` form still answers, with a short ``max-age``.
"""

from __future__ import annotations

import json
from pathlib import Path

from flask import Blueprint, jsonify, request, send_file
from pydantic import BaseModel, Field

from edge.api import (SQLITE_INT_MAX, BadRequest, Conflict, NotFound, Unprocessable, UnsupportedMediaType, cacheable,
                      current_node, current_store, documented, require_admin, store_path, validated)

from . import media

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


def item_from_row(row: dict, media_dir: Path | None = None, images_base: str | None = None) -> dict:
    """The public shape of a catalog row (image file names become content-addressed URLs of its store).

    :param images_base: ``store_path("/v1/catalog/images/")``, when the caller has it (once per page).
    """
    item = {k: row[k] for k in ("sku", "title", "description", "price", "currency", "category", "in_stock")}
    base, folder = images_base or store_path("/v1/catalog/images/"), None if media_dir is None else str(media_dir)
    item["image_urls"] = [media.image_url(row["sku"], name, folder, base) for name in json.loads(row.get("images") or "[]")]
    return item


def _media_dir() -> Path:
    return current_node().data_dir / "media" / "catalog"


def _max_age() -> int:
    return int(current_node().config.get("CATALOG_MAX_AGE", 60))


def _item_row(sku: str) -> dict:
    rows = list(current_node().db()["catalog_items"].rows_where("store = ? and sku = ?", [current_store(), sku]))
    if not rows:
        raise NotFound(f"no catalog item with SKU '{sku}'", code="unknown_sku")
    return rows[0]


def _item_image(sku: str, file: str) -> tuple[Path, str]:
    """The file and stored name of image ``file`` of item ``sku`` in this store; 404 for anything else."""
    plain_names(sku, file)  # refuse '..', slashes, NUL before any lookup
    for name in json.loads(_item_row(sku).get("images") or "[]"):
        if Path(str(name)).name == file:
            return confined_file(_media_dir(), *str(name).split("/")), name
    raise NotFound("no such image", code="unknown_image")


def plain_names(*parts: str) -> None:
    """404 unless each part is a plain file name (no ``..``, slash, backslash or NUL)."""
    if any(p in ("", ".", "..") or "/" in p or "\\" in p or "\0" in p for p in parts):
        raise NotFound("no such image", code="unknown_image")


def confined_file(root: Path, *parts: str) -> Path:
    """``root/part/...`` if each part is a plain name and the file resolves inside ``root``; 404 otherwise."""
    plain_names(*parts)
    root = root.resolve()
    path = root.joinpath(*parts).resolve()
    if not path.is_relative_to(root) or not path.is_file():
        raise NotFound("no such image", code="unknown_image")
    return path


def make_blueprint() -> Blueprint:
    """A fresh Blueprint with the catalog routes."""
    bp = Blueprint("catalog", __name__, url_prefix="/v1/catalog")

    @bp.get("/items")
    @documented("List catalog items, optionally by category or stock (ETag, 304)", response=ItemPage, errors=(400, 422), tags=("catalog",))
    def list_items():
        query = validated(ListQuery, request.args.to_dict())
        clause, params = Filters(category=query.category, in_stock=query.in_stock).sql(alias="")
        clause, params = f"store = ? and {clause}", [current_store(), *params]
        table, media_dir = current_node().db()["catalog_items"], _media_dir()
        rows = table.rows_where(clause, params, order_by="sku", limit=query.limit, offset=query.offset)
        base = store_path("/v1/catalog/images/")
        page = {"items": [item_from_row(r, media_dir, base) for r in rows], "total": table.count_where(clause, params)}
        return cacheable(page, max_age=_max_age())

    @bp.get("/items/<sku>")
    @documented("One catalog item by SKU (ETag, 304)", response=Item, errors=(400, 404), tags=("catalog",))
    def get_item(sku: str):
        return cacheable(item_from_row(_item_row(sku), _media_dir()), max_age=_max_age())

    @bp.get("/images/<sku>/<digest>/<name>")
    @documented("An item image at its content-addressed URL (immutable)", response={"type": "string", "format": "binary"},
                errors=(400, 404), tags=("catalog",))
    def get_image_by_digest(sku: str, digest: str, name: str):
        path, _ = _item_image(sku, name)
        if media.digest_of(path) != digest:
            raise NotFound("no such image (its content has changed: read the item again)", code="unknown_image")
        return cacheable(send_file(path, conditional=False, etag=False), cache_control=media.IMMUTABLE, etag=f'"{digest}"')

    @bp.get("/images/<sku>/<name>")
    @documented("An item image (short max-age; items name the content-addressed URL)",
                response={"type": "string", "format": "binary"}, errors=(400, 404), tags=("catalog",))
    def get_image(sku: str, name: str):
        path, _ = _item_image(sku, name)
        return cacheable(send_file(path, conditional=False, etag=False), max_age=_max_age(), etag=f'"{media.digest_of(path)}"')

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
        return import_zip(node.db(), work / "catalog.zip", node.data_dir / "media" / "catalog", work, current_store())
    except ArchiveRefused as exc:
        raise BadRequest(str(exc), code="bad_archive") from None
    except CatalogImportError as exc:
        raise Unprocessable(f"nothing imported: {len(exc.problems)} problem(s) in the catalog", code="invalid_catalog",
                            details={"problems": [{"line": line, "error": error} for line, error in exc.problems]}) from None
    except sqlite3.DatabaseError as exc:
        raise Conflict(f"this node's catalog is not writable here: {exc}", code="catalog_not_writable") from None
    finally:
        shutil.rmtree(work, ignore_errors=True)
