"""The bundle manifest (``manifest.json``): schema, semantic versions and loading.

A manifest names the bundle and its semantic version, lists every file with its sha256 and size,
gives each model's runtime and input/output signature, the plugins the bundle needs, and the
evaluation metrics (and recipe) that produced it.
"""

from __future__ import annotations

import re
from pathlib import Path, PurePosixPath
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, Field, ValidationError, field_validator

from ..jsonlimits import JsonRefused, loads
from .errors import BundleError

MANIFEST, SIGNATURE, SPEC = "manifest.json", "manifest.sig", "bundle.json"
MAX_MANIFEST_BYTES, MAX_SIGNATURE_BYTES = 1024 * 1024, 16 * 1024
FORMAT = 1
NAME_PATTERN = r"^[a-z0-9][a-z0-9._-]{0,63}$"
RESERVED_NAMES = {"state.json"}  # files of the registry's folder, beside the name folders
_SEMVER = re.compile(
    r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-([0-9A-Za-z.-]+))?(?:\+[0-9A-Za-z.-]+)?$"
)


def semver_key(version: str) -> tuple:
    """Sort key for a semantic version: a release sorts after its pre-releases."""
    match = _SEMVER.match(version or "")
    if not match:
        raise BundleError(f"'{version}' is not a semantic version (MAJOR.MINOR.PATCH)", "bad_version")
    major, minor, patch, pre = match.groups()
    pre_key = tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in pre.split(".")) if pre else ()
    return (int(major), int(minor), int(patch), 0 if pre else 1, pre_key)


def check_name(name) -> str:
    """Return ``name`` if it is a safe bundle name (a folder name of the registry), else raise ``bad_name``."""
    if not name:
        raise BundleError("the bundle has no name: bundle.json and the manifest must name it (e.g. \"vision\")", "missing_name", 400)
    if not isinstance(name, str) or not re.match(NAME_PATTERN, name) or name in RESERVED_NAMES:
        raise BundleError(f"bundle name {name!r} is not allowed: lower-case letters, digits, '.', '_' and '-', "
                          "starting with a letter or digit, at most 64", "bad_name", 400)
    return name


MAX_VERSION_CHARS = 64


def check_version(version: str) -> str:
    """``version`` if it is a semantic version of at most ``MAX_VERSION_CHARS`` characters; 400/422 otherwise."""
    if len(version or "") > MAX_VERSION_CHARS:
        raise BundleError(f"a bundle version has at most {MAX_VERSION_CHARS} characters", "bad_version", 400)
    semver_key(version)
    return version


def safe_relative(path: str) -> str:
    """Return ``path`` if it is a plain relative POSIX path inside the bundle, else raise."""
    pure = PurePosixPath(path)
    if not path or pure.is_absolute() or ".." in pure.parts or "\\" in path or path.startswith("~"):
        raise BundleError(f"file path '{path}' escapes the bundle folder", "path_traversal")
    return str(pure)


class TensorSignature(BaseModel):
    name: str
    dtype: str
    shape: list[int | None]


BundlePath = Annotated[str, AfterValidator(safe_relative)]


class GoldenEntry(BaseModel):
    """Known inputs and the outputs the model must give for them (an ``.npz`` with ``input:<name>``/``output:<name>``)."""

    file: BundlePath
    atol: float = Field(1e-3, gt=0)


class ModelEntry(BaseModel):
    file: BundlePath
    runtime: Literal["onnx", "tflite"]
    inputs: list[TensorSignature]
    outputs: list[TensorSignature]
    preprocess: dict = Field(default_factory=dict)
    golden: GoldenEntry | None = None


class FileEntry(BaseModel):
    path: BundlePath
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    size: int = Field(ge=0)


class Manifest(BaseModel):
    format: Literal[1] = FORMAT
    name: Annotated[str, AfterValidator(check_name)]
    version: str
    created: str
    files: list[FileEntry]
    models: dict[str, ModelEntry] = Field(default_factory=dict)
    plugins: list[str] = Field(default_factory=list)
    metrics: dict = Field(default_factory=dict)
    recipe: dict = Field(default_factory=dict)

    @field_validator("version")
    @classmethod
    def _semver(cls, value: str) -> str:
        return check_version(value)

    def file_map(self) -> dict[str, FileEntry]:
        return {f.path: f for f in self.files}


def read_json_file(path: Path, max_bytes: int, code: str):
    """Parse a bundle's JSON file within the JSON limits (size, depth, numbers); ``BundleError`` otherwise."""
    path = Path(path)
    if path.stat().st_size > max_bytes:
        raise BundleError(f"{path.name} is larger than the limit of {max_bytes} bytes", code)
    try:
        return loads(path.read_bytes(), max_bytes=max_bytes)
    except JsonRefused as exc:
        raise BundleError(f"{path.name} is not acceptable JSON: {exc}", code) from None


def parse_manifest(raw: bytes) -> Manifest:
    """Parse and validate manifest bytes; a ``BundleError`` lists every problem."""
    try:
        data = loads(raw, max_bytes=MAX_MANIFEST_BYTES)
    except JsonRefused as exc:
        raise BundleError(f"manifest.json is not acceptable JSON: {exc}", "invalid_manifest") from None
    try:
        return Manifest.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise BundleError(f"invalid manifest: {problems}"[:2000], "invalid_manifest") from None


def read_manifest(directory: Path) -> Manifest:
    """Read ``manifest.json`` from a bundle folder."""
    path = Path(directory) / MANIFEST
    if not path.is_file():
        raise BundleError(f"no {MANIFEST} in {directory}", "missing_manifest")
    if path.stat().st_size > MAX_MANIFEST_BYTES:
        raise BundleError(f"{MANIFEST} is larger than the limit of {MAX_MANIFEST_BYTES} bytes", "invalid_manifest")
    return parse_manifest(path.read_bytes())
