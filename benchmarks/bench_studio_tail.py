"""The shipped embedder's last layers retrained with the studio shots as a second domain, on cached maps.

See :mod:`converters.vision.tailtune`. On ``../shared/datasets/grocery-store`` with the shipped int8
model: block-17 maps of the train photos, of the studio shots with 16 augmented views and 16 shelf
composites each (the same seeded views as the ``studio_catalog`` benchmark), and of the val photos.
Then, side by side in one run:

- *shipped*: the shipped int8 model, phone catalog (train photos) and studio catalog (one shot per
  SKU), the 296 val photos as queries, SKUs ranked exactly by their mean vector (the node's ranking);
- *choice*: each of :data:`CANDIDATES` (the last conv and head, or block 17 as well) trained on
  three quarters of the train photos and scored with
  the last quarter as queries against the studio shots (``split_studio``), and trained without the
  SKUs held out by seed 1 and scored with their train photos as queries among all 81 studio shots
  (``held_out_studio``); the candidate with the best ``split_studio`` whose ``held_out_studio`` is not
  below the shipped model's is chosen, never on the val photos;
- *tuned*: the chosen settings trained on every train photo, written as an int8 ONNX graph
  (:func:`~converters.vision.tailtune.write_tuned_onnx`) and scored through onnxruntime on both
  catalogs, as a node would serve it;
- *unseen*: for seeds 1-3 of :func:`~converters.vision.unseen.held_out_classes`, the tail trained
  without the held-out SKUs (photos and studio shots), their val photos ranked among all 81 studio
  shots, beside the shipped model on the same queries.

Skips with a message when ``../shared`` or the shipped bundle is absent.
Run: ``python -m benchmarks studio_tail``.
"""
from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import numpy as np

from benchmarks.bench_studio_catalog import CACHE, DATASET, SHIPPED, VIEWS, missing_inputs

# ``frozen``: the last block left as shipped (17: train features.18 and the head; 16: block 17 as well).
CANDIDATES = {
    "keep_1": {"frozen": 17, "epochs": 5, "keep": 1.0},
    "keep_3": {"frozen": 17, "epochs": 5, "keep": 3.0},
    "block17_keep_1": {"frozen": 16, "epochs": 5, "keep": 1.0},
}
SEEDS = (1, 2, 3)


def _recall(catalog, catalog_labels, queries, query_labels, classes: int) -> dict:
    from converters.vision.studio import recall_from_scores

    from benchmarks.bench_studio_catalog import sku_scores

    return recall_from_scores(sku_scores(catalog, catalog_labels, queries, classes), query_labels)


def _studio_views(pixels: dict, labels: dict) -> tuple[np.ndarray, np.ndarray]:
    """The seeded augmented views and shelf composites of each studio shot (without the shot itself)."""
    from converters.vision.studio import augmented_views, shelf_catalog

    shelf = shelf_catalog(pixels["iconic"], pixels["train"], VIEWS, 0, (labels["iconic"], labels["train"]))
    return augmented_views(pixels["iconic"], VIEWS)[:, 1:], shelf[:, 1:]


def _maps(pixels: dict, studio_views: tuple, frozen: int) -> dict:
    """Maps of block ``frozen`` for every set (the studio views stacked as ``[SKUs, 2 * VIEWS, C, h, w]``)."""
    from converters.vision.tailtune import block_maps

    def stacked(views):
        n, v = views.shape[:2]
        flat = block_maps(SHIPPED, views.reshape(n * v, *views.shape[2:]), frozen=frozen)
        return flat.reshape(n, v, *flat.shape[1:])

    maps = {k: block_maps(SHIPPED, pixels[k], frozen=frozen) for k in ("train", "val", "iconic")}
    maps["studio_views"] = np.concatenate([stacked(views) for views in studio_views], axis=1)
    return maps


