"""The bundle lifecycle on one node: install, activate, roll back, list.

Layout under ``<data dir>/bundles``: one folder per installed version, ``state.json`` naming the active
version and the history of earlier ones, and ``.lock`` serialising writers (CLI and HTTP alike).
Install = extract or copy into a staging folder → verify signature and every sha256 → check version
and plugin requirements → load and warm up every model on its signature → rename into place →
switch ``state.json`` atomically. Any failure removes the staging folder and leaves the state alone.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from . import archive
from .errors import BundleError
from .manifest import Manifest, read_manifest, semver_key
from .signing import trusted_keys
from .verify import verify_bundle

STATE = "state.json"


@dataclass
class InstallResult:
    version: str
    name: str
    activated: bool
    already_installed: bool


def write_json_atomic(path: Path, data: dict) -> None:
    """Write JSON to a temporary file, fsync it, then rename it over ``path``."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "w") as handle:
        json.dump(data, handle, indent=2)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def check_golden(model, directory: Path, golden) -> None:
    """Run ``model`` on the bundle's golden inputs; raise unless every output matches within ``atol``."""
    import numpy as np

    from ..runtime import ModelError

    with np.load(directory / golden.file) as arrays:
        feeds = {k.split(":", 1)[1]: arrays[k] for k in arrays.files if k.startswith("input:")}
        expected = {k.split(":", 1)[1]: arrays[k] for k in arrays.files if k.startswith("output:")}
    outputs = model.run(feeds)
    for name, want in expected.items():
        if name not in outputs or not np.allclose(outputs[name], want, atol=golden.atol):
            worst = float(np.max(np.abs(outputs[name] - want))) if name in outputs else None
            raise ModelError(f"output '{name}' differs from the golden output (max difference {worst}, allowed {golden.atol})")


def warm_up(directory: Path, manifest: Manifest, threads: int = 1) -> None:
    """Load every model of a verified bundle and run it on its golden inputs, or once on its signature."""
    from ..runtime import ModelError, load_model

    for name, entry in manifest.models.items():
        try:
            model = load_model(name, directory / entry.file, entry.runtime, threads)
            loaded = [t["name"] for t in model.signature()["inputs"]]
            if loaded != [t.name for t in entry.inputs]:
                raise ModelError(f"inputs {loaded} differ from the manifest's {[t.name for t in entry.inputs]}")
            model.warmup()
            if entry.golden is not None:
                check_golden(model, directory, entry.golden)
        except (ModelError, OSError, ValueError, KeyError) as exc:
            raise BundleError(f"model '{name}' failed its warm-up: {exc}", "warmup_failed") from None


