"""Visual search as a retailer would try it: studio shots as the catalog, customer phone photos as queries.

On ``../shared/datasets/grocery-store``: *studio* = catalog of the iconic image of each fine class
(one packshot per SKU), queries = the val photos; *phone* = catalog of the train photos (the figure
the converter has always reported), same queries; recall@1/@5 by SKU, every photo prepared by the
node's own decode and resize. Models: the shipped int8 ONNX embedder and the raw ImageNet
MobileNetV2 (pooled features) at the same input size. For the shipped model, each improvement that
needs no retraining is measured on both figures, alone and combined: catalog-side augmentation
(``VIEWS`` augmented views per studio shot averaged with it), test-time multi-crop of the query, and a
category-first step (:mod:`converters.vision.studio`). Skips with a message when ``../shared`` is absent.

Run: ``python -m benchmarks studio_catalog``.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DATASET = ROOT.parent / "shared" / "datasets" / "grocery-store"
SHIPPED = ROOT / "models_lite" / "storefront-vision" / "vision_embedder.int8.onnx"
CACHE = ROOT / ".work" / "vision" / "cache"
VIEWS = 16


def _unit(a: np.ndarray) -> np.ndarray:
    return a / np.maximum(np.linalg.norm(a, axis=1, keepdims=True), 1e-12)


def sku_scores(catalog: np.ndarray, labels: np.ndarray, queries: np.ndarray, classes: int) -> np.ndarray:
    """``[Q, classes]`` cosine of each query to each SKU's mean catalog vector (the node's ranking)."""
    means = np.zeros((classes, catalog.shape[1]), np.float32)
    np.add.at(means, labels, _unit(catalog))
    return _unit(queries) @ _unit(means).T


def _raw_imagenet(size: int):
    from converters.vision.architectures import Embedder, load_imagenet_mobilenet_v2
    from converters.vision.evaluate import torch_embedder

    net = load_imagenet_mobilenet_v2()
    return torch_embedder(Embedder(net.features, 1280))


def _vectors(embed, pixels: dict) -> dict:
    from converters.vision.evaluate import embed_images

    return {k: embed_images(embed, v, None, desc=k) for k, v in pixels.items()}


def _figures(embed, vec: dict, pixels: dict, labels: dict, classes: int, coarse, extras: bool) -> dict:
    from converters.vision.studio import (augmented_views, category_first_scores, embed_views, multi_crop,
                                          recall_from_scores, shelf_catalog)

    truth = labels["val"]
    phone = sku_scores(vec["train"], labels["train"], vec["val"], classes)
    studio = sku_scores(vec["iconic"], labels["iconic"], vec["val"], classes)
    out = {"phone": recall_from_scores(phone, truth), "studio": recall_from_scores(studio, truth)}
    if not extras:
        return out
    iconic_aug = embed_views(embed, augmented_views(pixels["iconic"], VIEWS))
    iconic_shelf = embed_views(embed, shelf_catalog(pixels["iconic"], pixels["train"], VIEWS, 0,
                                                    (labels["iconic"], labels["train"])))
    query_mc = embed_views(embed, multi_crop(pixels["val"]))
    studio_aug = sku_scores(iconic_aug, labels["iconic"], vec["val"], classes)
    studio_aug_mc = sku_scores(iconic_aug, labels["iconic"], query_mc, classes)
    out.update({
        "studio_augmented_catalog": recall_from_scores(studio_aug, truth),
        "studio_shelf_catalog": recall_from_scores(sku_scores(iconic_shelf, labels["iconic"], vec["val"], classes), truth),
        "studio_multicrop_query": recall_from_scores(sku_scores(vec["iconic"], labels["iconic"], query_mc, classes), truth),
        "phone_multicrop_query": recall_from_scores(sku_scores(vec["train"], labels["train"], query_mc, classes), truth),
        "studio_augmented_multicrop": recall_from_scores(studio_aug_mc, truth),
        "studio_category_first": recall_from_scores(category_first_scores(studio, coarse), truth),
        "studio_augmented_category_first": recall_from_scores(category_first_scores(studio_aug, coarse), truth),
        "phone_category_first": recall_from_scores(category_first_scores(phone, coarse), truth),
    })
    return out


def fusion(tuned: dict, raw: dict, labels: dict, classes: int) -> dict:
    """The shipped embedding fused with the raw ImageNet feature (a weighted sum of the two SKU cosines).

    The weight is chosen on a validation split of the train photos (every 4th photo of each SKU as a
    query, against the other train photos and against the studio shots), never on the val queries;
    the shipped model was fine-tuned on those train photos, which favours its own cosine.
    """
    from converters.vision.studio import choose_weight, fuse, recall_from_scores, validation_split

    cat, qry = validation_split(labels["train"])
    pairs = []
    for catalog, catalog_labels in ((lambda v: v["train"][cat], labels["train"][cat]), (lambda v: v["iconic"], labels["iconic"])):
        pairs.append(tuple(sku_scores(catalog(v), catalog_labels, v["train"][qry], classes) for v in (tuned, raw))
                     + (labels["train"][qry],))
    weight, table = choose_weight(pairs)
    truth = labels["val"]
    out = {"weight": weight, "validation_recall@1_by_weight": table}
    for name, catalog in (("phone", "train"), ("studio", "iconic")):
        a, b = (sku_scores(v[catalog], labels[catalog], v["val"], classes) for v in (tuned, raw))
        out[name] = recall_from_scores(fuse(a, b, weight), truth)
    return out


def measure() -> dict:
    """Every figure for the shipped model (with the improvements) and the raw ImageNet model."""
    from converters.vision.data import load_serving, read_split
    from converters.vision.evaluate import input_size, onnx_embedder
    from converters.vision.studio import iconic_images

    train, val = read_split(DATASET, "train"), read_split(DATASET, "val")
    iconic, coarse, _ = iconic_images(DATASET)
    size = input_size(SHIPPED)
    pixels = {"train": load_serving(train, size, CACHE), "val": load_serving(val, size, CACHE),
              "iconic": load_serving(iconic, size, None)}  # the iconic crops are never cached on disk
    labels = {"train": train.labels, "val": val.labels, "iconic": iconic.labels}
    classes = int(max(train.labels.max(), iconic.labels.max())) + 1
    results = {"input_px": size, "views": VIEWS, "queries": len(val), "skus": len(iconic)}
    shipped, raw = onnx_embedder(SHIPPED, 1), _raw_imagenet(size)
    vec = {"shipped_int8": _vectors(shipped, pixels), "raw_imagenet": _vectors(raw, pixels)}
    results["shipped_int8"] = _figures(shipped, vec["shipped_int8"], pixels, labels, classes, coarse, extras=True)
    print("shipped", results["shipped_int8"], file=sys.stderr, flush=True)
    results["raw_imagenet"] = _figures(raw, vec["raw_imagenet"], pixels, labels, classes, coarse, extras=False)
    print("raw", results["raw_imagenet"], file=sys.stderr, flush=True)
    results["fused_with_raw"] = fusion(vec["shipped_int8"], vec["raw_imagenet"], labels, classes)
    print("fused", results["fused_with_raw"], file=sys.stderr, flush=True)
    results["load_average"] = [round(x, 2) for x in os.getloadavg()]
    return results


def table(results: dict) -> str:
    """Markdown table: one row per model and setting."""
    lines = ["| model | setting | recall@1 | recall@5 |", "|---|---|---|---|"]
    for model in ("shipped_int8", "raw_imagenet", "fused_with_raw"):
        for setting, r in results[model].items():
            if not isinstance(r, dict) or "recall@1" not in r:
                continue
            lines.append(f"| {model} | {setting} | {r['recall@1']:.3f} | {r['recall@5']:.3f} |")
    return "\n".join(lines)


def main() -> dict:
    """Measure and return the figures with their table (skipped without ``../shared`` or the bundle)."""
    if not (DATASET / ICONIC_DIR).is_dir():
        print(f"skipped: {DATASET / ICONIC_DIR} is absent (the grocery photos live in ../shared)")
        return {"skipped": "../shared/datasets/grocery-store absent"}
    if not SHIPPED.is_file():
        print(f"skipped: no shipped embedder at {SHIPPED}")
        return {"skipped": "no shipped vision bundle"}
    results = measure()
    return {**results, "table": table(results)}


ICONIC_DIR = "iconic-images-and-descriptions"

if __name__ == "__main__":
    print(main()["table"])
