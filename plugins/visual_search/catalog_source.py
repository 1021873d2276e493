"""What the image index is built from: the catalog's images, and a cheap fingerprint of them.

The fingerprint is one aggregate query (row count, newest ``updated_at``, largest rowid and the total
length of the ``images`` lists), so a worker can check it often; it changes when items are added,
removed or updated — price-only updates included, which then rebuild from cached embeddings.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from pathlib import Path

_FINGERPRINT = "select count(*), max(updated_at), max(rowid), total(length(images)) from catalog_items"


def fingerprint(db) -> str:
    """16 hex digits naming the catalog's current content ("empty" without a catalog table)."""
    try:
        row = db.conn.execute(_FINGERPRINT).fetchone()
    except sqlite3.OperationalError:
        return "empty"
    return hashlib.sha256(json.dumps(list(row)).encode()).hexdigest()[:16]


def catalog_images(db, media_dir: Path) -> list[tuple[str, str, Path]]:
    """``(sku, image name, file path)`` for every image of every item; names escaping ``media_dir`` are skipped."""
    media_dir = Path(media_dir).resolve()
    found = []
    try:
        rows = db.conn.execute("select sku, images from catalog_items order by rowid").fetchall()
    except sqlite3.OperationalError:
        return []
    for sku, images in rows:
        try:
            names = json.loads(images or "[]")
        except ValueError:
            continue
        for name in names if isinstance(names, list) else []:
            path = (media_dir / str(name)).resolve()
            if path.is_relative_to(media_dir):
                found.append((sku, str(name), path))
    return found