class BundleRegistry:
    """Installed bundles of one node and which one is active."""

    def __init__(self, data_dir: Path, *, max_bytes: int = 1 << 30, max_members: int = 10_000, keep: int = 3, threads: int = 1):
        self.root = Path(data_dir) / "bundles"
        self.trusted_dir = Path(data_dir) / "keys" / "trusted"
        self.max_bytes, self.max_members, self.keep, self.threads = max_bytes, max_members, keep, threads

    @property
    def state_path(self) -> Path:
        return self.root / STATE

    def state(self) -> dict:
        """``{"active": version or None, "history": [earlier active versions, newest last]}``."""
        try:
            return json.loads(self.state_path.read_text())
        except FileNotFoundError:
            return {"active": None, "history": []}

    def active_version(self) -> str | None:
        return self.state().get("active")

    def directory(self, version: str) -> Path:
        semver_key(version)
        return self.root / version

    @contextlib.contextmanager
    def _locked(self):
        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.root / ".lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            yield

    def installed(self) -> list[Manifest]:
        """Manifests of every installed version, oldest version first."""
        found = []
        for path in self.root.glob("*/manifest.json") if self.root.exists() else []:
            with contextlib.suppress(BundleError):
                found.append(read_manifest(path.parent))
        return sorted(found, key=lambda m: semver_key(m.version))

    def _stage(self, source: Path, staging: Path) -> None:
        source = Path(source)
        if source.is_dir():
            archive.copy_tree(source, staging, self.max_bytes)
        elif source.is_file():
            archive.extract(source, staging, self.max_bytes, self.max_members)
        else:
            raise BundleError(f"no bundle at {source}", "not_found", 404)

    def _check_version(self, manifest: Manifest, allow_downgrade: bool) -> None:
        active = self.active_version()
        if active and not allow_downgrade and semver_key(manifest.version) < semver_key(active):
            raise BundleError(
                f"version {manifest.version} is lower than the active {active}; use --allow-downgrade to force it",
                "downgrade_refused", 409,
            )

    @staticmethod
    def _check_plugins(manifest: Manifest, available: set | None) -> None:
        missing = sorted(set(manifest.plugins) - available) if available is not None else []
        if missing:
            raise BundleError(f"bundle needs plugins this node lacks: {', '.join(missing)}", "missing_plugin", 422)

    def install(self, source: Path, *, allow_downgrade: bool = False, activate: bool = True,
                available_plugins: set | None = None) -> InstallResult:
        """Install the bundle folder or ``.tar.gz`` at ``source`` (see the module docstring)."""
        with self._locked():
            staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=self.root))
            try:
                self._stage(source, staging)
                manifest, _ = verify_bundle(staging, trusted_keys(self.trusted_dir))
                self._check_version(manifest, allow_downgrade)
                self._check_plugins(manifest, available_plugins)
                already = self._already_installed(manifest, staging)
                if not already:
                    warm_up(staging, manifest, self.threads)
                    staging.rename(self.directory(manifest.version))
            finally:
                shutil.rmtree(staging, ignore_errors=True)
            if activate:
                self._switch(manifest.version)
            self._prune()
        return InstallResult(manifest.version, manifest.name, activate, already)

    def _already_installed(self, manifest: Manifest, staging: Path) -> bool:
        target = self.directory(manifest.version)
        if not target.exists():
            return False
        if (target / "manifest.json").read_bytes() != (staging / "manifest.json").read_bytes():
            raise BundleError(f"a different bundle with version {manifest.version} is installed already", "version_conflict", 409)
        return True

    def activate(self, version: str, *, allow_downgrade: bool = True) -> Manifest:
        """Make an installed ``version`` active after verifying it again."""
        with self._locked():
            manifest = self._verified(version)
            self._check_version(manifest, allow_downgrade)
            self._switch(version)
            return manifest

    def rollback(self) -> str:
        """Re-activate the previously active version; return it."""
        with self._locked():
            state = self.state()
            history = [v for v in state.get("history", []) if self.directory(v).is_dir()]
            if not history:
                raise BundleError("no earlier bundle to roll back to", "no_previous", 409)
            previous = history.pop()
            self._verified(previous)
            write_json_atomic(self.state_path, {"active": previous, "history": history})
            return previous

    def _verified(self, version: str) -> Manifest:
        directory = self.directory(version)
        if not directory.is_dir():
            raise BundleError(f"version {version} is not installed", "not_installed", 404)
        manifest, _ = verify_bundle(directory, trusted_keys(self.trusted_dir))
        return manifest

    def _switch(self, version: str) -> None:
        state = self.state()
        history = [v for v in state.get("history", []) if v != version]
        if state.get("active") and state["active"] != version:
            history.append(state["active"])
        write_json_atomic(self.state_path, {"active": version, "history": history[-20:]})

    def _prune(self) -> None:
        state = self.state()
        protected = {state.get("active"), *state.get("history", [])[-1:]}
        versions = [m.version for m in self.installed()]
        for version in versions[: max(0, len(versions) - self.keep)]:
            if version not in protected:
                shutil.rmtree(self.directory(version), ignore_errors=True)
