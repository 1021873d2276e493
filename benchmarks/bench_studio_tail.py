"""The shipped embedder's last layers retrained with the studio shots as a second domain, on cached maps.

See :mod:`converters.vision.tailtune`. On ``../shared/datasets/grocery-store`` with the shipped int8
model: block-17 maps of the train photos, of the studio shots with 16 augmented views and 16 shelf
composites each (the same seeded views as the ``studio_catalog`` benchmark), and of the val photos.
Then, side by side in one run:

- *shipped*: the shipped int8 model, phone catalog (train photos) and studio catalog (one shot per
  SKU), the 296 val photos as queries, SKUs ranked exactly by their mean vector (the node's ranking);
- *choice*: each of :data:`CANDIDATES` (the last conv and head, or block 17 as well), and for block 17
  its weight-space blends with the shipped tail (:data:`BLENDS`,
  :func:`~converters.vision.tailtune.interpolate_tail`: ``name@alpha``, alpha of the way from the
  shipped weights to the trained ones), trained on three quarters of the train photos and scored with
  the last quarter as queries against the studio shots (``split_studio``), and trained without the
  SKUs held out by each seed of :data:`SEEDS` and scored with their train photos as queries among all
  81 studio catalogs (``held_out_studio@1``, the mean over the seeds, for each of :data:`CATALOGS`:
  the shot alone as the node serves it, and the shot averaged with its 16 augmented views); the
  variant with the best ``split_studio`` whose held-out recall with the shot is not below the shipped
  tail's is chosen, then the catalog option with the best held-out recall, never on the val photos;
- *tuned*: the chosen variant trained on every train photo, written as an int8 ONNX graph
  (:func:`~converters.vision.tailtune.write_tuned_onnx`) and scored through onnxruntime on both
  catalogs, as a node would serve it; ``studio_catalogs``: the val photos against every catalog
  option through the shipped and the tuned tail (fp32 tails on the int8 trunk's maps);
- *unseen*: for every seed, the chosen variant trained without the held-out SKUs (photos and studio
  shots; the same tails as the choice's), their val photos ranked among all 81 studio catalogs (the
  shot, and the chosen option), beside the shipped tail on the same queries.

Every model runs on one thread (:data:`THREADS`).
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
# Weight-space blends of a trained tail with the shipped one (``interpolate_tail``), by candidate: ``name@alpha``.
# None by default: with ``{"block17_keep_1": (0.25, 0.5)}`` and a one-epoch block-17 candidate blended the
# same way, the rule chose ``block17_1_epoch@0.5``, lower than ``keep_1`` on the studio, phone and held-out
# SKU figures of the val photos (benchmarks/README.md).
BLENDS: dict[str, tuple[float, ...]] = {}
SEEDS = (1, 2, 3, 4, 5, 6)
# Studio catalog options scored for each tail (the node serves "shot"); the shelf composites are left out
# here: their backgrounds are crops of train photos, the very photos the held-out check queries with.
CATALOGS = ("shot", "augmented")
THREADS = 1


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
    """Maps of block ``frozen`` for every set (the studio views stacked as ``[SKUs, 2 * VIEWS, C, h, w]``:
    the augmented views, then the shelf composites)."""
    from converters.vision.tailtune import block_maps

    def stacked(views):
        n, v = views.shape[:2]
        flat = block_maps(SHIPPED, views.reshape(n * v, *views.shape[2:]), THREADS, frozen=frozen)
        return flat.reshape(n, v, *flat.shape[1:])

    maps = {k: block_maps(SHIPPED, pixels[k], THREADS, frozen=frozen) for k in ("train", "val", "iconic")}
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


def _variants(name: str, tail, weights: dict) -> dict:
    """``{variant: tail}``: the trained tail and its weight-space blends with the shipped one (:data:`BLENDS`)."""
    from converters.vision.tailtune import interpolate_tail

    frozen = CANDIDATES[name]["frozen"]
    return {name: tail, **{f"{name}@{a}": interpolate_tail(weights[frozen], tail, a) for a in BLENDS.get(name, ())}}


def _frozen(variant: str) -> int:
    return 17 if variant == "shipped" else CANDIDATES[variant.split("@")[0]]["frozen"]


def catalogs(tail, maps: dict) -> dict:
    """``{option: [SKUs, D]}``: the studio catalog of every :data:`CATALOGS` option through one tail: the
    shot alone, and the mean of the shot and its :data:`VIEWS` augmented views."""
    from converters.vision.crossdomain import unit
    from converters.vision.tailtune import embed_maps

    shot = embed_maps(tail, maps["iconic"])
    views = maps["studio_views"][:, :VIEWS]
    n, v = views.shape[:2]
    views = embed_maps(tail, views.reshape(n * v, *views.shape[2:])).reshape(n, v, -1)
    return {"shot": shot, "augmented": unit(unit(np.concatenate([shot[:, None], views], axis=1)).mean(axis=1))}


def _scores(tail, maps, labels, query_rows, classes) -> dict:
    """recall of train photos ``query_rows`` among all SKUs' studio catalogs, every option."""
    from converters.vision.tailtune import embed_maps

    queries = embed_maps(tail, maps["train"][query_rows])
    return {option: _recall(catalog, labels["iconic"], queries, labels["train"][query_rows], classes)
            for option, catalog in catalogs(tail, maps).items()}


