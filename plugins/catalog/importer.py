"""Import a catalog CSV (``sku,title,description,price,currency,category,in_stock,images``) into the store.

``images`` is a ``;``-separated list of paths relative to the CSV; the files are copied under
``<data dir>/media/catalog/<sku>/`` (another store than ``default``: ``media/catalog/.stores/<store>/<sku>/``).
Everything is checked before anything is written, and every problem is reported with its CSV line
(:class:`CatalogImportError` ``.problems``): a missing column, a missing value, a number that is not one, a
duplicate SKU, an image that is missing, outside the catalog folder, not an image, or larger than
``MAX_IMAGE_PIXELS`` (a decompression bomb). Then the images are copied and the rows upserted by
``<store>/<sku>`` in one transaction; on any problem nothing changes, so the old catalog (and the image
index built from it) keeps serving.
"""

from __future__ import annotations

import csv
import datetime
import json
import shutil
from pathlib import Path

from edge.api import write_transaction

REQUIRED = ("sku", "title", "price")
MAX_IMAGE_PIXELS = 50_000_000  # width x height read from the header; larger is refused as a bomb
IMAGE_FORMATS = {"JPEG", "PNG", "WEBP"}


class CatalogImportError(ValueError):
    """The CSV does not fit the catalog format; ``problems`` lists ``(line, message)`` of every problem."""

    def __init__(self, problems: list[tuple[int, str]]):
        self.problems = problems
        super().__init__("; ".join(f"line {line}: {message}" if line else message for line, message in problems))


def _row(raw: dict, line: int, problems: list) -> dict | None:
    missing = [c for c in REQUIRED if not (raw.get(c) or "").strip()]
    if missing:
        problems.append((line, f"missing {', '.join(missing)}"))
        return None
    try:
        price = float(raw["price"])
        in_stock = int(raw.get("in_stock") or 1)
    except ValueError as exc:
        problems.append((line, str(exc)))
        return None
    sku = raw["sku"].strip()
    if "/" in sku or "\\" in sku or sku.startswith("."):
        problems.append((line, f"SKU '{sku}' may not contain '/' or '\\' or start with '.'"))
        return None
    return {"sku": sku, "title": raw["title"].strip(), "description": (raw.get("description") or "").strip(),
            "price": price, "currency": (raw.get("currency") or "EUR").strip(), "category": (raw.get("category") or "").strip(),
            "in_stock": in_stock, "images": (raw.get("images") or "").strip()}


def _rows(path: Path, problems: list) -> list[tuple[int, dict]]:
    try:
        with open(path, newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            if not reader.fieldnames or not set(REQUIRED) <= set(reader.fieldnames):
                absent = [c for c in REQUIRED if c not in (reader.fieldnames or [])]
                problems.append((1, f"{path.name}: the header lacks the column(s) {', '.join(absent)}"))
                return []
            parsed = [(number, _row(raw, number, problems)) for number, raw in enumerate(reader, start=2)]
    except (UnicodeDecodeError, csv.Error) as exc:
        problems.append((0, f"{path.name} is not a UTF-8 CSV file: {exc}"))
        return []
    return [(number, row) for number, row in parsed if row is not None]


def _duplicates(rows: list[tuple[int, dict]], problems: list) -> None:
    first: dict[str, int] = {}
    for line, row in rows:
        if row["sku"] in first:
            problems.append((line, f"duplicate SKU '{row['sku']}' (first on line {first[row['sku']]})"))
        first.setdefault(row["sku"], line)


def image_problem(path: Path) -> str | None:
    """Why ``path`` cannot be a catalog image (``None`` when it can): not an image, or a bomb."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:  # reads the header only
            if image.format not in IMAGE_FORMATS:
                return f"is {image.format}, not JPEG, PNG or WebP"
            if image.width * image.height > MAX_IMAGE_PIXELS:
                return f"is {image.width}x{image.height} pixels, more than {MAX_IMAGE_PIXELS}"
            image.verify()
    except Image.DecompressionBombError:
        return f"has more than {MAX_IMAGE_PIXELS} pixels (a decompression bomb)"
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        return f"is not a readable image ({type(exc).__name__})"
    return None


def _sources(row: dict, line: int, folder: Path, problems: list) -> list[Path]:
    sources = []
    for relative in (p.strip() for p in row["images"].split(";") if p.strip()):
        source = (folder / relative).resolve()
        if not source.is_relative_to(folder.resolve()):
            problems.append((line, f"image '{relative}' is outside the catalog folder"))
        elif not source.is_file():
            problems.append((line, f"image '{relative}' is missing"))
        elif (why := image_problem(source)) is not None:
            problems.append((line, f"image '{relative}' {why}"))
        else:
            sources.append(source)
    return sources


def check_catalog(csv_path: Path, images: bool = True) -> list[tuple[dict, list[Path]]]:
    """Every row with its image files, checked; :class:`CatalogImportError` listing every problem otherwise.

    ``images=False`` checks the rows only (the hub publishes image paths, not files).
    """
    csv_path, problems = Path(csv_path), []
    rows = _rows(csv_path, problems)
    _duplicates(rows, problems)
    checked = [(row, _sources(row, line, csv_path.parent, problems) if images else []) for line, row in rows]
    if problems:
        raise CatalogImportError(sorted(problems))
    return checked


def read_catalog_csv(path: Path) -> list[dict]:
    """Parse and check every row (line numbers in errors), images not opened."""
    return [row for row, _ in check_catalog(path, images=False)]


def _copy_images(row: dict, sources: list[Path], media_root: Path, store: str) -> list[str]:
    from .media import store_media_dir

    media_dir, names = store_media_dir(media_root, store), []
    relative = media_dir.relative_to(media_root).as_posix()
    prefix = "" if relative == "." else f"{relative}/"
    for index, source in enumerate(sources):
        target = media_dir / row["sku"] / f"{index}{source.suffix.lower()}"
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)
        names.append(f"{prefix}{row['sku']}/{target.name}")
    return names


def import_catalog(db, csv_path: Path, media_dir: Path, store: str = "default") -> int:
    """Check the whole CSV, then upsert every row into ``store``'s catalog; return the number of rows."""
    checked = check_catalog(Path(csv_path))
    now = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    rows = []
    for row, sources in checked:
        rows.append({**row, "images": json.dumps(_copy_images(row, sources, Path(media_dir), store)),
                     "id": f"{store}/{row['sku']}", "store": store, "updated_at": now})
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
