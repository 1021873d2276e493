"""Helpers for the CDN edge mode tests: a catalog CSV with a photo per item, and a node of several stores."""

from __future__ import annotations

import csv
import io
from pathlib import Path

KEYS = {"north": "key-of-north", "south": "key-of-south"}
ADMIN = "admin-key-for-cdn"


def png(colour: tuple[int, int, int], size: int = 8) -> bytes:
    """A tiny PNG of one colour."""
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (size, size), colour).save(out, format="PNG")
    return out.getvalue()


def write_catalog(folder: Path, items: list[tuple[str, str, float]], colour=(200, 30, 30)) -> Path:
    """``catalog.csv`` of ``(sku, title, price)`` items, each with one photo; returns the CSV path."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "catalog.csv"
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["sku", "title", "price", "category", "images"])
        for n, (sku, title, price) in enumerate(items):
            (folder / f"{sku}.png").write_bytes(png((colour[0], colour[1], (colour[2] + 40 * n) % 256)))
            writer.writerow([sku, title, price, "fruit", f"{sku}.png"])
    return path


def store_config(data_dir: Path, **extra) -> dict:
    """A node of the stores ``north`` and ``south``, one client key each, catalog and events plugins."""
    return {"DATA_DIR": str(data_dir), "PLUGINS": ["catalog", "events"], "STORES": "north,south",
            "STORE_KEYS": dict(KEYS), "ADMIN_KEY": ADMIN, **extra}


def bearer(store: str) -> dict:
    return {"Authorization": f"Bearer {KEYS[store]}"}
