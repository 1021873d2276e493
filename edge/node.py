"""The node: what one app (one server worker) holds — config, store, bundles, plugins, metrics.

Plugins reach it through ``current_node()`` inside a request, or the ``node`` argument of their hooks,
and ask it for models (``node.model("vision_embedder")``), their config and the store.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
from pathlib import Path

from flask import Flask, current_app

from .bundles.active import BundleWatcher
from .bundles.registry import BundleRegistry
from .errors import ServiceUnavailable
from .hookspecs import HealthReport
from .occupancy import idle_threads
from .metrics import Metrics
from .plugin_host import PluginHost
from .runtime import ModelError
from .store import STORE_FILE, Store, migrate

log = logging.getLogger(__name__)
EXTENSION = "storefront_edge"


@contextlib.contextmanager
def startup_lock(data_dir: Path):
    """Hold ``<data dir>/run/startup.lock`` exclusively: WAL set-up, migrations and plugin start-up
    (triggers, FTS tables) change the schema, and two processes doing so at once fail with
    'database is locked' or 'already exists'."""
    folder = Path(data_dir) / "run"
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / "startup.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def current_node() -> "Node":
    """The node of the current app."""
    return current_app.extensions[EXTENSION]


class Node:
    """Everything one worker serves from."""

    def __init__(self, config):
        self.config = config
        self.data_dir = Path(config["DATA_DIR"])
        self.metrics = Metrics()
        self.store = Store(self.data_dir / STORE_FILE)
        self.registry = BundleRegistry(
            self.data_dir, max_bytes=config["MAX_BUNDLE_BYTES"], max_members=config["MAX_BUNDLE_MEMBERS"],
            keep=config["KEEP_BUNDLES"], threads=config["MODEL_THREADS"],
        )
        self.watcher = BundleWatcher(
            self.registry, config["BUNDLE_POLL_INTERVAL"], config["MODEL_THREADS"],
            on_inference=self.metrics.observe_inference, on_swap=self.metrics.set_bundle,
            idle_threads=idle_threads(config["MODEL_THREADS_IDLE"], config["MODEL_THREADS"]),
        )
        self.plugins = PluginHost(config.get("PLUGINS"), config.get("EXTRA_PLUGINS", ()), config.get("TRACE_HOOKS", False))

    # -- life cycle -------------------------------------------------------------------------
    def start(self, watch: bool = True) -> None:
        """Load plugins, migrate the store, load the active bundle, start every plugin."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.plugins.load(self.config.get("PLUGIN_CONFIG") or {})
        with startup_lock(self.data_dir):  # gunicorn workers boot at once: one at a time changes the schema
            sets = [s for s in self.plugins.call_each("migrations").values() if s is not None and not isinstance(s, Exception)]
            applied = migrate(self.store.db(), sets)
            if applied:
                log.info("applied migrations: %s", ", ".join(applied))
            self.watcher.start() if watch else self.watcher.refresh()
            for name, result in self.plugins.call_each("startup", node=self).items():
                if isinstance(result, Exception):
                    self.plugins.plugins[name].errors.append(f"startup failed: {result}")

    def close(self) -> None:
        """Stop watching bundles and shut every plugin down."""
        self.watcher.stop()
        self.plugins.call_each("shutdown", node=self)
        self.store.close()

    # -- what plugins ask for ---------------------------------------------------------------
    @property
    def bundle(self):
        """The bundle this worker serves now (``None`` before one is active)."""
        return self.watcher.current

    def model(self, name: str):
        """A model of the active bundle; 503 if there is none of that name."""
        bundle = self.watcher.current
        if bundle is None:
            raise ServiceUnavailable("no bundle is active on this node", code="no_bundle")
        try:
            return bundle.model(name)
        except ModelError as exc:
            raise ServiceUnavailable(str(exc), code="model_missing") from None

    def plugin_config(self, name: str):
        """The validated config object of plugin ``name``."""
        return self.plugins.plugins[name].config

    def db(self):
        """This thread's connection to the local store."""
        return self.store.db()

    # -- readiness --------------------------------------------------------------------------
    def plugin_status(self, name: str) -> dict:
        """``{"ready": bool, "reasons": [...]}`` for one plugin."""
        plugin = self.plugins.plugins[name]
        reasons = list(plugin.errors)
        if plugin.info is not None:
            available = set(self.bundle.models) if self.bundle else set()
            reasons += [f"model '{m}' is not in the active bundle" for m in plugin.info.models if m not in available]
            if not reasons:
                reasons += self._health_reasons(name)
        return {"ready": not reasons, "reasons": reasons, "version": plugin.info.version if plugin.info else None}

    def _health_reasons(self, name: str) -> list[str]:
        try:
            report = self.plugins.call(name, "health", node=self)
        except Exception as exc:
            return [f"health check failed: {exc}"]
        if isinstance(report, HealthReport) and not report.ready:
            return [report.detail or "plugin reports not ready"]
        return []

    def readiness(self) -> dict:
        """The node's readiness with per-plugin detail."""
        bundle = self.bundle
        plugins = {name: self.plugin_status(name) for name in sorted(self.plugins.plugins)}
        bundle_info = {"version": bundle.version, "name": bundle.manifest.name} if bundle else {"version": None}
        if self.watcher.error:
            bundle_info["error"] = self.watcher.error
        ready = bundle is not None and all(p["ready"] for p in plugins.values())
        return {"ready": ready, "bundle": bundle_info, "plugins": plugins}


def init_app(app: Flask, watch: bool = True) -> Node:
    """Create the node for ``app`` and start it."""
    node = Node(app.config)
    app.extensions[EXTENSION] = node
    node.metrics.init_app(app)
    node.start(watch=watch)
    return node
