"""Verify a bundle folder: trusted signature, valid manifest, every file present with its sha256 and size."""

from __future__ import annotations

from pathlib import Path

from .builder import sha256_file
from .errors import BundleError
from .manifest import MANIFEST, SIGNATURE, Manifest, read_manifest
from .signing import verify_signature


def _check_files(directory: Path, manifest: Manifest) -> None:
    listed = manifest.file_map()
    present = {p.relative_to(directory).as_posix() for p in directory.rglob("*") if p.is_file() or p.is_symlink()}
    extra = sorted(present - set(listed) - {MANIFEST, SIGNATURE})
    if extra:
        raise BundleError(f"files not listed in the manifest: {', '.join(extra)}", "unlisted_file")
    for path, entry in listed.items():
        target = directory / path
        if target.is_symlink() or not target.is_file():
            raise BundleError(f"file '{path}' listed in the manifest is missing", "missing_file")
        if target.stat().st_size != entry.size or sha256_file(target) != entry.sha256:
            raise BundleError(f"file '{path}' does not match its sha256 in the manifest", "hash_mismatch")
    for name, model in manifest.models.items():
        for needed in [model.file] + ([model.golden.file] if model.golden else []):
            if needed not in listed:
                raise BundleError(f"model '{name}' names file '{needed}', which the manifest does not list", "missing_file")


def verify_bundle(directory: Path, keys: dict) -> tuple[Manifest, str]:
    """Check signature, manifest and files; return the manifest and the signing key id."""
    directory = Path(directory)
    if not (directory / MANIFEST).is_file():
        raise BundleError(f"no {MANIFEST}: not a bundle", "missing_manifest")
    key = verify_signature(directory, keys)
    manifest = read_manifest(directory)
    _check_files(directory, manifest)
    return manifest, key
