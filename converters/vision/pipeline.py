"""End-to-end vision conversion: fine-tune, distil, export, quantize, evaluate, write the bundle.

Stages checkpoint into ``work_dir`` (``teacher.ckpt``, ``student-<arch>.ckpt``);
with ``resume=True`` a rerun continues from the last finished epoch.
"""
from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .data import ImageList, load_cached, load_serving, read_split

log = logging.getLogger(__name__)


@dataclass
class Split:
    """One dataset split: the image list and its decoded squares."""

    images: ImageList
    pixels: np.ndarray     # decoded squares (training, augmentation)
    serving: np.ndarray    # the model inputs a node makes of each photo (evaluation, calibration)

    @property
    def labels(self) -> np.ndarray:
        return self.images.labels


@dataclass
class Context:
    """Everything a stage needs: recipe, folders and the two splits."""

    recipe: object
    work_dir: Path
    resume: bool
    train: Split
    val: Split
    dataset: str
    studio: tuple | None = None   # iconic studio shots (serving crops, labels) when the dataset has them


def load_splits(dataset: str | Path, recipe, work_dir: Path) -> tuple[Split, Split]:
    """Read and decode train (catalog) and val (queries); optionally cap photos per class."""
    train, val = read_split(dataset, "train"), read_split(dataset, "val")
    if recipe.max_per_class:
        keep = [i for c in np.unique(train.labels) for i in np.flatnonzero(train.labels == c)[:recipe.max_per_class]]
        train = ImageList([train.paths[i] for i in keep], train.labels[keep], train.names)
    cache = Path(work_dir).parent / "cache"
    return (Split(train, load_cached(train, recipe.cache_size, cache, "decode train"),
                  load_serving(train, recipe.eval_size, cache, "serving crops train")),
            Split(val, load_cached(val, recipe.cache_size, cache, "decode val"),
                  load_serving(val, recipe.eval_size, cache, "serving crops val")))


def catalog_features(embedder, pixels: np.ndarray, size: int, count: int = 0) -> np.ndarray:
    """Pooled features ``[N, C]`` of ``count`` evenly spaced catalog photos (0: all), serving geometry."""
    import torch

    from .data import to_tensor

    idx = np.linspace(0, len(pixels) - 1, min(count or len(pixels), len(pixels))).astype(int)
    embedder.eval()
    with torch.inference_mode():
        feats = [embedder.pooled(to_tensor(pixels[idx[i:i + 64]], size)) for i in range(0, len(idx), 64)]
    return torch.cat(feats).numpy()


def teacher_embedder(features, ctx: Context, head_dim: int = 0):
    """Wrap MobileNetV2 features as an Embedder.

    With ``head_dim`` the pooled feature is projected on the first ``head_dim`` right singular
    vectors of the catalog's features (not centred: the cosine classifier made the raw angles
    meaningful, and centring cost 1-2 points of recall@1). Measured on the grocery photos with the
    fine-tuned teacher at 160 px: recall@1 0.824 with 256 dimensions against 0.831 with all 1280
    (two queries of 296), and the ANN lookup of a 100,000-item index takes a third of the time.
    Without ``head_dim``: the pooled feature, centred on the catalog mean when the recipe says so.
    """
    import torch
    from torch import nn

    from .architectures import Embedder

    emb = Embedder(features, 1280)
    r = ctx.recipe
    if head_dim:
        feats = catalog_features(emb, ctx.train.pixels, r.eval_size)
        axes = np.linalg.svd(feats, full_matrices=False)[2][:min(head_dim, *feats.shape)]
        emb.head = nn.Linear(axes.shape[1], axes.shape[0], bias=False)
        with torch.no_grad():
            emb.head.weight.copy_(torch.from_numpy(axes.astype(np.float32)))
    elif r.center_embedding:
        emb.center.copy_(torch.from_numpy(catalog_features(emb, ctx.train.pixels, r.eval_size, 512).mean(0)))
    return emb.eval()


def stage_teacher(ctx: Context, weights: str | None = None):
    """Raw ImageNet teacher and the fine-tuned teacher (both Embedders)."""
    import copy

    from .architectures import Embedder, load_imagenet_mobilenet_v2
    from .finetune import finetune_teacher

    base = load_imagenet_mobilenet_v2(weights)
    raw = teacher_embedder(copy.deepcopy(base.features), ctx)
    start = time.perf_counter()
    if ctx.recipe.ft_method == "two_domain":
        features = two_domain_features(ctx, weights)
    else:
        tuned = Embedder(copy.deepcopy(base.features), 1280)
        finetune_teacher(tuned, ctx.train.pixels, ctx.train.labels, len(ctx.train.images.names), ctx.recipe,
                         ctx.work_dir, ctx.resume)
        features = tuned.features
    log.info("teacher fine-tuned in %.0f s", time.perf_counter() - start)
    return raw, teacher_embedder(features, ctx, ctx.recipe.teacher_head_dim)


