"""Keeps one worker's image indexes current (one per store), in a background thread; requests never wait.

Every ``poll_ms`` the thread works out, for each store of the node in turn, which index it should serve —
named by model, active bundle version, store and that store's catalog fingerprint — and, when that differs
from the one it serves:

* if the index files exist (another worker built them), it memory-maps them and swaps one reference;
* else it tries a non-blocking ``flock`` on ``.build.lock`` in the cache folder: the worker that gets
  it builds (embedding only images missing from the embedding cache), writes the files atomically
  and swaps; the others keep serving what they have and pick the files up on a later poll.

Until the first index exists the plugin reports not ready (its routes answer 503 JSON). After that a
rebuild — catalog or bundle change — never interrupts service: the previous index keeps answering,
with the model of the bundle it was built with, until the new one is swapped in. Catalog changes are
noticed cheaply: ``PRAGMA data_version`` (free) gates the fingerprint query.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import threading
import time
import weakref
from pathlib import Path

import numpy as np

from . import catalog_source, embeddings, index_files
from .imaging import Preprocess

log = logging.getLogger(__name__)
SERVING_WAIT_S = 1.0  # how long a request waits for this worker's poll to finish loading an index


class Target:
    """The index a worker should serve now, or why it cannot."""

    def __init__(self, bundle=None, model_name: str = "", recipe=None, fingerprint: str = "", problem: str = "",
                 store: str = "default"):
        self.bundle, self.model_name, self.recipe, self.fingerprint, self.problem = bundle, model_name, recipe, fingerprint, problem
        self.store = store

    @property
    def name(self) -> str:
        return index_files.index_name(self.model_name, self.bundle.version, self.fingerprint, self.store)


class Indexers:
    """One worker's indexes, one per store of the node, kept current by one background thread."""

    def __init__(self, node, config):
        self.config = config
        self.stores = {store: Indexer(node, config, store) for store in node.config["STORES"]}
        self._wake, self._stop = threading.Event(), threading.Event()
        self._thread: threading.Thread | None = None

    def for_store(self, store: str) -> "Indexer":
        """The indexer of ``store``."""
        return self.stores[store]

    @property
    def first(self) -> "Indexer":
        return next(iter(self.stores.values()))

    @property
    def current(self):
        """The index of the node's first store (a one-store node's only index)."""
        return self.first.current

    @property
    def problem(self) -> str:
        return "; ".join(f"{s}: {i.problem}" if len(self.stores) > 1 else i.problem for s, i in self.stores.items() if i.problem)

    def start(self) -> None:
        """Start polling in a daemon thread (the first poll runs at once)."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._loop, name="visual-search-indexer", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        """Stop the thread (waits briefly for a poll in progress)."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def wake(self) -> None:
        """Poll now instead of at the next interval."""
        self._wake.set()

    def poll(self) -> bool:
        """Bring every store's index up to date if possible; return whether any was swapped."""
        swapped = False
        for indexer in self.stores.values():
            if self._stop.is_set():
                break
            try:
                swapped = indexer.poll() or swapped
            except Exception as exc:  # one store's failure leaves the others polled
                log.exception("visual search index poll failed for store %s", indexer.store)
                indexer.problem = f"index update failed: {exc}"
        return swapped

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.poll()
            self._wake.wait(self.config.poll_ms / 1000)
            self._wake.clear()

    def health(self, store: str | None = None) -> tuple[bool, str, dict]:
        """Ready once every store's index is served (``store``: once that store's is); ``data`` per store on a
        node of several. A store still building its first index does not hold up the others' searches."""
        if store in self.stores:
            return self.stores[store].health()
        reports = {name: indexer.health() for name, indexer in self.stores.items()}
        if len(reports) == 1:
            return next(iter(reports.values()))
        waiting = [f"{store}: {detail}" for store, (ready, detail, _) in reports.items() if not ready]
        return not waiting, "; ".join(waiting), {"stores": {store: data for store, (_, _, data) in reports.items()}}


