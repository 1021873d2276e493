"""The active bundle inside one server worker: loaded models, and a watcher that swaps them.

Each worker polls ``state.json`` (a ``stat`` every ``interval`` seconds). When the active version
changes, it loads the new bundle's models beside the old ones, then swaps one reference: requests
in flight keep the bundle they started with, and the old models are freed when they finish.
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
    def version(self) -> str:
        return self.manifest.version

    def model(self, name: str) -> Model:
        """The loaded model ``name``; ``ModelError`` if the bundle has none."""
        try:
            return self.models[name]
        except KeyError:
            raise ModelError(f"the active bundle {self.version} has no model '{name}'") from None


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
    """Keeps ``current`` equal to the registry's active bundle."""

    def __init__(self, registry: BundleRegistry, interval: float = 0.2, threads: int = 1, on_inference=None, on_swap=None,
                 idle_threads: int = 0):
        self.registry, self.interval, self.threads, self.idle_threads = registry, interval, threads, idle_threads
        self.on_inference, self.on_swap = on_inference, on_swap
        self.current: LoadedBundle | None = None
        self.error: str | None = None
        self._seen = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._refresh_lock = threading.Lock()

    def _stamp(self):
        try:
            stat = self.registry.state_path.stat()
            return (stat.st_mtime_ns, stat.st_size, stat.st_ino)
        except FileNotFoundError:
            return None

    def refresh(self) -> bool:
        """Load the active bundle if ``state.json`` changed; return whether the bundle was swapped."""
        with self._refresh_lock:
            stamp = self._stamp()
            if stamp == self._seen:
                return False
            self._seen = stamp
            version = self.registry.active_version()
            if version is None or (self.current and self.current.version == version):
                return False
            return self._load(version)

    def _load(self, version: str) -> bool:
        try:
            loaded = load_active(self.registry.directory(version), self.threads, self.on_inference, self.idle_threads)
        except (ModelError, OSError, ValueError) as exc:
            self.error = f"cannot load bundle {version}: {exc}"
            log.error(self.error)
            self._seen = None  # try again on the next poll
            return False
        self.current, self.error = loaded, None
        log.info("serving bundle %s %s", loaded.manifest.name, version)
        if self.on_swap:
            self.on_swap(loaded)
        return True

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
