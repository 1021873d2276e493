"""Write, build and (optionally) sign the ``storefront-fraud`` bundle from trained models."""

from __future__ import annotations

from pathlib import Path

BUNDLE_NAME = "storefront-fraud"
ROLE_MODEL = {"iforest": "fraud_iforest", "autoencoder": "fraud_autoencoder", "supervised": "fraud_gbm"}


def write_bundle(out_dir: Path, trained: dict, version: str, *, metrics=None, recipe=None, rules_file: Path | None = None,
                 sign_key: Path | None = None) -> dict:
    """Make ``out_dir`` a bundle of the trained models (``train.train``'s answer, written in another folder).

    Signs it with ``sign_key`` when given (else ``storefront-edge bundle sign`` finishes it).
    """
    from edge.bundles.builder import build_manifest, write_source
    from edge.bundles.signing import sign_bundle

    work = Path(trained["work_dir"])
    models = {ROLE_MODEL[role]: {"source": path, "file": Path(path).name, "runtime": "onnx"}
              for role, path in trained["files"].items()}
    if trained.get("ensemble"):  # the three models as one graph: what the node runs (converters.fraud.ensemble)
        models["fraud_ensemble"] = {"source": trained["ensemble"], "file": Path(trained["ensemble"]).name, "runtime": "onnx"}
    extra = {"fraud.json": str(work / "fraud.json")}
    if rules_file is not None:
        extra["rules.yaml"] = str(Path(rules_file))
    write_source(Path(out_dir), BUNDLE_NAME, version, models, plugins=["fraud"], metrics=metrics or {},
                 recipe=recipe or {}, extra_files=extra)
    manifest = build_manifest(Path(out_dir))
    if sign_key is not None:
        sign_bundle(Path(out_dir), Path(sign_key))
    return manifest
