"""The node: what one app (one server worker) holds — config, store, bundles, plugins, sync, metrics.

Plugins reach it through ``current_node()`` inside a request, or the ``node`` argument of their hooks,
and ask it for models (``node.model("vision_embedder")``, looked up by name across every active bundle),
their config, their state slot (``node.slot(name)``) and the store.

What every node needs belongs to the node, whatever plugins are loaded: the store and its migrations,
the sync capture triggers and state (checked in every worker under the start-up lock) and the elected
sync worker (started after the plugins, stopped at ``close``).
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import types
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
        self.sync_worker = None
        self._slots: dict[str, types.SimpleNamespace] = {}

    # -- life cycle -------------------------------------------------------------------------
    def start(self, watch: bool = True) -> None:
        """Load plugins, migrate the store, set up sync capture, load the active bundles, start every plugin, then sync."""
        from .sync.worker import prepare_store, start_worker

        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.plugins.load(self.config.get("PLUGIN_CONFIG") or {})
        with startup_lock(self.data_dir):  # gunicorn workers boot at once: one at a time changes the schema
            sets = [s for s in self.plugins.call_each("migrations").values() if s is not None and not isinstance(s, Exception)]
            applied = migrate(self.store.db(), sets)
            if applied:
                log.info("applied migrations: %s", ", ".join(applied))
            prepare_store(self)
            self.watcher.start() if watch else self.watcher.refresh()
            for name, result in self.plugins.call_each("startup", node=self).items():
                if isinstance(result, Exception):
                    self.plugins.plugins[name].errors.append(f"startup failed: {result}")
        self.sync_worker = start_worker(self)

    def close(self) -> None:
        """Stop the sync worker and the bundle watcher, shut every plugin down, release the state slots."""
        if self.sync_worker is not None:
            self.sync_worker.stop()
            self.sync_worker = None
        self.watcher.stop()
        self.plugins.call_each("shutdown", node=self)
        self._slots.clear()
        self.store.close()

    # -- what plugins ask for ---------------------------------------------------------------
    @property
    def bundles(self) -> dict:
        """The bundles this worker serves now, by bundle name (``LoadedBundle`` each; empty before one is active)."""
        return self.watcher.current.bundles

    def bundle_for(self, model: str):
        """The active bundle serving model ``model`` (``None`` when no active bundle has it)."""
        return self.watcher.current.bundle_for(model)

    def model(self, name: str):
        """Model ``name`` from whichever active bundle holds it; 503 if none does."""
        active = self.watcher.current
        if not active.bundles:
            raise ServiceUnavailable("no bundle is active on this node", code="no_bundle")
        bundle = active.bundle_for(name)
        if bundle is None:
            raise ServiceUnavailable(f"no active bundle has a model '{name}'", code="model_missing")
        return bundle.model(name)

    def slot(self, plugin: str) -> types.SimpleNamespace:
        """Plugin ``plugin``'s state on this node (an empty namespace at first; dropped when the node closes)."""
        return self._slots.setdefault(plugin, types.SimpleNamespace())

    def plugin_config(self, name: str):
        """The validated config object of plugin ``name``."""
        return self.plugins.plugins[name].config

    def db(self):
        """This thread's connection to the local store."""
        return self.store.db()

    # -- readiness --------------------------------------------------------------------------
    def plugin_status(self, name: str, store: str | None = None) -> dict:
        """``{"ready", "reasons", "version", "models": {model: {"bundle", "version"} or None}}`` for one plugin.

        ``models`` covers the models of its ``PluginInfo`` and those its health report names (chosen by config).
        ``store``: readiness for that store's requests only (``None``: for the whole node).
        """
        plugin = self.plugins.plugins[name]
        reasons, used = list(plugin.errors), list(plugin.info.models) if plugin.info else []
        served = self.watcher.current.served_models()
        reasons += [f"model '{m}' is not in any active bundle" for m in used if m not in served]
        if plugin.info is not None and not reasons:
            health, named = self._health(name, store)
            reasons += health
            used += [m for m in named if m not in used]
        models = {m: ({"bundle": served[m].name, "version": served[m].version} if m in served else None) for m in used}
        return {"ready": not reasons, "reasons": reasons, "version": plugin.info.version if plugin.info else None,
                "models": models}

    def _health(self, name: str, store: str | None = None) -> tuple[list[str], tuple]:
        """The reasons a plugin's health report gives for not being ready, and the models it names."""
        try:
            report = self.plugins.call(name, "health", node=self, store=store)
        except Exception as exc:
            return [f"health check failed: {exc}"], ()
        if not isinstance(report, HealthReport):
            return [], ()
        return ([] if report.ready else [report.detail or "plugin reports not ready"]), tuple(report.models)

    def readiness(self) -> dict:
        """The node's readiness: every active bundle, and per plugin its reasons and which bundle serves each model."""
        bundles = {name: {"version": b.version, "models": sorted(b.models)} for name, b in self.bundles.items()}
        plugins = {name: self.plugin_status(name) for name in sorted(self.plugins.plugins)}
        report = {"ready": bool(bundles) and all(p["ready"] for p in plugins.values()), "bundles": bundles, "plugins": plugins}
        if self.watcher.error:
            report["bundle_errors"] = dict(self.watcher.errors)
        return report


def init_app(app: Flask, watch: bool = True) -> Node:
    """Create the node for ``app`` and start it."""
    node = Node(app.config)
    app.extensions[EXTENSION] = node
    node.metrics.init_app(app)
    node.start(watch=watch)
    return node
