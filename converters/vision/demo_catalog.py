"""Build the demo catalog from the Grocery Store Dataset, reproducibly.

One SKU per fine class (``sku`` = class name), a readable title, the first
~300 characters of the dataset's product description, a deterministic
synthetic price, the coarse class as category, and a few downscaled natural
*training* photos per SKU. The retailer's iconic images are never copied.

Which photos: given a vision bundle, the ones whose mean embedding is closest to the mean of all
the SKU's training photos (the node ranks SKUs by the mean of their photos, so a few representative
photos stand in for all of them); otherwise evenly spaced ones. Measured with the shipped bundle
through the node's own path, three photos per SKU, 296 val photos as queries: recall@1 0.855 and
recall@5 0.980 with representative photos against 0.845 and 0.973 with evenly spaced ones.

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


def representative(vectors: np.ndarray, count: int) -> list[int]:
    """Rows (ascending) of ``count`` unit vectors whose mean points closest to the mean of all rows, chosen greedily."""
    unit = lambda a: a / max(float(np.linalg.norm(a)), 1e-12)  # noqa: E731
    target, chosen = unit(vectors.mean(axis=0)), []
    for _ in range(min(count, len(vectors))):
        rest = [i for i in range(len(vectors)) if i not in chosen]
        chosen.append(max(rest, key=lambda i: float(unit(vectors[chosen + [i]].mean(axis=0)) @ target)))
    return sorted(chosen)


def evenly_spaced(photos: list[Path], count: int) -> list[Path]:
    """``count`` photos spread evenly over the list (all of them when there are fewer)."""
    return [photos[i] for i in np.unique(np.linspace(0, len(photos) - 1, count).astype(int))] if photos else []


def bundle_embedder(bundle_dir: str | Path):
    """``paths -> unit vectors`` with a bundle's ``vision_embedder``, preparing photos as the node does."""
    from edge.bundles.manifest import read_manifest
    from edge.runtime import load_model
    from plugins.visual_search.embeddings import embed_files
    from plugins.visual_search.imaging import Preprocess

    bundle_dir = Path(bundle_dir)
    entry = read_manifest(bundle_dir).models["vision_embedder"]
    model = load_model("vision_embedder", bundle_dir / entry.file, entry.runtime, threads=2)
    recipe = Preprocess.from_manifest(entry.preprocess)

    def embed(paths: list[Path]) -> np.ndarray:
        found = embed_files(model, recipe, paths, 16, 1 << 40)
        if len(found) != len(paths):
            raise ValueError(f"{len(paths) - len(found)} photos could not be read")
        return np.stack([found[i] for i in range(len(paths))])
    return embed


def save_small(src: Path, dst: Path, max_side: int, quality: int) -> None:
    """Downscale ``src`` so its longest side is ``max_side`` and save it as JPEG."""
    from PIL import Image

    dst.parent.mkdir(parents=True, exist_ok=True)
    with Image.open(src) as im:
        im = im.convert("RGB")
        im.thumbnail((max_side, max_side), Image.LANCZOS)
        im.save(dst, "JPEG", quality=quality, optimize=True)


def write_demo_catalog(dataset: str | Path, out_dir: str | Path, per_sku: int = 3, max_side: int = 256,
                       quality: int = 80, bundle: str | Path | None = None) -> list[dict]:
    """Write ``catalog.csv`` and ``images/<sku>/<n>.jpg`` into ``out_dir``; return the rows.

    ``bundle``: a vision bundle folder whose embedder picks representative photos (see the module).
    """
    from tqdm import tqdm

    dataset, out = Path(dataset), Path(out_dir)
    photos = train_photos(dataset)
    embed = bundle_embedder(bundle) if bundle else None
    rows = []
    for cls in tqdm(read_classes(dataset), desc="demo catalog"):
        chosen = photos.get(cls["id"], [])
        if embed is not None and len(chosen) > per_sku:
            picks = [chosen[i] for i in representative(embed(chosen), per_sku)]
        else:
            picks = evenly_spaced(chosen, per_sku)
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