def _mean_recall1(runs: list[dict]) -> dict:
    return {option: round(float(np.mean([r[option]["recall@1"] for r in runs])), 4) for option in CATALOGS}


def _fit_variants(maps, labels, weights, classes) -> tuple[dict, dict]:
    """``(split, held)``: every variant trained on three quarters of the train photos (``{variant: tail}``)
    and, for each seed of :data:`SEEDS`, without that seed's held-out SKUs (``{seed: {variant: tail}}``);
    the shipped tail beside them as ``"shipped"``."""
    from converters.vision.studio import validation_split
    from converters.vision.tailtune import shipped_tail
    from converters.vision.unseen import held_out_classes

    ytr, yic = labels["train"], labels["iconic"]
    shipped = shipped_tail(weights[17])
    split, held = {"shipped": shipped}, {seed: {"shipped": shipped} for seed in SEEDS}
    for name, candidate in CANDIDATES.items():
        split.update(_variants(name, _fit(maps, labels, weights, validation_split(ytr)[0], np.arange(len(yic)),
                                          candidate, classes), weights))
        for seed in SEEDS:
            out = held_out_classes(ytr, 0.2, seed)
            rows, skus = np.flatnonzero(~np.isin(ytr, out)), np.flatnonzero(~np.isin(yic, out))
            held[seed].update(_variants(name, _fit(maps, labels, weights, rows, skus, candidate, classes), weights))
        print("candidate", name, file=sys.stderr, flush=True)
    return split, held


def choose(maps: dict, labels: dict, weights: dict, classes: int) -> tuple[str, str, dict, dict]:
    """The variant and catalog option chosen on the train photos and on held-out SKUs (module docstring):
    ``(variant, option, table, the chosen variant's held-out tails by seed)``."""
    from converters.vision.studio import validation_split
    from converters.vision.unseen import held_out_classes

    ytr = labels["train"]
    split, held = _fit_variants(maps, labels, weights, classes)
    table = {}
    for variant, tail in split.items():
        m = maps[_frozen(variant)]
        runs = [_scores(held[seed][variant], m, labels, np.flatnonzero(np.isin(ytr, held_out_classes(ytr, 0.2, seed))),
                        classes) for seed in SEEDS]
        table[variant] = {"split_studio": _scores(tail, m, labels, validation_split(ytr)[1], classes)["shot"],
                          "held_out_studio@1": _mean_recall1(runs)}
    chosen, option = pick(table)
    return chosen, option, table, {seed: tails[chosen] for seed, tails in held.items()}


def pick(table: dict) -> tuple[str, str]:
    """``(variant, catalog option)`` from the choice table: the variant with the best ``split_studio``
    recall@1 among those whose held-out recall with the shot is not below the shipped tail's (all of
    them when none is), then its catalog option with the best held-out recall (ties: the earlier of
    :data:`CATALOGS`, the shot first)."""
    floor = table["shipped"]["held_out_studio@1"]["shot"]
    tuned = [v for v in table if v != "shipped"]
    allowed = [v for v in tuned if table[v]["held_out_studio@1"]["shot"] >= floor] or tuned
    chosen = max(allowed, key=lambda v: table[v]["split_studio"]["recall@1"])
    option = max(CATALOGS, key=lambda o: (table[chosen]["held_out_studio@1"][o], -CATALOGS.index(o)))
    return chosen, option


def _onnx_figures(path, pixels: dict, labels: dict, classes: int) -> dict:
    from converters.vision.evaluate import embed_images, onnx_embedder

    embed = onnx_embedder(path, THREADS)
    vec = {k: embed_images(embed, pixels[k], None, desc=k) for k in ("train", "val", "iconic")}
    return {"phone": _recall(vec["train"], labels["train"], vec["val"], labels["val"], classes),
            "studio": _recall(vec["iconic"], labels["iconic"], vec["val"], labels["val"], classes)}


def _val_recall(tail, maps, labels, val_rows, classes, options=CATALOGS) -> dict:
    """The val photos ``val_rows`` among all SKUs' studio catalogs through ``tail``, for ``options``."""
    from converters.vision.tailtune import embed_maps

    queries = embed_maps(tail, maps["val"][val_rows])
    found = catalogs(tail, maps)
    return {o: _recall(found[o], labels["iconic"], queries, labels["val"][val_rows], classes) for o in options}


