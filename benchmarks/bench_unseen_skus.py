"""Unseen SKUs: the teacher fine-tuned with 20 % of the grocery fine classes held out, scored on them.

See :mod:`converters.vision.unseen` for the protocol. Fine-tuning is the expensive part (minutes per
seed on 2 cores), so this runs a short recipe — ``default`` with ``ft_epochs=3`` (``UNSEEN_EPOCHS``)
at 128 px, scored at the shipped 144 px — for the seeds in ``UNSEEN_SEEDS`` (default ``1,2``), and keeps each seed's
result in ``.work/vision/unseen/`` (keyed by recipe and seed), so a second ``make bench`` reuses it.
Skips with a message when ``../shared`` is absent.

Run: ``python -m benchmarks unseen_skus``.
"""
from __future__ import annotations

import hashlib
import json
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATASET = ROOT.parent / "shared" / "datasets" / "grocery-store"
WORK = ROOT / ".work" / "vision" / "unseen"


def short_recipe():
    """The recipe this benchmark fine-tunes with (short enough for a 2-core machine)."""
    from dataclasses import replace

    from converters.vision.recipe import get_recipe

    epochs = int(os.environ.get("UNSEEN_EPOCHS", "3"))
    return replace(get_recipe("default", ft_epochs=epochs, ft_size=128, eval_size=144), name="unseen-short")


def _seed_result(seed: int, recipe, splits) -> dict:
    from converters.vision.unseen import run_split

    key = hashlib.sha256(json.dumps(recipe.to_dict(), sort_keys=True).encode()).hexdigest()[:12]
    path = WORK / f"seed{seed}-{key}.json"
    if path.is_file():
        return json.loads(path.read_text())
    result = run_split(*splits, recipe, seed, WORK)
    WORK.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2) + "\n")
    return result


def main() -> dict:
    """Per-seed and mean figures (skipped without ``../shared``)."""
    if not DATASET.is_dir():
        print(f"skipped: {DATASET} is absent (the grocery photos live in ../shared)")
        return {"skipped": "../shared/datasets/grocery-store absent"}
    from converters.vision.pipeline import load_splits
    from converters.vision.unseen import summarise

    recipe = short_recipe()
    seeds = [int(s) for s in os.environ.get("UNSEEN_SEEDS", "1,2").split(",") if s.strip()]
    splits = load_splits(DATASET, recipe, WORK)
    runs = []
    for seed in seeds:
        runs.append(_seed_result(seed, recipe, splits))
        print(f"seed {seed}: {runs[-1]}", file=sys.stderr, flush=True)
    summary = summarise(runs)
    summary["recipe"] = {k: recipe.to_dict()[k] for k in ("ft_epochs", "ft_size", "eval_size", "ft_margin", "ft_freeze_blocks")}
    return summary


if __name__ == "__main__":
    print(json.dumps(main(), indent=2))
