"""Helpers of the recommendation tests: a small catalog, synthetic sessions over it, a trained signed bundle."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

CATEGORIES = ("fruit", "bread", "dairy", "veg")


def catalog_rows(per_category: int = 6) -> list[dict]:
    """``per_category`` items in each of four categories, every one in stock with a photo name."""
    rows = []
    for category in CATEGORIES:
        for n in range(per_category):
            sku = f"{category}-{n}"
            rows.append({"sku": sku, "title": f"{category.title()} number {n}", "description": f"a fine {category}",
                         "price": 1.0 + n, "currency": "EUR", "category": category, "in_stock": 1,
                         "images": json.dumps([f"{sku}/1.jpg"]), "updated_at": "2026-01-01T00:00:00+00:00"})
    return rows


def write_catalog_csv(path: Path, rows: list[dict]) -> Path:
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, ["sku", "category"], extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    return path


def put_catalog(db, rows: list[dict], store: str = "default") -> None:
    """Upsert ``rows`` into ``store``'s catalog (rows are keyed ``<store>/<sku>``)."""
    db["catalog_items"].upsert_all([{**r, "id": f"{store}/{r['sku']}", "store": store} for r in rows], pk="id")


def train_bundle(folder: Path, private_key: Path, sessions: int = 400, version: str = "1.0.0") -> Path:
    """Train a tiny storefront-recs bundle on synthetic sessions over :func:`catalog_rows` and sign it."""
    from converters.recommend.events import read_sessions, write_export
    from converters.recommend.synthetic import catalog_categories, synthetic_rows
    from converters.recommend.train import fit, write_bundle

    folder.mkdir(parents=True, exist_ok=True)
    events = folder / "events.csv"
    groups = catalog_categories(write_catalog_csv(folder / "catalog.csv", catalog_rows()))
    write_export(synthetic_rows(groups, sessions=sessions, seed=3), events)
    tables, model, summary = fit(read_sessions(events), seconds=600, epochs=2)  # epochs bound it, so load cannot change the model
    write_bundle(tables, model, summary, folder / "bundle", version, private_key)
    return folder / "bundle"


def trust(data_dir: Path, public_key: Path) -> None:
    (data_dir / "keys" / "trusted").mkdir(parents=True, exist_ok=True)
    shutil.copyfile(public_key, data_dir / "keys" / "trusted" / public_key.name)