def _training_sets(maps: dict, labels: dict, photo_rows: np.ndarray, skus: np.ndarray):
    """``(phone maps, labels, studio maps, labels)`` of the given train photo rows and studio SKUs."""
    studio = np.concatenate([maps["iconic"][skus, None], maps["studio_views"][skus]], axis=1)
    return (maps["train"][photo_rows], labels["train"][photo_rows],
            studio.reshape(-1, *studio.shape[2:]), np.repeat(labels["iconic"][skus], studio.shape[1]))


def _fit(maps, labels, weights, photo_rows, skus, candidate: dict, classes: int):
    """A tail trained with ``candidate``'s settings (``maps`` and ``weights`` by frozen block)."""
    from converters.vision.tailtune import TailSettings, fit_tail

    frozen, settings = candidate["frozen"], {k: v for k, v in candidate.items() if k != "frozen"}
    return fit_tail(*_training_sets(maps[frozen], labels, photo_rows, skus), weights[frozen],
                    TailSettings(**settings), classes)


def choose(maps: dict, labels: dict, weights: dict, classes: int) -> tuple[str, dict]:
    """The candidate chosen on the train photos and on held-out SKUs (module docstring), with the table."""
    from converters.vision.studio import validation_split
    from converters.vision.tailtune import embed_maps, shipped_tail
    from converters.vision.unseen import held_out_classes

    ytr, yic = labels["train"], labels["iconic"]
    cat, qry = validation_split(ytr)
    held = held_out_classes(ytr, 0.2, 1)
    kept_rows, kept_skus = np.flatnonzero(~np.isin(ytr, held)), np.flatnonzero(~np.isin(yic, held))
    held_rows = np.isin(ytr, held)

    def scores(split_tail, held_tail, m):
        split = _recall(embed_maps(split_tail, m["iconic"]), yic, embed_maps(split_tail, m["train"][qry]), ytr[qry], classes)
        held_out = _recall(embed_maps(held_tail, m["iconic"]), yic,
                           embed_maps(held_tail, m["train"][held_rows]), ytr[held_rows], classes)
        return {"split_studio": split, "held_out_studio": held_out}
    shipped = shipped_tail(weights[17])
    table = {"shipped": scores(shipped, shipped, maps[17])}
    for name, candidate in CANDIDATES.items():
        table[name] = scores(_fit(maps, labels, weights, cat, np.arange(len(yic)), candidate, classes),
                             _fit(maps, labels, weights, kept_rows, kept_skus, candidate, classes),
                             maps[candidate["frozen"]])
        print("candidate", name, table[name], file=sys.stderr, flush=True)
    floor = table["shipped"]["held_out_studio"]["recall@1"]
    allowed = [n for n in CANDIDATES if table[n]["held_out_studio"]["recall@1"] >= floor] or list(CANDIDATES)
    return max(allowed, key=lambda n: table[n]["split_studio"]["recall@1"]), table


def _onnx_figures(path, pixels: dict, labels: dict, classes: int) -> tuple[dict, dict]:
    from converters.vision.evaluate import embed_images, onnx_embedder

    embed = onnx_embedder(path, 2)
    vec = {k: embed_images(embed, pixels[k], None, desc=k) for k in ("train", "val", "iconic")}
    return {"phone": _recall(vec["train"], labels["train"], vec["val"], labels["val"], classes),
            "studio": _recall(vec["iconic"], labels["iconic"], vec["val"], labels["val"], classes)}, vec


