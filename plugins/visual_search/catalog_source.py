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

_FINGERPRINT = "select count(*), max(updated_at), max(rowid), total(length(images)) from catalog_items where store = ?"


def fingerprint(db, store: str = "default") -> str:
    """16 hex digits naming ``store``'s catalog's current content ("empty" without a catalog table)."""
    try:
        row = db.conn.execute(_FINGERPRINT, [store]).fetchone()
    except sqlite3.OperationalError:
        return "empty"
    return hashlib.sha256(json.dumps(list(row)).encode()).hexdigest()[:16]


def catalog_images(db, media_dir: Path, store: str = "default") -> list[tuple[str, str, Path]]:
    """``(item id, image name, file path)`` for every image of every item of ``store`` (the id is
    ``<store>/<sku>``); names escaping ``media_dir`` are skipped."""
    media_dir = Path(media_dir).resolve()
    found = []
    try:
        rows = db.conn.execute("select id, images from catalog_items where store = ? order by rowid", [store]).fetchall()
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