def unseen(maps, labels, held_tails: dict, variant: str, option: str, shipped, classes: int) -> dict:
    """Held-out SKUs' val photos among all 81 studio catalogs (the shot alone and the chosen option):
    the chosen tail trained without them (the same tails as the choice's), against the shipped tail."""
    from converters.vision.unseen import held_out_classes

    ytr, yva = labels["train"], labels["val"]
    options = tuple(dict.fromkeys(("shot", option)))
    runs = []
    for seed in SEEDS:
        held = held_out_classes(ytr, 0.2, seed)
        rows = np.flatnonzero(np.isin(yva, held))
        runs.append({"seed": seed, "queries": len(rows),
                     "tuned": _val_recall(held_tails[seed], maps[_frozen(variant)], labels, rows, classes, options),
                     "shipped": _val_recall(shipped, maps[17], labels, rows, classes, options)})
        print("unseen", runs[-1], file=sys.stderr, flush=True)
    mean = {m: {o: {k: round(float(np.mean([r[m][o][k] for r in runs])), 4) for k in ("recall@1", "recall@5")}
                for o in options} for m in ("tuned", "shipped")}
    return {"mean": mean, "runs": runs}


def _final_tail(maps, labels, weights, variant: str, classes: int):
    """The chosen variant trained on every train photo and studio shot (and blended when it is a blend)."""
    from converters.vision.tailtune import interpolate_tail

    name, _, alpha = variant.partition("@")
    tail = _fit(maps, labels, weights, np.arange(len(labels["train"])), np.arange(len(labels["iconic"])),
                CANDIDATES[name], classes)
    return interpolate_tail(weights[CANDIDATES[name]["frozen"]], tail, float(alpha)) if alpha else tail


def measure() -> dict:
    """Every figure of the module docstring."""
    import torch

    from converters.vision.data import load_serving, read_split
    from converters.vision.studio import iconic_images
    from converters.vision.tailtune import shipped_tail, tail_weights, write_tuned_onnx

    torch.set_num_threads(THREADS)
    train, val = read_split(DATASET, "train"), read_split(DATASET, "val")
    iconic, _, _ = iconic_images(DATASET)
    pixels = {"train": load_serving(train, 144, CACHE), "val": load_serving(val, 144, CACHE),
              "iconic": load_serving(iconic, 144, None)}
    labels = {"train": train.labels, "val": val.labels, "iconic": iconic.labels}
    classes = int(max(train.labels.max(), iconic.labels.max())) + 1
    results = {"queries": len(val), "skus": len(iconic), "views": VIEWS, "seeds": list(SEEDS)}
    results["shipped_int8"] = _onnx_figures(SHIPPED, pixels, labels, classes)
    levels = sorted({c["frozen"] for c in CANDIDATES.values()})
    weights = {f: tail_weights(SHIPPED, f) for f in levels}
    studio_views = _studio_views(pixels, labels)  # seeded: the same views for every frozen level
    maps = {f: _maps(pixels, studio_views, f) for f in levels}
    chosen, option, results["choice"], held_tails = choose(maps, labels, weights, classes)
    name = chosen.split("@")[0]
    results["chosen"] = {"name": chosen, **CANDIDATES[name], "catalog": option}
    tail = _final_tail(maps, labels, weights, chosen, classes)
    with tempfile.TemporaryDirectory() as tmp:
        tuned = write_tuned_onnx(SHIPPED, Path(tmp) / "tuned.int8.onnx", tail)
        results["tuned_int8"] = _onnx_figures(tuned, pixels, labels, classes)
    print("tuned", results["tuned_int8"], file=sys.stderr, flush=True)
    val_rows, shipped = np.arange(len(val)), shipped_tail(weights[17])
    results["studio_catalogs"] = {"shipped": _val_recall(shipped, maps[17], labels, val_rows, classes),
                                  "tuned": _val_recall(tail, maps[_frozen(chosen)], labels, val_rows, classes)}
    results["unseen_skus_studio"] = unseen(maps, labels, held_tails, chosen, option, shipped, classes)
    results["load_average"] = [round(x, 2) for x in os.getloadavg()]
    return results


def table(results: dict) -> str:
    """Markdown table: each model on each catalog, the catalog options, and the unseen-SKU check."""
    lines = ["| model | catalog | recall@1 | recall@5 |", "|---|---|---|---|"]
    for model in ("shipped_int8", "tuned_int8"):
        for catalog, r in results[model].items():
            lines.append(f"| {model} | {catalog} | {r['recall@1']:.3f} | {r['recall@5']:.3f} |")
    for model, options in results["studio_catalogs"].items():
        for option, r in options.items():
            lines.append(f"| {model} tail | studio {option} | {r['recall@1']:.3f} | {r['recall@5']:.3f} |")
    unseen = results["unseen_skus_studio"]["mean"]
    for model, label in (("shipped", "shipped tail (trained on all 81)"), ("tuned", f"tuned (without them, seeds {SEEDS[0]}-{SEEDS[-1]})")):
        for option, r in unseen[model].items():
            lines.append(f"| {label} | held-out SKUs' studio {option} among all 81 | {r['recall@1']:.3f} | {r['recall@5']:.3f} |")
    return "\n".join(lines)


def main() -> dict:
    """Measure and return the figures with their table (skipped without ``../shared`` or the bundle)."""
    if (skipped := missing_inputs()) is not None:
        return skipped
    results = measure()
    return {**results, "table": table(results)}


if __name__ == "__main__":
    print(main()["table"])
