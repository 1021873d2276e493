"""Vision quality table: recall@1/@5 by SKU, size and latency of every exported model and format.

Reads the exports the converter left in its work folder (``.work/vision/long/models/<model>/`` when a
``--long`` run left them, else ``.work/vision/default/``;
override with ``VISION_WORK_DIR``) and the shipped bundle ``models_lite/storefront-vision/``;
evaluates them on the grocery photos (catalog = train, queries = val), each photo prepared by the
node's own decode and resize, SKUs ranked by the mean of their photos (nearest-photo recall beside). Writes
``benchmarks/results/vision_quality.json`` and prints a markdown table. Skips cleanly when
``../shared`` or the exports are absent.

Run: ``python -m benchmarks vision_quality`` or ``python benchmarks/bench_vision_quality.py``.
"""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from benchmarks.common import DATASETS

ROOT = Path(__file__).resolve().parents[1]
DATASET = DATASETS / "grocery-store"
OUTPUT = ROOT / "benchmarks" / "results" / "vision_quality.json"
SUFFIXES = {".int8.onnx": "onnx_int8", ".int8w.tflite": "tflite_int8w", ".onnx": "onnx_fp32", ".tflite": "tflite_fp32"}


def _format(path: Path) -> str | None:
    for suffix, fmt in SUFFIXES.items():  # longest suffixes first
        if path.name.endswith(suffix):
            return fmt
    return None


def exported_models(work_dir: Path) -> dict[str, dict[str, Path]]:
    """``{model: {format: path}}`` from the converter's work folder and the shipped bundle."""
    found: dict[str, dict[str, Path]] = {}
    for folder in sorted((work_dir / "models").glob("*")):
        files = {_format(p): p for p in sorted(folder.iterdir()) if _format(p)}
        if files:
            found[folder.name] = files
    shipped = ROOT / "models_lite" / "storefront-vision"
    files = {_format(p): p for p in sorted(shipped.glob("vision_embedder*")) if _format(p)}
    if files:
        found["shipped_bundle"] = {("tflite_int8w" if k == "tflite_fp32" else k): v for k, v in files.items()}
    return found


def measure(models: dict[str, dict[str, Path]]) -> dict:
    """recall@1/@5, size in MB and latency (1 and 2 threads) of every model/format, at its own input size."""
    from converters.vision.data import load_serving, read_split
    from converters.vision.evaluate import file_size_mb, input_size, latency_ms, retrieval_metrics
    from converters.vision.pipeline import runner

    train, val = read_split(DATASET, "train"), read_split(DATASET, "val")
    cache = ROOT / ".work" / "vision" / "cache"
    out: dict = {}
    for name, files in models.items():
        for fmt, path in files.items():
            size = input_size(path)
            tr, va = load_serving(train, size, cache), load_serving(val, size, cache)  # photos as the node prepares them
            row = retrieval_metrics(runner(fmt, path), tr, train.labels, va, val.labels, None, f"{name} {fmt}")
            row.update(input_px=size, size_mb=file_size_mb(path), **latency_ms(lambda t, f=fmt, p=path: runner(f, p, t), size))
            out.setdefault(name, {})[fmt] = row
            print(f"{name} {fmt}: {row}", file=sys.stderr, flush=True)
    return out


def table(results: dict) -> str:
    """Markdown table of the measured rows."""
    lines = ["| model | format | input px | recall@1 | recall@5 | nearest-photo recall@1 | size MB | ms (1 thread) | ms (2 threads) |",
             "|---|---|---|---|---|---|---|---|---|"]
    for name, formats in results.items():
        for fmt, r in formats.items():
            lines.append(f"| {name} | {fmt} | {r['input_px']} | {r['recall@1']:.3f} | {r['recall@5']:.3f} | {r['photo_recall@1']:.3f} | {r['size_mb']:.2f} "
                         f"| {r['latency_ms_1t']:.2f} | {r['latency_ms_2t']:.2f} |")
    return "\n".join(lines)


def main() -> dict:
    """Measure, write ``vision_quality.json``, print the table; return headline figures."""
    if not DATASET.is_dir():
        print(f"skipped: {DATASET} is absent (the grocery photos live in ../shared)")
        return {"skipped": "../shared/datasets/grocery-store absent"}
    long_run = ROOT / ".work" / "vision" / "long"
    work_dir = Path(os.environ.get("VISION_WORK_DIR", long_run if long_run.is_dir() else ROOT / ".work" / "vision" / "default"))
    models = exported_models(work_dir)
    if not models:
        print(f"skipped: no exports in {work_dir}/models (run `storefront-edge convert vision recipe` first)")
        return {"skipped": "no vision exports"}
    results = measure(models)
    OUTPUT.parent.mkdir(parents=True, exist_ok=True)
    OUTPUT.write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")
    text = table(results)
    print(text)
    figures = {f"{m}_{f}_recall@1": r["recall@1"] for m, fs in results.items() for f, r in fs.items()
               if f in ("onnx_int8", "onnx_fp32")}
    return {**figures, "table": text}


if __name__ == "__main__":
    main()
