"""Unseen SKUs: the teacher fine-tuned with 20 % of the grocery fine classes held out, scored on them.

See :func:`converters.vision.unseen.run_split_two_domain` for the protocol. The recipe is the
converter's ``studio`` recipe (two domains — phone photos and studio shots pasted on shelf crops —
on cached trunk maps; ``UNSEEN_EPOCHS`` overrides its epochs) for the seeds in ``UNSEEN_SEEDS``
(default ``1,2,3``); the held-out SKUs' photos and studio shots are both left out of training. Each
seed's result is kept in ``.work/vision/unseen/`` (keyed by recipe and seed) and the cached maps in
``.work/vision/maps/``, so a second ``make bench`` reuses them.

Figures per model (raw ImageNet, fine-tuned, fine-tuned blended with ImageNet's last blocks at the
weight chosen on the held-out SKUs' catalog photos): ``unseen`` (catalog = the held-out SKUs' train
photos, queries = their val photos: the protocol of the first version of this benchmark), ``seen``,
and two harder variants beside it: ``unseen_studio`` (catalog = the held-out SKUs' studio shots) and
``unseen_among_all`` (the held-out SKUs' queries against every SKU's train photos).
Skips with a message when ``../shared`` is absent.

Run: ``python -m benchmarks unseen_skus``.
"""
from __future__ import annotations

import hashlib
import json
import os
import sys
from pathlib import Path

from benchmarks.common import DATASETS

ROOT = Path(__file__).resolve().parents[1]
DATASET = DATASETS / "grocery-store"
WORK = ROOT / ".work" / "vision" / "unseen"
MAPS = ROOT / ".work" / "vision" / "maps"
FIGURES = 2  # in each seed's cache key: 2 added unseen_studio_mapped (a seed's result gains figures)


def unseen_recipe():
    """The converter's ``studio`` recipe (``UNSEEN_EPOCHS`` overrides its epochs)."""
    from converters.vision.recipe import get_recipe

    epochs = os.environ.get("UNSEEN_EPOCHS")
    return get_recipe("studio", ft_epochs=int(epochs) if epochs else None)


def _seed_result(seed: int, recipe, data) -> dict:
    from converters.vision.unseen import run_split_two_domain

    key = hashlib.sha256(json.dumps({**recipe.to_dict(), "figures": FIGURES}, sort_keys=True).encode()).hexdigest()[:12]
    path = WORK / f"two-domain-seed{seed}-{key}.json"
    if path.is_file():
        return json.loads(path.read_text())
    result = run_split_two_domain(*data, recipe, seed)
    WORK.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2) + "\n")
    return result


def _data(recipe):
    """``(training maps, evaluation maps, labels)`` shared by every seed."""
    from converters.vision.pipeline import load_splits
    from converters.vision.studio import studio_catalog
    from converters.vision.twodomain import build_maps, from_recipe, split_teacher
    from converters.vision.unseen import eval_maps

    train, val = load_splits(DATASET, recipe, WORK)
    shots, shot_labels = studio_catalog(DATASET, recipe.cache_size, serving=False)
    serving, _ = studio_catalog(DATASET, recipe.eval_size)
    td = from_recipe(recipe)
    trunk, _ = split_teacher(td.trunk)
    maps = build_maps(trunk, train.pixels, train.labels, shots, shot_labels, td, MAPS, train.serving)
    evals = eval_maps(trunk, {"train": train.serving, "val": val.serving, "iconic": serving}, MAPS, td.trunk)
    return maps, evals, {"train": train.labels, "val": val.labels, "iconic": shot_labels}


def main() -> dict:
    """Per-seed and mean figures (skipped without ``../shared``)."""
    if not DATASET.is_dir():
        print(f"skipped: {DATASET} is absent (the grocery photos live in ../shared)")
        return {"skipped": "../shared/datasets/grocery-store absent"}
    from converters.vision.unseen import summarise_two_domain

    recipe = unseen_recipe()
    seeds = [int(s) for s in os.environ.get("UNSEEN_SEEDS", "1,2,3").split(",") if s.strip()]
    data = _data(recipe)
    runs = []
    for seed in seeds:
        runs.append(_seed_result(seed, recipe, data))
        print(f"seed {seed}: chosen blend {runs[-1]['chosen_blend']}", file=sys.stderr, flush=True)
    summary = summarise_two_domain(runs)
    summary["recipe"] = {k: recipe.to_dict()[k] for k in ("name", "ft_method", "ft_epochs", "ft_size", "eval_size",
                                                          "ft_margin", "td_trunk", "td_phone_views", "td_studio_views")}
    summary["load_average"] = [round(x, 2) for x in os.getloadavg()]
    return summary


if __name__ == "__main__":
    print(json.dumps(main(), indent=2))
