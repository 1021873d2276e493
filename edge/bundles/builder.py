"""Build a bundle's ``manifest.json`` from a folder of model files and its ``bundle.json`` spec.

``bundle.json`` names the bundle and its version and lists the models (file, runtime, preprocess);
the builder hashes every file and reads each model's input/output signature from the model itself.
"""

from __future__ import annotations

import datetime
import hashlib
import json
from pathlib import Path

from .errors import BundleError
from .manifest import MANIFEST, SIGNATURE, SPEC, check_name, parse_manifest

_GENERATED = {MANIFEST, SIGNATURE}


def sha256_file(path: Path) -> str:
    """The hex sha256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def list_files(directory: Path) -> list[dict]:
    """Every regular file of the bundle (manifest and signature excepted) with sha256 and size."""
    entries = []
    for path in sorted(Path(directory).rglob("*")):
        relative = path.relative_to(directory).as_posix()
        if path.is_symlink():
            raise BundleError(f"'{relative}' is a link; bundles hold regular files only", "unsafe_member")
        if path.is_file() and relative not in _GENERATED:
            entries.append({"path": relative, "sha256": sha256_file(path), "size": path.stat().st_size})
    return entries


def _read_spec(directory: Path) -> dict:
    spec_path = Path(directory) / SPEC
    if not spec_path.is_file():
        raise BundleError(f"no {SPEC} in {directory}: it names the bundle, its version and its models", "missing_spec", 400)
    try:
        return json.loads(spec_path.read_text())
    except ValueError as exc:
        raise BundleError(f"{SPEC} is not valid JSON: {exc}", "invalid_spec", 400) from None


def _model_entry(directory: Path, name: str, spec: dict) -> dict:
    from ..runtime import ModelError, load_model, runtime_for

    try:
        model = load_model(name, Path(directory) / spec["file"], spec.get("runtime"))
    except (KeyError, ModelError) as exc:
        raise BundleError(f"model '{name}': {exc}", "bad_model", 400) from None
    entry = {"file": spec["file"], "runtime": runtime_for(model.path, spec.get("runtime")),
             "preprocess": spec.get("preprocess", {}), **model.signature()}
    if spec.get("golden"):
        entry["golden"] = spec["golden"]
    return entry


def build_manifest(directory: Path) -> dict:
    """Write ``manifest.json`` into ``directory`` from its ``bundle.json``; return the manifest."""
    directory = Path(directory)
    spec = _read_spec(directory)
    check_name(spec.get("name"))
    manifest = {
        "format": 1,
        "name": spec.get("name"),
        "version": spec.get("version"),
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "files": list_files(directory),
        "models": {name: _model_entry(directory, name, m) for name, m in (spec.get("models") or {}).items()},
        "plugins": spec.get("plugins", []),
        "metrics": spec.get("metrics", {}),
        "recipe": spec.get("recipe", {}),
    }
    parse_manifest(json.dumps(manifest).encode())
    (directory / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    return manifest


def write_source(out_dir: Path, name: str, version: str, models: dict, *, plugins=(), metrics=None, recipe=None,
                 extra_files: dict | None = None) -> dict:
    """Write a bundle source folder from any converter's outputs: copy the model files, write ``bundle.json``.

    :param models: ``{model name: {"source": path of the exported file, "file": its name in the bundle,
        "runtime": "onnx" | "tflite" (optional), "preprocess": {...} (optional), "golden": {...} (optional)}}``
    :param extra_files: ``{name in the bundle: source path}`` copied as they are (golden inputs, vocabularies).
    The folder is emptied of earlier model, manifest and signature files first, so it holds exactly the bundle.
    Returns the spec; ``build_manifest`` (then ``signing.sign_bundle``) makes it a bundle.
    """
    import shutil

    check_name(name)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    files = {**{m["file"]: m["source"] for m in models.values()}, **(extra_files or {})}
    for stale in (MANIFEST, SIGNATURE, SPEC, *files):
        (out / stale).unlink(missing_ok=True)
    for target, source in files.items():
        shutil.copyfile(source, out / target)
    spec_models = {model: {k: v for k, v in entry.items() if k != "source"} for model, entry in models.items()}
    spec = {"name": name, "version": version, "plugins": list(plugins), "models": spec_models,
            "metrics": metrics or {}, "recipe": recipe or {}}
    (out / SPEC).write_text(json.dumps(spec, indent=2) + "\n")
    return spec
