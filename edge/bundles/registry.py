"""The bundle lifecycle on one node: install, activate, roll back, list — one version line per bundle name.

Layout under ``<data dir>/bundles``: ``<name>/<version>/`` per installed bundle, ``state.json`` naming
each name's active version and the history of its earlier ones, and ``.lock`` serialising writers (CLI
and HTTP alike). Any number of names are active at once (``vision``, ``fraud`` ...); install, activate,
rollback, pruning and the downgrade check apply within one name and never touch the others.

Install = extract or copy into a staging folder → verify signature and every sha256 → check the version
(within its name), the plugin requirements and that its model names are not served by another active
name → load and warm up every model on its signature → rename into place → switch ``state.json``
atomically. Any failure removes the staging folder and leaves the state alone.

A data folder from the single-bundle layout (``bundles/<version>/`` and ``{"active", "history"}``) is
upgraded in place the first time a registry opens it (see :mod:`edge.bundles.layout`).
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

from . import archive, layout
from .errors import BundleError
from .manifest import Manifest, check_name, read_manifest, semver_key
from .signing import trusted_keys
from .verify import verify_bundle

STATE = layout.STATE
HISTORY = 20


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
    """Installed bundles of one node and which version of each name is active."""

    def __init__(self, data_dir: Path, *, max_bytes: int = 1 << 30, max_members: int = 10_000, keep: int = 3, threads: int = 1):
        self.root = Path(data_dir) / "bundles"
        self.trusted_dir = Path(data_dir) / "keys" / "trusted"
        self.max_bytes, self.max_members, self.keep, self.threads = max_bytes, max_members, keep, threads
        if layout.needs_upgrade(self.root):
            with self._locked():
                layout.upgrade(self.root, write_json_atomic)

    @property
    def state_path(self) -> Path:
        return self.root / STATE

    # -- reading ------------------------------------------------------------------------------
    def state(self) -> dict:
        """``{"format": 2, "bundles": {name: {"active": version or None, "history": [older, newest last]}}}``."""
        try:
            data = json.loads(self.state_path.read_text())
        except FileNotFoundError:
            data = {}
        return data if "bundles" in data else {"format": layout.FORMAT, "bundles": {}}

    def line(self, name: str) -> dict:
        """The version line of ``name``: ``{"active": version or None, "history": [...]}``."""
        return self.state()["bundles"].get(name) or {"active": None, "history": []}

    def active(self) -> dict[str, str]:
        """Every name with an active version: ``{name: version}``."""
        return {n: line["active"] for n, line in sorted(self.state()["bundles"].items()) if line.get("active")}

    def active_version(self, name: str | None = None) -> str | None:
        """The active version of ``name``; without a name, of the only active name (``None`` when none is)."""
        if name is not None:
            return self.line(name).get("active")
        return self.active()[self.only_name(self.active())] if self.active() else None

    def names(self) -> list[str]:
        """Every bundle name installed or with a version line."""
        found = {p.parent.parent.name for p in self.root.glob("*/*/manifest.json")} if self.root.exists() else set()
        return sorted(found | set(self.state()["bundles"]))

    @staticmethod
    def only_name(names, what: str = "active") -> str:
        """The one name in ``names``; a clear 422 ``name_required`` when there are none or several."""
        names = sorted(names)
        if len(names) == 1:
            return names[0]
        listed = ", ".join(names) or "none"
        raise BundleError(f"give the bundle name: {len(names)} bundle names are {what} ({listed})", "name_required", 422)

    def directory(self, name: str, version: str) -> Path:
        check_name(name)
        semver_key(version)
        return self.root / name / version

    def installed(self, name: str | None = None) -> list[Manifest]:
        """Manifests of every installed bundle (of ``name`` only when given), by name then oldest version first."""
        found = []
        pattern = f"{name}/*/manifest.json" if name else "*/*/manifest.json"
        for path in self.root.glob(pattern) if self.root.exists() else []:
            with contextlib.suppress(BundleError):
                manifest = read_manifest(path.parent)
                if manifest.name == path.parent.parent.name and manifest.version == path.parent.name:
                    found.append(manifest)
        return sorted(found, key=lambda m: (m.name, semver_key(m.version)))

    def listing(self) -> dict:
        """Each name's active version and history, and every installed bundle (``bundle list --json``, the admin route)."""
        lines, active = self.state()["bundles"], self.active()
        return {
            "active": active, "history": {name: line.get("history", []) for name, line in lines.items()},
            "bundles": [{"name": m.name, "version": m.version, "created": m.created, "active": active.get(m.name) == m.version,
                         "models": sorted(m.models)} for m in self.installed()],
        }

    def names_with(self, version: str) -> list[str]:
        """The names that have ``version`` installed (to resolve a one-name command)."""
        return sorted({m.name for m in self.installed() if m.version == version})

    @contextlib.contextmanager
    def _locked(self):
        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.root / ".lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            yield

    # -- checks -------------------------------------------------------------------------------
    def _stage(self, source: Path, staging: Path) -> None:
        source = Path(source)
        if source.is_dir():
            archive.copy_tree(source, staging, self.max_bytes)
        elif source.is_file():
            archive.extract(source, staging, self.max_bytes, self.max_members)
        else:
            raise BundleError(f"no bundle at {source}", "not_found", 404)

    def _check_version(self, manifest: Manifest, allow_downgrade: bool) -> None:
        active = self.active_version(manifest.name)
        if active and not allow_downgrade and semver_key(manifest.version) < semver_key(active):
            raise BundleError(
                f"{manifest.name} {manifest.version} is lower than its active {active}; use --allow-downgrade to force it",
                "downgrade_refused", 409,
            )

    @staticmethod
    def _check_plugins(manifest: Manifest, available: set | None) -> None:
        missing = sorted(set(manifest.plugins) - available) if available is not None else []
        if missing:
            raise BundleError(f"bundle needs plugins this node lacks: {', '.join(missing)}", "missing_plugin", 422)

    def _check_models(self, manifest: Manifest) -> None:
        """Refuse a bundle one of whose model names another active name already serves."""
        for other, version in self.active().items():
            if other == manifest.name:
                continue
            try:
                served = set(read_manifest(self.directory(other, version)).models)
            except BundleError:  # an unreadable bundle serves nothing
                continue
            clash = sorted(set(manifest.models) & served)
            if clash:
                raise BundleError(f"model {', '.join(repr(m) for m in clash)} of {manifest.name} is served already by "
                                  f"the active bundle {other} {version}; model names must be unique across bundles",
                                  "model_collision", 409)

    # -- writing ------------------------------------------------------------------------------
    def install(self, source: Path, *, allow_downgrade: bool = False, activate: bool = True,
                available_plugins: set | None = None) -> InstallResult:
        """Install the bundle folder or ``.tar.gz`` at ``source`` (see the module docstring)."""
        with self._locked():
            staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=self.root))
            try:
                self._stage(source, staging)
                manifest, _ = verify_bundle(staging, trusted_keys(self.trusted_dir))
                check_name(manifest.name)
                self._check_version(manifest, allow_downgrade)
                self._check_plugins(manifest, available_plugins)
                if activate:
                    self._check_models(manifest)
                already = self._already_installed(manifest, staging)
                if not already:
                    warm_up(staging, manifest, self.threads)
                    self.directory(manifest.name, manifest.version).parent.mkdir(exist_ok=True)
                    staging.rename(self.directory(manifest.name, manifest.version))
            finally:
                shutil.rmtree(staging, ignore_errors=True)
            if activate:
                self._switch(manifest.name, manifest.version)
            self._prune(manifest.name)
        return InstallResult(manifest.version, manifest.name, activate, already)

    def _already_installed(self, manifest: Manifest, staging: Path) -> bool:
        target = self.directory(manifest.name, manifest.version)
        if not target.exists():
            return False
        if (target / "manifest.json").read_bytes() != (staging / "manifest.json").read_bytes():
            raise BundleError(f"a different bundle {manifest.name} {manifest.version} is installed already", "version_conflict", 409)
        return True

    def activate(self, name: str | None, version: str, *, allow_downgrade: bool = True) -> Manifest:
        """Make an installed ``version`` of ``name`` active after verifying it again (``name=None``: the one name that has it)."""
        semver_key(version)
        with self._locked():
            if name is None:
                having = self.names_with(version)
                if not having:
                    raise BundleError(f"version {version} is not installed", "not_installed", 404)
                name = self.only_name(having, f"installed with version {version}")
            manifest = self._verified(name, version)
            self._check_version(manifest, allow_downgrade)
            self._check_models(manifest)
            self._switch(name, version)
            return manifest

    def rollback(self, name: str | None = None) -> str:
        """Re-activate the previously active version of ``name`` (``None``: the only active name); return it."""
        with self._locked():
            name = name or self.only_name(self.active())
            line = self.line(name)
            history = [v for v in line.get("history", []) if self.directory(name, v).is_dir()]
            if not history:
                raise BundleError(f"no earlier version of {name} to roll back to", "no_previous", 409)
            previous = history.pop()
            self._check_models(self._verified(name, previous))
            self._write_line(name, {"active": previous, "history": history})
            return previous

    def _verified(self, name: str, version: str) -> Manifest:
        directory = self.directory(name, version)
        if not directory.is_dir():
            raise BundleError(f"{name} {version} is not installed", "not_installed", 404)
        manifest, _ = verify_bundle(directory, trusted_keys(self.trusted_dir))
        return manifest

    def _write_line(self, name: str, line: dict) -> None:
        state = self.state()
        state["bundles"][name] = line
        write_json_atomic(self.state_path, {"format": layout.FORMAT, "bundles": dict(sorted(state["bundles"].items()))})

    def _switch(self, name: str, version: str) -> None:
        line = self.line(name)
        history = [v for v in line.get("history", []) if v != version]
        if line.get("active") and line["active"] != version:
            history.append(line["active"])
        self._write_line(name, {"active": version, "history": history[-HISTORY:]})

    def _prune(self, name: str) -> None:
        line = self.line(name)
        protected = {line.get("active"), *line.get("history", [])[-1:]}
        versions = [m.version for m in self.installed(name)]
        for version in versions[: max(0, len(versions) - self.keep)]:
            if version not in protected:
                shutil.rmtree(self.directory(name, version), ignore_errors=True)