def unseen(maps, labels, weights, candidate: dict, shipped_vec: dict, classes: int) -> dict:
    """Held-out SKUs' val photos among all 81 studio shots: tail trained without them, against shipped."""
    from converters.vision.tailtune import embed_maps
    from converters.vision.unseen import held_out_classes

    ytr, yic, yva = labels["train"], labels["iconic"], labels["val"]
    runs = []
    for seed in SEEDS:
        held = held_out_classes(ytr, 0.2, seed)
        tail = _fit(maps, labels, weights, np.flatnonzero(~np.isin(ytr, held)), np.flatnonzero(~np.isin(yic, held)),
                    candidate, classes)
        rows = np.isin(yva, held)
        m = maps[candidate["frozen"]]
        tuned = _recall(embed_maps(tail, m["iconic"]), yic, embed_maps(tail, m["val"][rows]), yva[rows], classes)
        shipped = _recall(shipped_vec["iconic"], yic, shipped_vec["val"][rows], yva[rows], classes)
        runs.append({"seed": seed, "queries": int(rows.sum()), "tuned": tuned, "shipped": shipped})
        print("unseen", runs[-1], file=sys.stderr, flush=True)
    mean = {m: {k: round(float(np.mean([r[m][k] for r in runs])), 4) for k in ("recall@1", "recall@5")}
            for m in ("tuned", "shipped")}
    return {"mean": mean, "runs": runs}


def measure() -> dict:
    """Every figure of the module docstring."""
    from converters.vision.data import load_serving, read_split
    from converters.vision.studio import iconic_images
    from converters.vision.tailtune import tail_weights, write_tuned_onnx

    train, val = read_split(DATASET, "train"), read_split(DATASET, "val")
    iconic, _, _ = iconic_images(DATASET)
    pixels = {"train": load_serving(train, 144, CACHE), "val": load_serving(val, 144, CACHE),
              "iconic": load_serving(iconic, 144, None)}
    labels = {"train": train.labels, "val": val.labels, "iconic": iconic.labels}
    classes = int(max(train.labels.max(), iconic.labels.max())) + 1
    results = {"queries": len(val), "skus": len(iconic), "views": VIEWS}
    results["shipped_int8"], shipped_vec = _onnx_figures(SHIPPED, pixels, labels, classes)
    levels = sorted({c["frozen"] for c in CANDIDATES.values()})
    weights = {f: tail_weights(SHIPPED, f) for f in levels}
    studio_views = _studio_views(pixels, labels)  # seeded: the same views for every frozen level
    maps = {f: _maps(pixels, studio_views, f) for f in levels}
    chosen, results["choice"] = choose(maps, labels, weights, classes)
    results["chosen"] = {"name": chosen, **CANDIDATES[chosen]}
    tail = _fit(maps, labels, weights, np.arange(len(train)), np.arange(len(iconic)), CANDIDATES[chosen], classes)
    with tempfile.TemporaryDirectory() as tmp:
        tuned = write_tuned_onnx(SHIPPED, Path(tmp) / "tuned.int8.onnx", tail)
        results["tuned_int8"], _ = _onnx_figures(tuned, pixels, labels, classes)
    print("tuned", results["tuned_int8"], file=sys.stderr, flush=True)
    results["unseen_skus_studio"] = unseen(maps, labels, weights, CANDIDATES[chosen], shipped_vec, classes)
    results["load_average"] = [round(x, 2) for x in os.getloadavg()]
    return results


def table(results: dict) -> str:
    """Markdown table: each model on each catalog, and the unseen-SKU check."""
    lines = ["| model | catalog | recall@1 | recall@5 |", "|---|---|---|---|"]
    for model in ("shipped_int8", "tuned_int8"):
        for catalog, r in results[model].items():
            lines.append(f"| {model} | {catalog} | {r['recall@1']:.3f} | {r['recall@5']:.3f} |")
    unseen = results["unseen_skus_studio"]["mean"]
    for model, label in (("shipped", "shipped_int8 (trained on all 81)"), ("tuned", "tuned (without them, seeds 1-3)")):
        r = unseen[model]
        lines.append(f"| {label} | held-out SKUs' studio shots among all 81 | {r['recall@1']:.3f} | {r['recall@5']:.3f} |")
    return "\n".join(lines)


def main() -> dict:
    """Measure and return the figures with their table (skipped without ``../shared`` or the bundle)."""
    if (skipped := missing_inputs()) is not None:
        return skipped
    results = measure()
    return {**results, "table": table(results)}


if __name__ == "__main__":
    print(main()["table"])