class Indexer:
    """One store's index in one worker: the target and the loaded index."""

    def __init__(self, node, config, store: str = "default"):
        self.node, self.config, self.store = node, config, store
        self.folder = Path(node.data_dir) / "cache" / "visual_search"
        self.media_dir = Path(node.data_dir) / "media" / "catalog"
        self.current: index_files.SearchIndex | None = None
        self.problem = "the catalog index has not been built yet"
        self.building = False
        self._failed = None
        self._fingerprint = None  # (weak reference to the connection's wrapper, data_version, fingerprint)
        self._waiting_for: Target | None = None  # the target of the last poll that found no index file
        self._poll_lock = threading.Lock()

    def serving(self) -> "index_files.SearchIndex | None":
        """The index to answer with; one another worker has just built is loaded now, not at the next poll.

        While this worker's own poll holds the lock to load an index file that exists, wait for it (at
        most ``SERVING_WAIT_S``); while the file is still being built (minutes), don't: readiness probes
        and the plugin gate come here too. The target is the one the last poll found missing (no catalog
        query on the request path, and ``PRAGMA data_version`` is only comparable on the poll thread's
        own connection); before any poll it is worked out once here.
        """
        if self.current is None and self._poll_lock.acquire(timeout=SERVING_WAIT_S if self._loadable() else 0):
            try:
                target = None if self.current is not None else self._waiting_for or self.target()
                if target is not None and not target.problem and (self.folder / f"{target.name}.ann").is_file():
                    self._swap(target)
            finally:
                self._poll_lock.release()
        return self.current

    def _loadable(self) -> bool:
        """Whether the index the last poll waited for exists now (or no poll has run yet)."""
        waiting = self._waiting_for
        return waiting is None or (self.folder / f"{waiting.name}.ann").is_file()

    # -- one round ------------------------------------------------------------------------------
    def target(self) -> Target:
        """Which index this worker should serve now."""
        name = self.config.model
        bundle = self.node.bundle_for(name)
        if bundle is None or name not in bundle.manifest.models:
            return Target(problem=f"model '{name}' is not in any active bundle")
        try:
            recipe = Preprocess.from_manifest(bundle.manifest.models[name].preprocess)
        except ValueError as exc:
            return Target(problem=f"model '{name}' of bundle {bundle.name} {bundle.version}: {exc}")
        return Target(bundle, name, recipe, self._catalog_fingerprint(), store=self.store)

    def _catalog_fingerprint(self) -> str:
        """The catalog's fingerprint, worked out again only when ``PRAGMA data_version`` says the store changed.

        ``data_version`` is only comparable on one connection (two fresh connections both start at 1, whatever
        was committed in between), so the cached value is kept with a weak reference to the connection's
        wrapper that read it, never its ``id`` (a closed connection's ``id`` may come back for a new one); the
        three are stored as one tuple, so a request thread and the poll thread never mix their halves."""
        db = self.node.db()
        version = db.conn.execute("pragma data_version").fetchone()[0]
        cached = self._fingerprint
        if cached is None or cached[0]() is not db or cached[1] != version:
            cached = self._fingerprint = (weakref.ref(db), version, catalog_source.fingerprint(db, self.store))
        return cached[2]

    def poll(self) -> bool:
        """Bring the served index up to date if possible; return whether it was swapped."""
        with self._poll_lock:
            target = self.target()
            if target.problem:
                self.problem = target.problem
                return False
            if self.current is not None and self.current.name == target.name:
                self.problem = ""
                return False
            if not (self.folder / f"{target.name}.ann").is_file():
                self._waiting_for = target
                if not self._build_elected(target):
                    return False
            return self._swap(target)

    def _swap(self, target: Target) -> bool:
        try:
            loaded = index_files.load_index(self.folder, target.name, target.bundle, target.model_name, target.recipe,
                                            self.config.exact_items)
        except (OSError, ValueError) as exc:
            self.problem = f"cannot load index {target.name}: {exc}"
            return False
        self.current, self.problem = loaded, ""
        log.info("visual search serves index %s (%d images)", target.name, len(loaded.skus))
        return True

    # -- building -------------------------------------------------------------------------------
    @contextlib.contextmanager
    def _builder_lock(self):
        self.folder.mkdir(parents=True, exist_ok=True)
        with open(self.folder / ".build.lock", "a+") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                yield False
                return
            try:
                yield True
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def _build_elected(self, target: Target) -> bool:
        """Build ``target`` if this worker wins the lock; return whether its files now exist."""
        with self._builder_lock() as elected:
            if not elected:
                if self.current is None:
                    self.problem = "another worker is building the catalog index"
                return False
            if (self.folder / f"{target.name}.ann").is_file():
                return True
            if target.name == self._failed:
                return False
            self.building = True
            try:
                self.build(target)
            except Exception as exc:  # not retried until the bundle or catalog changes
                self._failed, self.problem = target.name, f"building index {target.name} failed: {exc}"
                log.exception("building visual index %s failed", target.name)
                return False
            finally:
                self.building = False
            index_files.prune(self.folder, self.config.keep_indexes, {target.name}, self.store)
            return True

    def build(self, target: Target) -> Path:
        """Embed the catalog's images (reusing cached vectors) and write the index files of ``target``."""
        started = time.perf_counter()
        model = target.bundle.model(target.model_name)
        images = catalog_source.catalog_images(self.node.db(), self.media_dir, self.store)
        vectors, kept = self._vectors(model, target, images)
        dims = vectors.shape[1] if len(vectors) else embeddings.embed(model, np.zeros((1, *_input_shape(model, target.recipe)), np.float32)).shape[1]
        path = index_files.write_index(self.folder, target.name, vectors.reshape(len(kept), dims),
                                       [images[i][0] for i in kept], [images[i][1] for i in kept], self.config.trees)
        log.info("built visual index %s: %d images in %.1f s", target.name, len(kept), time.perf_counter() - started)
        return path

    def _vectors(self, model, target: Target, images) -> tuple[np.ndarray, list[int]]:
        digests = [embeddings.digest_file(path) for _, _, path in images]
        model_key = f"{target.bundle.version}:{target.model_name}"
        cache = embeddings.EmbeddingCache(self.folder / "embeddings.db")
        try:
            known = cache.get(model_key, sorted({d for d in digests if d}))
            missing = [i for i, d in enumerate(digests) if d and d not in known]
            fresh = embeddings.embed_files(model, target.recipe, [images[i][2] for i in missing],
                                           self.config.batch_size, self.config.max_pixels)
            new = {digests[missing[pos]]: vec for pos, vec in fresh.items()}
            cache.put(model_key, new)
        finally:
            cache.close()
        known.update(new)
        kept = [i for i, d in enumerate(digests) if d in known]
        return np.array([known[digests[i]] for i in kept], dtype=np.float32), kept

    # -- readiness ------------------------------------------------------------------------------
    def health(self) -> tuple[bool, str, dict]:
        """``(ready, detail, data)``: ready once an index is served and the active bundle has the model."""
        if self.node.bundle_for(self.config.model) is None:
            return False, f"model '{self.config.model}' is not in any active bundle", {}
        if self.serving() is None:  # picks up an index another worker has just built
            return False, self.problem or "the catalog index has not been built yet", {"building": self.building}
        data = {"index": self.current.name, "images": len(self.current.skus), "bundle": self.current.bundle.version,
                "building": self.building, "stale": bool(self.problem)}
        return True, "", data


def _input_shape(model, recipe: Preprocess) -> tuple[int, int, int]:
    return (3, recipe.size, recipe.size) if recipe.layout == "NCHW" else (recipe.size, recipe.size, 3)
