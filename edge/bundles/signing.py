"""Ed25519 keys and manifest signatures (``cryptography``).

A key pair is ``<name>.key`` (PKCS#8 PEM, mode 0600) and ``<name>.pub`` (SubjectPublicKeyInfo PEM).
``manifest.sig`` is JSON: ``{"algorithm": "ed25519", "key_id": ..., "signature": <base64>}`` over the
exact bytes of ``manifest.json``. A node trusts the public keys in ``<data dir>/keys/trusted/``.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
from pathlib import Path

from .errors import BundleError
from .manifest import MANIFEST, MAX_MANIFEST_BYTES, MAX_SIGNATURE_BYTES, SIGNATURE, read_json_file

_B64 = re.compile(r"^[A-Za-z0-9+/]{1,200}={0,2}$")


def key_id(public_key) -> str:
    """A short, stable id for a public key: the first 16 hex digits of sha256 of its raw bytes."""
    from cryptography.hazmat.primitives import serialization

    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def generate_keypair(directory: Path, name: str = "signing") -> tuple[Path, Path]:
    """Write a new key pair into ``directory``; refuse to overwrite an existing private key."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    directory.mkdir(parents=True, exist_ok=True)
    private_path, public_path = directory / f"{name}.key", directory / f"{name}.pub"
    if private_path.exists():
        raise BundleError(f"{private_path} exists already; refusing to overwrite a key", "key_exists", 409)
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    fd = os.open(private_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(pem)
    public_path.write_bytes(
        key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    return private_path, public_path


def load_private_key(path: Path):
    """Load an Ed25519 private key from a PEM file."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    try:
        key = serialization.load_pem_private_key(Path(path).read_bytes(), password=None)
    except (OSError, ValueError, TypeError) as exc:
        raise BundleError(f"cannot read private key {path}: {exc}", "bad_key", 400) from None
    if not isinstance(key, Ed25519PrivateKey):
        raise BundleError(f"{path} is not an Ed25519 private key", "bad_key", 400)
    return key


def load_public_key(path: Path):
    """Load an Ed25519 public key from a PEM file."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    try:
        key = serialization.load_pem_public_key(Path(path).read_bytes())
    except (OSError, ValueError, TypeError) as exc:
        raise BundleError(f"cannot read public key {path}: {exc}", "bad_key", 400) from None
    if not isinstance(key, Ed25519PublicKey):
        raise BundleError(f"{path} is not an Ed25519 public key", "bad_key", 400)
    return key


def trusted_keys(directory: Path) -> dict:
    """Every public key in ``directory`` (``*.pub``), by key id."""
    keys = {}
    for path in sorted(Path(directory).glob("*.pub")):
        key = load_public_key(path)
        keys[key_id(key)] = key
    return keys


def sign_bytes(data: bytes, private_key) -> dict:
    """The signature record of ``data``."""
    return {
        "algorithm": "ed25519",
        "key_id": key_id(private_key.public_key()),
        "signature": base64.b64encode(private_key.sign(data)).decode(),
    }


def _checked_record(record) -> tuple[str, str]:
    """``(key_id, signature)`` of a well-formed ed25519 record; ``bad_signature`` for any other shape."""
    if not isinstance(record, dict) or record.get("algorithm") != "ed25519":
        raise BundleError("signature record is malformed or not ed25519", "bad_signature")
    key, signature = record.get("key_id"), record.get("signature")
    if not isinstance(key, str) or not re.fullmatch(r"[0-9a-f]{1,64}", key):
        raise BundleError("signature record's key_id must be a hex string", "bad_signature")
    if not isinstance(signature, str) or not _B64.fullmatch(signature):
        raise BundleError("signature record's signature must be a base64 string", "bad_signature")
    return key, signature


def verify_bytes(data: bytes, record: dict, keys: dict) -> str:
    """Check a signature record over ``data`` against trusted ``keys``; return the key id."""
    from cryptography.exceptions import InvalidSignature

    key_name, signature = _checked_record(record)
    key = keys.get(key_name)
    if key is None:
        raise BundleError(f"bundle is signed by key '{key_name}', which this node does not trust", "untrusted_key")
    try:
        key.verify(base64.b64decode(signature, validate=True), data)
    except (InvalidSignature, ValueError):
        raise BundleError("the manifest signature does not match: the bundle was altered or signed by another key", "bad_signature") from None
    return key_name


def sign_bundle(directory: Path, private_key_path: Path) -> Path:
    """Sign ``manifest.json`` in a bundle folder; write ``manifest.sig`` and return its path."""
    manifest = Path(directory) / MANIFEST
    if not manifest.is_file():
        raise BundleError(f"no {MANIFEST} in {directory}: run 'bundle build' first", "missing_manifest")
    record = sign_bytes(manifest.read_bytes(), load_private_key(private_key_path))
    target = Path(directory) / SIGNATURE
    target.write_text(json.dumps(record, indent=2) + "\n")
    return target


def verify_signature(directory: Path, keys: dict) -> str:
    """Verify ``manifest.sig`` of a bundle folder against ``keys``; return the signing key id."""
    signature = Path(directory) / SIGNATURE
    if not signature.is_file():
        raise BundleError("the bundle is not signed: no manifest.sig", "unsigned")
    record = read_json_file(signature, MAX_SIGNATURE_BYTES, "bad_signature")
    manifest = Path(directory) / MANIFEST
    if manifest.stat().st_size > MAX_MANIFEST_BYTES:
        raise BundleError(f"{MANIFEST} is larger than the limit of {MAX_MANIFEST_BYTES} bytes", "invalid_manifest")
    return verify_bytes(manifest.read_bytes(), record, keys)
