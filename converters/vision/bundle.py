"""Write a vision bundle source directory (model files + ``bundle.json``) and build/sign it.

The directory is what ``storefront-edge bundle build DIR`` reads: ``bundle.json``
names the bundle, its plugins and models (file, runtime, preprocess), and carries
the evaluation metrics and the exact recipe.
"""
from __future__ import annotations

import logging
from pathlib import Path

from .data import MEAN, STD

log = logging.getLogger(__name__)

BUNDLE_NAME = "storefront-vision"
BUNDLE_VERSION = "1.3.0"
ONNX_FILE = "vision_embedder.int8.onnx"
TFLITE_FILE = "vision_embedder.tflite"


def preprocess_spec(size: int = 224) -> dict:
    """How a client turns a photo into the model input (resize shorter side, centre crop, normalise)."""
    return {"size": size, "resize": round(size * 256 / 224), "mean": list(MEAN), "std": list(STD),
            "layout": "NCHW", "color": "RGB"}


def write_bundle_source(out_dir: str | Path, onnx_path: str | Path, tflite_path: str | Path | None,
                        metrics: dict, recipe: dict, size: int = 224, version: str = BUNDLE_VERSION) -> dict:
    """Write the vision bundle's source folder (model files + ``bundle.json``) through the edge's generic
    :func:`edge.bundles.builder.write_source`; return the spec."""
    from edge.bundles.builder import write_source

    pre = preprocess_spec(size)
    models = {"vision_embedder": {"source": onnx_path, "file": ONNX_FILE, "runtime": "onnx", "preprocess": pre}}
    if tflite_path:
        models["vision_embedder_tflite"] = {"source": tflite_path, "file": TFLITE_FILE, "runtime": "tflite", "preprocess": dict(pre)}
    (Path(out_dir) / TFLITE_FILE).unlink(missing_ok=True)  # a run without TFLite leaves none behind
    return write_source(out_dir, BUNDLE_NAME, version, models, plugins=["visual_search"], metrics=metrics, recipe=recipe)


def finalize_bundle(out_dir: str | Path, sign_key: str | Path | None = None) -> bool:
    """Build ``manifest.json`` (and sign it with ``sign_key``) when ``edge.bundles`` is importable.

    Returns False, with a log line, when the edge package is not available.
    """
    try:
        from edge.bundles.builder import build_manifest
        from edge.bundles.signing import sign_bundle
    except ImportError:
        log.warning("edge.bundles not importable: bundle source written, run 'storefront-edge bundle build'")
        return False
    build_manifest(Path(out_dir))
    if sign_key:
        sign_bundle(Path(out_dir), Path(sign_key))
    return True
