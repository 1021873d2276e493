"""Visual search as a retailer would try it: studio shots as the catalog, customer phone photos as queries.

On ``../shared/datasets/grocery-store``: *studio* = catalog of the iconic image of each fine class
(one packshot per SKU), queries = the val photos; *phone* = catalog of the train photos (the figure
the converter has always reported), same queries; recall@1/@5 by SKU, every photo prepared by the
node's own decode and resize. Models: the shipped int8 ONNX embedder and the raw ImageNet
MobileNetV2 (pooled features) at the same input size. For the shipped model, each improvement that
needs no retraining is measured on both figures, alone and combined: catalog-side augmentation
(``VIEWS`` augmented views per studio shot averaged with it), test-time multi-crop of the query, and a
category-first step (:mod:`converters.vision.studio`); the studio shots with their white border trimmed,
and embedded at larger inputs (:data:`STUDIO_SIZES`); the embedding fused with an earlier block's pooled
feature (:func:`block_fusion`); and a learned studio → phone map (:func:`domain_map`, for the shipped
and the raw ImageNet model), chosen and checked on SKUs it was not fitted on. Every weight or strength
is chosen on the train photos (every 4th photo of each SKU as a query), never on the val photos.
Skips with a message when ``../shared`` is absent.

Run: ``python -m benchmarks studio_catalog``.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np

from benchmarks.common import DATASETS

ROOT = Path(__file__).resolve().parents[1]
DATASET = DATASETS / "grocery-store"
SHIPPED = ROOT / "models_lite" / "storefront-vision" / "vision_embedder.int8.onnx"
CACHE = ROOT / ".work" / "vision" / "cache"
VIEWS = 16
STUDIO_SIZES = (176, 208)
TAP = "/features/features.16/Add_output_0"  # MobileNetV2's block 16 (160 channels), inside the shipped graph
FUSION_WEIGHTS = (0.0, 0.1, 0.2, 0.3, 0.5)


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
    from converters.vision.crossdomain import map_catalog
    from converters.vision.evaluate import embed_images
    from converters.vision.studio import (category_first_scores, embed_view_sets, embed_views, multi_crop,
                                          recall_from_scores, shelf_catalog)

    truth = labels["val"]
    phone = sku_scores(vec["train"], labels["train"], vec["val"], classes)
    studio = sku_scores(vec["iconic"], labels["iconic"], vec["val"], classes)
    out = {"phone": recall_from_scores(phone, truth), "studio": recall_from_scores(studio, truth)}
    if not extras:
        return out, None
    view_sets = embed_view_sets(embed, pixels["iconic_views"])
    iconic_aug = map_catalog(view_sets, None)
    iconic_shelf = embed_views(embed, shelf_catalog(pixels["iconic"], pixels["train"], VIEWS, 0,
                                                    (labels["iconic"], labels["train"])))
    query_mc = embed_views(embed, multi_crop(pixels["val"]))
    trimmed = embed_images(embed, pixels["iconic_trimmed"], None, desc="trimmed")
    studio_aug = sku_scores(iconic_aug, labels["iconic"], vec["val"], classes)
    studio_aug_mc = sku_scores(iconic_aug, labels["iconic"], query_mc, classes)
    out.update({
        "studio_augmented_catalog": recall_from_scores(studio_aug, truth),
        "studio_border_trimmed": recall_from_scores(sku_scores(trimmed, labels["iconic"], vec["val"], classes), truth),
        "studio_shelf_catalog": recall_from_scores(sku_scores(iconic_shelf, labels["iconic"], vec["val"], classes), truth),
        "studio_multicrop_query": recall_from_scores(sku_scores(vec["iconic"], labels["iconic"], query_mc, classes), truth),
        "phone_multicrop_query": recall_from_scores(sku_scores(vec["train"], labels["train"], query_mc, classes), truth),
        "studio_augmented_multicrop": recall_from_scores(studio_aug_mc, truth),
        "studio_category_first": recall_from_scores(category_first_scores(studio, coarse), truth),
        "studio_augmented_category_first": recall_from_scores(category_first_scores(studio_aug, coarse), truth),
        "phone_category_first": recall_from_scores(category_first_scores(phone, coarse), truth),
    })
    return out, view_sets


def domain_map(vec: dict, view_sets: np.ndarray, labels: dict, classes: int) -> dict:
    """The learned studio → phone map (:mod:`converters.vision.crossdomain`) on one model's vectors.

    Its strength is chosen twice on the train photos (every 4th photo of each SKU as a query, never the
    val photos): on SKUs the map was not fitted on (the honest choice, which may be no map) and, for
    comparison, with the map fitted on every SKU it is scored on (a per-SKU lookup in disguise). Then
    the val queries against the mapped studio catalog, and the unseen-SKU check: for each seed of
    :func:`~converters.vision.unseen.held_out_classes` the map is fitted on the other 80 % of the SKUs
    and the held-out SKUs' val photos are ranked against all 81 mapped studio shots, beside no map.
    """
    from converters.vision.crossdomain import choose_strength, fit_domain_map, map_catalog, sku_means
    from converters.vision.studio import recall_from_scores, validation_split

    tr, ytr, yic = vec["train"], labels["train"], labels["iconic"]
    cat, qry = validation_split(ytr)
    held_choice, held_table = choose_strength(view_sets, yic, tr[cat], ytr[cat], tr[qry], ytr[qry])
    seen_choice, seen_table = _seen_sku_choice(view_sets, yic, sku_means(tr[cat], ytr[cat], classes),
                                               tr[qry], ytr[qry], classes)
    out = {"strength_chosen_on_held_out_skus": held_choice, "validation_held_out_skus": held_table,
           "strength_chosen_on_seen_skus": seen_choice, "validation_seen_skus": seen_table}
    targets = sku_means(tr, ytr, classes)
    for name, strength in (("seen_choice", seen_choice), ("held_out_choice", held_choice)):
        mapping = None if strength is None else fit_domain_map(view_sets, yic, targets, strength)
        scores = sku_scores(map_catalog(view_sets, mapping), yic, vec["val"], classes)
        out[f"studio_map_{name}"] = recall_from_scores(scores, labels["val"])
    out["unseen_skus_recall@1"] = _unseen_map(vec, view_sets, labels, classes,
                                              {"map_seen_choice": seen_choice, "map_held_out_choice": held_choice})
    return out


def _seen_sku_choice(view_sets, yic, targets, queries, query_labels, classes):
    """The strength with the best recall@1 when the map is fitted on every SKU it is scored on."""
    from converters.vision.crossdomain import STRENGTHS, fit_domain_map, map_catalog
    from converters.vision.studio import recall_from_scores

    table = {}
    for strength in STRENGTHS:
        catalog = map_catalog(view_sets, fit_domain_map(view_sets, yic, targets, strength))
        table[str(strength)] = recall_from_scores(sku_scores(catalog, yic, queries, classes), query_labels)["recall@1"]
    best = max(STRENGTHS, key=lambda s: (table[str(s)], s))
    return best, table


def _unseen_map(vec, view_sets, labels, classes, strengths: dict, seeds=(1, 2, 3)) -> dict:
    """Mean recall@1 of held-out SKUs' val photos among all 81 studio shots, mapped by a map fitted
    without the held-out SKUs at each of ``strengths`` (``{name: strength or None}``), and with no map."""
    from converters.vision.crossdomain import fit_domain_map, map_catalog, sku_means
    from converters.vision.studio import recall_from_scores
    from converters.vision.unseen import held_out_classes

    yic, targets = labels["iconic"], sku_means(vec["train"], labels["train"], classes)
    chosen = {"no_map": None, **strengths}
    found = {name: [] for name in chosen}
    for seed in seeds:
        held = held_out_classes(labels["train"], 0.2, seed)
        fitted, rows = ~np.isin(yic, held), np.isin(labels["val"], held)
        for name, strength in chosen.items():
            mapping = None if strength is None else fit_domain_map(view_sets[fitted], yic[fitted], targets, strength)
            scores = sku_scores(map_catalog(view_sets, mapping), yic, vec["val"][rows], classes)
            found[name].append(recall_from_scores(scores, labels["val"][rows])["recall@1"])
    return {"strengths": strengths, **{k: round(float(np.mean(v)), 4) for k, v in found.items()}}


def studio_resolution(iconic, labels: dict, vec: dict, classes: int) -> dict:
    """The studio shots embedded at larger inputs (:data:`STUDIO_SIZES`) by the shipped model with its
    input size freed (:mod:`converters.vision.taps`); the queries stay at the serving size."""
    from converters.vision.data import load_serving
    from converters.vision.studio import recall_from_scores
    from converters.vision.taps import tapped_embed, tapped_session

    session = tapped_session(SHIPPED)
    out = {}
    for size in STUDIO_SIZES:
        shots = tapped_embed(session, load_serving(iconic, size, None, f"studio at {size}"))[0]
        out[f"studio_at_{size}px"] = recall_from_scores(sku_scores(shots, labels["iconic"], vec["val"], classes), labels["val"])
    return out


def block_fusion(pixels: dict, labels: dict, classes: int) -> dict:
    """The shipped embedding fused with the pooled output of an earlier block (:data:`TAP`): the two
    normalised vectors (the block's centred on the train photos' mean) concatenated with weights
    ``sqrt(1 - w)`` and ``sqrt(w)``; ``w`` chosen for the studio catalog on the train split (every 4th
    train photo as a query), never on the val photos; both catalogs at that weight."""
    from converters.vision.crossdomain import unit
    from converters.vision.studio import recall_from_scores, validation_split
    from converters.vision.taps import tapped_embed, tapped_session

    session = tapped_session(SHIPPED, (TAP,))
    parts = {k: tapped_embed(session, pixels[k]) for k in ("train", "val", "iconic")}
    centre = parts["train"][1].mean(axis=0)

    def fused(split, w):
        emb, block = parts[split]
        return np.concatenate([np.sqrt(1 - w) * unit(emb), np.sqrt(w) * unit(block - centre)], axis=1)
    cat, qry = validation_split(labels["train"])
    table = {w: recall_from_scores(sku_scores(fused("iconic", w), labels["iconic"], fused("train", w)[qry], classes),
                                   labels["train"][qry])["recall@1"] for w in FUSION_WEIGHTS}
    weight = max(FUSION_WEIGHTS, key=lambda w: (table[w], -w))
    out = {"tap": TAP, "weight": weight, "validation_recall@1_by_weight": {str(w): r for w, r in table.items()}}
    for name, catalog in (("phone", "train"), ("studio", "iconic")):
        scores = sku_scores(fused(catalog, weight), labels[catalog], fused("val", weight), classes)
        out[name] = recall_from_scores(scores, labels["val"])
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
    from converters.vision.studio import augmented_views, embed_view_sets, iconic_images, trimmed_serving_crops

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
    pixels["iconic_trimmed"] = trimmed_serving_crops(iconic, size)
    pixels["iconic_views"] = augmented_views(pixels["iconic"], VIEWS)  # seeded: both models embed the same views
    results["shipped_int8"], view_sets = _figures(shipped, vec["shipped_int8"], pixels, labels, classes, coarse, extras=True)
    print("shipped", results["shipped_int8"], file=sys.stderr, flush=True)
    results["domain_map_shipped"] = domain_map(vec["shipped_int8"], view_sets, labels, classes)
    print("map", results["domain_map_shipped"], file=sys.stderr, flush=True)
    results["raw_imagenet"], _ = _figures(raw, vec["raw_imagenet"], pixels, labels, classes, coarse, extras=False)
    raw_views = embed_view_sets(raw, pixels["iconic_views"])
    results["domain_map_raw_imagenet"] = domain_map(vec["raw_imagenet"], raw_views, labels, classes)
    print("raw", results["raw_imagenet"], file=sys.stderr, flush=True)
    results["shipped_int8"].update(studio_resolution(iconic, labels, vec["shipped_int8"], classes))
    results["fused_with_block"] = block_fusion(pixels, labels, classes)
    print("block fusion", results["fused_with_block"], file=sys.stderr, flush=True)
    results["fused_with_raw"] = fusion(vec["shipped_int8"], vec["raw_imagenet"], labels, classes)
    print("fused", results["fused_with_raw"], file=sys.stderr, flush=True)
    results["load_average"] = [round(x, 2) for x in os.getloadavg()]
    return results


def table(results: dict) -> str:
    """Markdown table: one row per model and setting."""
    lines = ["| model | setting | recall@1 | recall@5 |", "|---|---|---|---|"]
    for model in ("shipped_int8", "raw_imagenet", "fused_with_raw", "fused_with_block", "domain_map_shipped", "domain_map_raw_imagenet"):
        for setting, r in results[model].items():
            if not isinstance(r, dict) or "recall@1" not in r:
                continue
            lines.append(f"| {model} | {setting} | {r['recall@1']:.3f} | {r['recall@5']:.3f} |")
    return "\n".join(lines)


def missing_inputs() -> dict | None:
    """``{"skipped": why}`` (and the reason printed) when the studio shots or the shipped embedder are absent."""
    if not (DATASET / ICONIC_DIR).is_dir():
        print(f"skipped: {DATASET / ICONIC_DIR} is absent (the grocery photos live in ../shared)")
        return {"skipped": "../shared/datasets/grocery-store absent"}
    if not SHIPPED.is_file():
        print(f"skipped: no shipped embedder at {SHIPPED}")
        return {"skipped": "no shipped vision bundle"}
    return None


def main() -> dict:
    """Measure and return the figures with their table (skipped without ``../shared`` or the bundle)."""
    if (skipped := missing_inputs()) is not None:
        return skipped
    results = measure()
    return {**results, "table": table(results)}


ICONIC_DIR = "iconic-images-and-descriptions"

if __name__ == "__main__":
    print(main()["table"])
