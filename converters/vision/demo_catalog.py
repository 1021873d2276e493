"""Build the demo catalog from the Grocery Store Dataset, reproducibly.

One SKU per fine class (``sku`` = class name), a readable title, the first
~300 characters of the dataset's product description, a deterministic
synthetic price, the coarse class as category, and a few downscaled natural
*training* photos per SKU. The retailer's iconic images are never copied.

Usage: ``python -m converters.vision.demo_catalog DATASET OUT`` or
``storefront-edge convert vision demo-catalog --dataset DATASET --out OUT``.
"""
from __future__ import annotations

import csv
import hashlib
import sys
from pathlib import Path

import numpy as np

COLUMNS = ["sku", "title", "description", "price", "currency", "category", "in_stock", "images"]


def read_classes(dataset: Path) -> list[dict]:
    """Rows of ``classes.csv`` as dicts: sku, class id, coarse name, description path."""
    with (dataset / "classes.csv").open(newline="", encoding="utf-8-sig") as fh:
        return [{"sku": r["Class Name (str)"], "id": int(r["Class ID (int)"]),
                 "category": r["Coarse Class Name (str)"],
                 "description_path": dataset / r["Product Description Path (str)"].lstrip("/")}
                for r in csv.DictReader(fh)]


def title_for(sku: str, category: str) -> str:
    """Readable title: hyphens to spaces, the coarse class appended when not already named."""
    title = sku.replace("-", " ").replace("_", " ")
    return title if category.lower() in title.lower() else f"{title} {category}"


def short_description(path: Path, limit: int = 300) -> str:
    """First ``limit`` characters of a description file, cut at a word boundary."""
    if not path.is_file():
        return ""
    text = " ".join(path.read_text(encoding="utf-8-sig", errors="replace").split())
    if len(text) <= limit:
        return text
    return text[:limit].rsplit(" ", 1)[0].rstrip(",.;:") + "…"


def synthetic_price(sku: str) -> str:
    """A deterministic price in SEK between 9.90 and 49.90, from the SKU's hash."""
    cents = int(hashlib.sha256(sku.encode()).hexdigest(), 16) % 41
    return f"{9.90 + cents:.2f}"


def train_photos(dataset: Path) -> dict[int, list[Path]]:
    """Natural training photos per fine class id, in ``train.txt`` order."""
    photos: dict[int, list[Path]] = {}
    for line in (dataset / "train.txt").read_text().splitlines():
        if line.strip():
            rel, fine = [p.strip() for p in line.split(",")[:2]]
            photos.setdefault(int(fine), []).append(dataset / rel)
    return photos


def save_small(src: Path, dst: Path, max_side: int, quality: int) -> None:
    """Downscale ``src`` so its longest side is ``max_side`` and save it as JPEG."""
    from PIL import Image

    dst.parent.mkdir(parents=True, exist_ok=True)
    with Image.open(src) as im:
        im = im.convert("RGB")
        im.thumbnail((max_side, max_side), Image.LANCZOS)
        im.save(dst, "JPEG", quality=quality, optimize=True)


def write_demo_catalog(dataset: str | Path, out_dir: str | Path, per_sku: int = 3, max_side: int = 256,
                       quality: int = 80) -> list[dict]:
    """Write ``catalog.csv`` and ``images/<sku>/<n>.jpg`` into ``out_dir``; return the rows."""
    from tqdm import tqdm

    dataset, out = Path(dataset), Path(out_dir)
    photos = train_photos(dataset)
    rows = []
    for cls in tqdm(read_classes(dataset), desc="demo catalog"):
        chosen = photos.get(cls["id"], [])
        picks = [chosen[i] for i in np.unique(np.linspace(0, len(chosen) - 1, per_sku).astype(int))] if chosen else []
        images = []
        for n, src in enumerate(picks, 1):
            rel = f"images/{cls['sku']}/{n}.jpg"
            save_small(src, out / rel, max_side, quality)
            images.append(rel)
        rows.append({"sku": cls["sku"], "title": title_for(cls["sku"], cls["category"]),
                     "description": short_description(cls["description_path"]),
                     "price": synthetic_price(cls["sku"]), "currency": "SEK", "category": cls["category"],
                     "in_stock": 1, "images": ";".join(images)})
    with (out / "catalog.csv").open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    return rows


if __name__ == "__main__":  # pragma: no cover
    write_demo_catalog(sys.argv[1], sys.argv[2])