def two_domain_features(ctx: Context, weights: str | None = None):
    """Teacher features fine-tuned on the phone photos and the dataset's studio shots (when it has them)
    on cached trunk maps (:mod:`.twodomain`; minutes, so no epoch checkpoints: the maps are cached)."""
    import torch

    from .studio import studio_catalog
    from .twodomain import build_maps, finetune_two_domain, from_recipe, split_teacher

    td = from_recipe(ctx.recipe)
    shots = studio_catalog(ctx.dataset, ctx.recipe.cache_size, serving=False) or (None, None)
    trunk, _ = split_teacher(td.trunk, weights)
    maps = build_maps(trunk, ctx.train.pixels, ctx.train.labels, *shots, td, ctx.work_dir / "maps", ctx.train.serving)
    features = finetune_two_domain(maps, td, ctx.recipe.td_blend, weights)
    torch.save(features.state_dict(), ctx.work_dir / "teacher_two_domain.pt")
    return features


def stage_students(ctx: Context, tuned) -> dict:
    """Distil every student named in the recipe from the fine-tuned teacher."""
    from .architectures import build_student
    from .distill import build_targets, distill_student, student_from_teacher

    if not ctx.recipe.students:
        return {}
    cache = ctx.work_dir / "teacher_targets"
    if not ctx.resume and cache.is_dir():
        for stale in cache.glob("*.npy"):
            stale.unlink()
    targets = build_targets(tuned, ctx.train.pixels, ctx.recipe, cache)
    students = {}
    for arch in ctx.recipe.students:
        start = time.perf_counter()
        if arch == "pruned_mobilenet_v2":
            model, scale, epochs = student_from_teacher(tuned.features, targets), 0.25, ctx.recipe.d_epochs_from_teacher
        else:
            model = build_student(arch, targets.projection.shape[0], hidden=ctx.recipe.d_head_hidden,
                                  weights=ctx.recipe.student_weights or None)
            scale, epochs = 1.0, ctx.recipe.d_epochs
        students[arch] = distill_student(model, targets, ctx.train.pixels, ctx.recipe, ctx.work_dir, arch,
                                         ctx.resume, lr_scale=scale, labels=ctx.train.labels, epochs=epochs)
        log.info("student %s distilled in %.0f s", arch, time.perf_counter() - start)
    return students


def export_all(model, name: str, ctx: Context) -> dict[str, Path]:
    """fp32 ONNX, static int8 ONNX, fp32 TFLite and int8-weight TFLite files of one model."""
    from .export_onnx import export_onnx
    from .export_tflite import export_tflite, quantize_tflite_weights, tflite_available
    from .quantize import calibration_batches, quantize_static_int8

    r, out = ctx.recipe, ctx.work_dir / "models" / name
    files = {"onnx_fp32": export_onnx(model, out / f"{name}.onnx", r.eval_size, r.opset)}
    calib = calibration_batches(ctx.train.serving, None, r.calib_images, r.seed)
    files["onnx_int8"] = quantize_static_int8(files["onnx_fp32"], out / f"{name}.int8.onnx", calib,
                                             r.int8_float_first_convs, r.int8_float_depthwise, r.calib_percentile)
    if r.tflite and tflite_available():
        files["tflite_fp32"] = export_tflite(model, out / f"{name}.tflite", r.eval_size)
        files["tflite_int8w"] = quantize_tflite_weights(files["tflite_fp32"], out / f"{name}.int8w.tflite")
    return files


def runner(fmt: str, path: Path, threads: int = 2):
    """An Embed function for one exported file."""
    from .evaluate import onnx_embedder, tflite_embedder

    return onnx_embedder(path, threads) if fmt.startswith("onnx") else tflite_embedder(path, threads)


