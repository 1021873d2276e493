"""Import a catalog CSV (``sku,title,description,price,currency,category,in_stock,images``) into the store.

``images`` is a ``;``-separated list of paths relative to the CSV; the files are copied under
``<data dir>/media/catalog/<sku>/`` (another store than ``default``: ``media/catalog/.stores/<store>/<sku>/``).
Rows are upserted by ``<store>/<sku>`` in one transaction.
"""

from __future__ import annotations

import csv
import datetime
import json
import shutil
from pathlib import Path

from edge.api import write_transaction

REQUIRED = ("sku", "title", "price")


class CatalogImportError(ValueError):
    """The CSV does not fit the catalog format."""


def _row(raw: dict, line: int) -> dict:
    missing = [c for c in REQUIRED if not (raw.get(c) or "").strip()]
    if missing:
        raise CatalogImportError(f"line {line}: missing {', '.join(missing)}")
    try:
        price = float(raw["price"])
        in_stock = int(raw.get("in_stock") or 1)
    except ValueError as exc:
        raise CatalogImportError(f"line {line}: {exc}") from None
    if "/" in raw["sku"] or raw["sku"].startswith("."):
        raise CatalogImportError(f"line {line}: SKU '{raw['sku']}' may not contain '/' or start with '.'")
    return {"sku": raw["sku"].strip(), "title": raw["title"].strip(), "description": (raw.get("description") or "").strip(),
            "price": price, "currency": (raw.get("currency") or "EUR").strip(), "category": (raw.get("category") or "").strip(),
            "in_stock": in_stock, "images": (raw.get("images") or "").strip()}


def read_catalog_csv(path: Path) -> list[dict]:
    """Parse and check every row (line numbers in errors) before anything is written."""
    with open(path, newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        if not reader.fieldnames or not set(REQUIRED) <= set(reader.fieldnames):
            raise CatalogImportError(f"{path.name}: header must include {', '.join(REQUIRED)}")
        return [_row(raw, number) for number, raw in enumerate(reader, start=2)]


def _copy_images(row: dict, source_dir: Path, media_root: Path, store: str) -> list[str]:
    from .media import store_media_dir

    media_dir, names = store_media_dir(media_root, store), []
    relative = media_dir.relative_to(media_root).as_posix()
    prefix = "" if relative == "." else f"{relative}/"
    for index, relative in enumerate(p for p in row["images"].split(";") if p):
        source = (source_dir / relative).resolve()
        if not source.is_relative_to(source_dir.resolve()) or not source.is_file():
            raise CatalogImportError(f"SKU {row['sku']}: image '{relative}' is missing or outside the catalog folder")
        target = media_dir / row["sku"] / f"{index}{source.suffix.lower()}"
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)
        names.append(f"{prefix}{row['sku']}/{target.name}")
    return names


def import_catalog(db, csv_path: Path, media_dir: Path, store: str = "default") -> int:
    """Upsert every row of ``csv_path`` into ``store``'s catalog; return the number of rows."""
    csv_path = Path(csv_path)
    rows = read_catalog_csv(csv_path)
    now = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    for row in rows:
        row["images"] = json.dumps(_copy_images(row, csv_path.parent, Path(media_dir), store))
        row.update(id=f"{store}/{row['sku']}", store=store, updated_at=now)
    with write_transaction(db):  # upsert_all reads the schema first: take the write lock at the start
        db["catalog_items"].upsert_all(rows, pk="id")
    return len(rows)


def hub_rows(csv_path: Path, store: str = "default") -> list[dict]:
    """The rows of a catalog CSV as the hub publishes them for ``store`` (images as a JSON list of paths, stamped ``updated_at``)."""
    rows, stamp = read_catalog_csv(Path(csv_path)), datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    for row in rows:
        row["images"] = json.dumps([p for p in row["images"].split(";") if p])
        row.update(id=f"{store}/{row['sku']}", store=store, updated_at=stamp)
    return rows
