"""The active bundles inside one server worker: loaded models by name, and a watcher that swaps them.

Each worker polls ``state.json`` (a ``stat`` every ``interval`` seconds). When the active version of a
name changes, it loads that bundle's models beside the old ones, then swaps one reference (a new
``ActiveSet``; the other names' loaded bundles are carried over untouched): requests in flight keep the
set they started with, and the old models are freed when they finish.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from pathlib import Path

from ..runtime import Model, ModelError, load_model
from .manifest import Manifest, read_manifest
from .registry import BundleRegistry

log = logging.getLogger(__name__)


@dataclass
class LoadedBundle:
    """A bundle with its models loaded, as served by one worker."""

    manifest: Manifest
    directory: Path
    models: dict[str, Model] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.manifest.name

    @property
    def version(self) -> str:
        return self.manifest.version

    def model(self, name: str) -> Model:
        """The loaded model ``name``; ``ModelError`` if the bundle has none."""
        try:
            return self.models[name]
        except KeyError:
            raise ModelError(f"the bundle {self.name} {self.version} has no model '{name}'") from None


@dataclass(frozen=True)
class ActiveSet:
    """Every active bundle of one worker, by name, and which bundle serves each model name."""

    bundles: dict[str, LoadedBundle] = field(default_factory=dict)

    def bundle_for(self, model: str) -> LoadedBundle | None:
        """The active bundle holding ``model`` (names sorted: the first wins if two ever collide)."""
        return next((self.bundles[n] for n in sorted(self.bundles) if model in self.bundles[n].models), None)

    def served_models(self) -> dict[str, LoadedBundle]:
        """``{model name: bundle}`` over every active bundle."""
        served: dict[str, LoadedBundle] = {}
        for name in sorted(self.bundles, reverse=True):
            served.update(dict.fromkeys(self.bundles[name].models, self.bundles[name]))
        return served


def load_active(directory: Path, threads: int = 1, on_inference=None, idle_threads: int = 0) -> LoadedBundle:
    """Load every model of an installed (already verified) bundle folder."""
    manifest = read_manifest(directory)
    models = {}
    for name, entry in manifest.models.items():
        model = load_model(name, directory / entry.file, entry.runtime, threads, idle_threads)
        model.on_inference = on_inference
        models[name] = model
    return LoadedBundle(manifest, directory, models)


class BundleWatcher:
    """Keeps ``current`` (an :class:`ActiveSet`) equal to the registry's active bundles."""

    def __init__(self, registry: BundleRegistry, interval: float = 0.2, threads: int = 1, on_inference=None, on_swap=None,
                 idle_threads: int = 0):
        self.registry, self.interval, self.threads, self.idle_threads = registry, interval, threads, idle_threads
        self.on_inference, self.on_swap = on_inference, on_swap
        self.current = ActiveSet()
        self.errors: dict[str, str] = {}
        self._seen = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._refresh_lock = threading.Lock()

    @property
    def error(self) -> str | None:
        """Every load failure of the last poll, in one line (``None`` when every active bundle loaded)."""
        return "; ".join(self.errors[n] for n in sorted(self.errors)) or None

    def _stamp(self):
        try:
            stat = self.registry.state_path.stat()
            return (stat.st_mtime_ns, stat.st_size, stat.st_ino)
        except FileNotFoundError:
            return None

    def refresh(self) -> bool:
        """Load what changed if ``state.json`` did; return whether the active set was swapped."""
        with self._refresh_lock:
            stamp = self._stamp()
            if stamp == self._seen:
                return False
            self._seen = stamp
            wanted = self.registry.active()
            for gone in set(self.errors) - set(wanted):
                self.errors.pop(gone)
            loaded = {n: b for n, b in self.current.bundles.items() if wanted.get(n) == b.version}
            changed = set(self.current.bundles) - set(loaded)
            for name in sorted(set(wanted) - set(loaded)):
                bundle = self._load(name, wanted[name])
                if bundle is not None:
                    loaded[name], changed = bundle, changed | {name}
                elif name in self.current.bundles:  # keep serving the old version until the new one loads
                    loaded[name] = self.current.bundles[name]
            if not changed:
                return False
            self.current = ActiveSet(dict(sorted(loaded.items())))
            if self.on_swap:
                self.on_swap(self.current)
            return True

    def _load(self, name: str, version: str) -> LoadedBundle | None:
        try:
            loaded = load_active(self.registry.directory(name, version), self.threads, self.on_inference, self.idle_threads)
        except (ModelError, OSError, ValueError) as exc:
            self.errors[name] = f"cannot load bundle {name} {version}: {exc}"
            log.error(self.errors[name])
            self._seen = None  # try again on the next poll
            return None
        self.errors.pop(name, None)
        log.info("serving bundle %s %s", name, version)
        return loaded

    def start(self) -> None:
        """Load now, then poll in a daemon thread."""
        self.refresh()
        if self._thread is None:
            self._thread = threading.Thread(target=self._loop, name="bundle-watcher", daemon=True)
            self._thread.start()

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.refresh()
            except Exception:  # keep watching whatever one poll hit
                log.exception("bundle watcher poll failed")

    def stop(self) -> None:
        """Stop polling."""
        self._stop.set()