def evaluate_model(model, name: str, ctx: Context) -> dict:
    """Export one model and measure every format: recall@1/@5, agreement with torch, size, latency."""
    from .evaluate import agreement, file_size_mb, latency_ms, retrieval_metrics, torch_embedder
    from .studio import studio_metrics

    r = ctx.recipe
    files = export_all(model, name, ctx)
    reference = torch_embedder(model)
    probe = ctx.val.serving[np.linspace(0, len(ctx.val.serving) - 1, r.agreement_images).astype(int)]
    result = {"params": int(sum(p.numel() for p in model.parameters())),
              "embedding_dim": int(reference(np.zeros((1, 3, r.eval_size, r.eval_size), np.float32)).shape[1]),
              "formats": {}, "files": {k: str(v) for k, v in files.items()}}
    for fmt, path in files.items():
        emb = runner(fmt, path)
        row = retrieval_metrics(emb, ctx.train.serving, ctx.train.labels, ctx.val.serving, ctx.val.labels,
                                None, f"{name} {fmt}")
        row.update(studio_metrics(emb, ctx.studio, ctx.val.serving, ctx.val.labels))
        row.update(agreement(reference, emb, probe, None), size_mb=file_size_mb(path))
        if r.latency:
            row.update(latency_ms(lambda t, f=fmt, p=path: runner(f, p, t), r.eval_size))
        log.info("%s %s: %s", name, fmt, row)
        result["formats"][fmt] = row
    return result


def choose_shipped(results: dict, budget_mb: float) -> str:
    """Best int8 ONNX recall@1 among models within the size budget (raw teacher excluded)."""
    fits = {n: r for n, r in results.items() if n != "teacher_raw"
            and r["formats"]["onnx_int8"]["size_mb"] <= budget_mb}
    if not fits:
        raise RuntimeError(f"no model fits the {budget_mb} MB budget as int8 ONNX")
    return max(fits, key=lambda n: (fits[n]["formats"]["onnx_int8"]["recall@1"], -fits[n]["params"]))


def run_pipeline(dataset: str | Path, out_dir: str | Path, recipe, work_dir: str | Path,
                 resume: bool = False, command: str = "", sign_key: str | None = None,
                 teacher_weights: str | None = None, version: str | None = None) -> dict:
    """Run every stage and write the bundle source to ``out_dir``; return the bundle spec."""
    from .bundle import BUNDLE_VERSION, finalize_bundle, write_bundle_source

    work_dir = Path(work_dir)
    work_dir.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    train, val = load_splits(dataset, recipe, work_dir)
    from .studio import studio_catalog

    ctx = Context(recipe, work_dir, resume, train, val, str(dataset), studio_catalog(dataset, recipe.eval_size))
    raw, tuned = stage_teacher(ctx, teacher_weights)
    models = {**({"teacher_raw": raw} if recipe.raw_baseline else {}), "teacher_finetuned": tuned,
              **stage_students(ctx, tuned)}
    results = {name: evaluate_model(model, name, ctx) for name, model in models.items()}
    shipped = choose_shipped(results, recipe.size_budget_mb)
    (work_dir / "results.json").write_text(json.dumps(results, indent=2))
    metrics = summarize(results, shipped, ctx, time.perf_counter() - start)
    files = results[shipped]["files"]
    spec = write_bundle_source(out_dir, files["onnx_int8"], files.get("tflite_int8w"), metrics,
                               {**recipe.to_dict(), "dataset": str(dataset), "command": command},
                               size=recipe.eval_size, version=version or BUNDLE_VERSION)
    finalize_bundle(out_dir, sign_key)
    return spec


def summarize(results: dict, shipped: str, ctx: Context, seconds: float) -> dict:
    """The ``metrics`` block of bundle.json."""
    ship = results[shipped]
    return {
        "task": "visual_search", "protocol": "SKUs ranked by the cosine to the mean vector of their catalog photos (photo_recall: by the "
                    "nearest photo); catalog = train photos, queries = val photos; studio_recall: catalog = one studio "
                    "shot per SKU (the dataset's iconic images, when it has them), same queries",
        "dataset": {"name": Path(ctx.dataset).name, "catalog_images": len(ctx.train.images),
                    "queries": len(ctx.val.images), "skus": len(ctx.train.images.names)},
        "shipped_model": shipped,
        "vision_embedder": ship["formats"]["onnx_int8"],
        "vision_embedder_tflite": ship["formats"].get("tflite_int8w", {}),
        "embedding_dim": ship["embedding_dim"],
        "models": {n: {"params": r["params"], "embedding_dim": r["embedding_dim"], "formats": r["formats"]}
                   for n, r in results.items()},
        "pipeline_seconds": round(seconds),
    }
