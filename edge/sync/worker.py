"""The edge's sync: one round (``sync_once``: push, pull, follow the rollout) and the background loop.

Election under gunicorn: every worker process runs ``prepare_store``; only when ``HUB_URL`` is set does it
try a non-blocking ``fcntl.flock`` on ``<data dir>/run/sync.lock``. The process holding the lock runs the
loop; the lock dies with the process, so another worker takes over after a restart.

The node's token comes from ``HUB_TOKEN`` (``STOREFRONT_EDGE_HUB_TOKEN``) or ``<data dir>/keys/hub.token``;
its name (before the first ``.``) is the node's origin. Push: ask the hub for its cursor of this node,
detect a restore from backup (the hub knows a change this store does not have → new epoch), send deltas
of at most ``SYNC_BATCH`` changes, prune what the hub acknowledged. Pull: apply hub deltas with the cursor
in the same transaction. Rollout: for every bundle name targeted at the node's group whose active version
differs, download the bundle, check its sha256, ``registry.install`` (one name failing leaves the others).

The node owns the sync life cycle (:meth:`edge.node.Node.start`): ``prepare_store`` under the start-up
lock in every worker, ``start_worker`` after the plugins, ``SyncWorker.stop`` at close.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import random
import threading
import time
from pathlib import Path

from .apply import Applier
from .capture import install_triggers, new_epoch, set_guard, set_origin, state
from .client import HubClient
from .delta import decode, encode
from .export import export_delta, last_seq, prune
from .tables import synced_tables

log = logging.getLogger(__name__)
HUB = "hub"
STATUS_FILE = "sync_status.json"


def hub_token(config, data_dir: Path) -> str | None:
    """The node token from config or ``<data dir>/keys/hub.token``."""
    token = config.get("HUB_TOKEN")
    path = Path(data_dir) / "keys" / "hub.token"
    if not token and path.is_file():
        token = path.read_text().strip()
    return token or None


def prepare_store(node) -> None:
    """Check the sync triggers, set the hub-ownership guard and the origin (each worker, at start-up)."""
    db = node.db()
    install_triggers(db, synced_tables(node.plugins), "edge")
    joined = bool(node.config.get("HUB_URL"))
    if state(db)["guard"] != int(joined):
        set_guard(db, joined)
    token = hub_token(node.config, node.data_dir)
    if token and state(db)["origin"] != token.partition(".")[0]:
        set_origin(db, token.partition(".")[0])


def make_client(node, session=None) -> HubClient:
    """The hub client of ``node`` (HUB_URL and its token)."""
    from edge.errors import ServiceUnavailable

    url, token = node.config.get("HUB_URL"), hub_token(node.config, node.data_dir)
    if not url or not token:
        raise ServiceUnavailable("this node has no hub: set HUB_URL and HUB_TOKEN (or keys/hub.token)", code="no_hub")
    return HubClient(url, token, session=session, bundle_versions=node.registry.active)


# -- one round --------------------------------------------------------------------------------
def _push_start(db, cursor: dict) -> int:
    """Where to push from; starts a new epoch when the hub holds a change this store never had (restored backup)."""
    info = state(db)
    if cursor.get("epoch") != info["epoch"]:
        return 0
    if cursor["seq"] <= info["acked"]:
        return cursor["seq"]
    row = db.execute("SELECT hlc FROM _changes WHERE seq = ?", [cursor["seq"]]).fetchone()
    if cursor["seq"] <= last_seq(db) and (cursor.get("hlc") is None or (row is not None and row[0] == cursor["hlc"])):
        return cursor["seq"]
    log.warning("the hub holds changes this store does not have (restored from a backup?): starting a new epoch")
    with db.atomic():
        db.execute("UPDATE _sync_state SET epoch = ?, acked = 0 WHERE id = 1", [new_epoch()])
    return 0


def push(db, client, batch: int, workdir: Path) -> int:
    """Push every pending local change; return how many were sent."""
    since, sent = _push_start(db, client.cursor()), 0
    for _ in range(1_000_000):
        delta = export_delta(db, since, batch)
        count = delta.meta["count"]  # not len(delta.changes): that would decode the rows in Python
        if not count and delta.meta["to_seq"] <= since:
            break
        ack = client.push(encode(delta, workdir))
        sent += count
        since = ack["seq"]
        with db.atomic():
            prune(db, since)
            db.execute("UPDATE _sync_state SET acked = ? WHERE id = 1", [since])
        if not count:
            break
    return sent


def pull(db, client, tables: dict, workdir: Path) -> int:
    """Apply hub deltas until up to date; return how many changes were applied."""
    applier, applied = Applier(db, tables), 0
    for _ in range(1_000_000):
        epoch, seq = applier.cursor(HUB)
        data = client.pull(seq, epoch)
        if data is None:
            break
        result = applier.apply(decode(data, workdir), origin=HUB)
        applied += result["applied"]
        if (result["epoch"], result["seq"]) == (epoch, seq):
            break
    return applied


def follow_rollout(node, client, workdir: Path) -> dict:
    """Install and activate every bundle targeted at this node's group whose name runs another version here.

    Returns ``{name: version installed}`` and, for a name that failed, ``{name: "error: ..."}``; a failure
    of one name leaves the others (and its own active version) as they were.
    """
    from edge.bundles.errors import BundleError

    answer, changed = client.rollout(), {}
    targets = answer.get("bundles")
    if targets is None and answer.get("version"):  # a hub that rolls out one bundle per group
        targets = [{"name": None, "version": answer["version"], "digest": answer["digest"]}]
    active = node.registry.active()
    for target in targets or []:
        if not target.get("version") or (target.get("name") and active.get(target["name"]) == target["version"]):
            continue
        if target.get("name") is None and target["version"] in active.values():
            continue
        try:
            result = _install_target(node, client, target, workdir)
            changed[result.name] = result.version
        except BundleError as exc:
            log.error("rollout of %s %s failed: %s", target.get("name"), target["version"], exc.message)
            changed[target.get("name") or target["version"]] = f"error: {exc.message}"
    return changed


def _install_target(node, client, target: dict, workdir: Path):
    from edge.bundles.builder import sha256_file
    from edge.bundles.errors import BundleError

    path = client.download_bundle(target["digest"], workdir / f"bundle-{target['digest']}.tar.gz")
    try:
        if sha256_file(path) != target["digest"]:
            raise BundleError("the downloaded bundle does not match its sha256", "hash_mismatch")
        available = {p.name for p in node.plugins.usable()}
        return node.registry.install(path, available_plugins=available)
    finally:
        path.unlink(missing_ok=True)


def sync_once(node, session=None) -> dict:
    """One full round: push, pull, rollout; records and returns a status summary."""
    db, workdir = node.db(), run_dir(node.data_dir)
    client = make_client(node, session)
    prepare_store(node)
    tables = synced_tables(node.plugins)
    batch = int(node.config.get("SYNC_BATCH") or 5000)
    result = {"pushed": push(db, client, batch, workdir), "pulled": pull(db, client, tables, workdir)}
    result["bundles"] = follow_rollout(node, client, workdir)
    return result


# -- status -----------------------------------------------------------------------------------
def run_dir(data_dir: Path) -> Path:
    folder = Path(data_dir) / "run"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def write_status(data_dir: Path, **fields) -> None:
    """Merge ``fields`` into ``<data dir>/run/sync_status.json`` (atomic write)."""
    from edge.bundles.registry import write_json_atomic

    path = run_dir(data_dir) / STATUS_FILE
    write_json_atomic(path, {**read_status(data_dir), **fields})


def read_status(data_dir: Path) -> dict:
    """The last recorded sync status (``{}`` before the first round)."""
    try:
        return json.loads((Path(data_dir) / "run" / STATUS_FILE).read_text())
    except (FileNotFoundError, ValueError):
        return {}


def local_status(db) -> dict:
    """What the store itself says: pending changes, hub cursor, epoch."""
    info = state(db)
    cursor = db.execute("SELECT epoch, seq FROM _sync_cursors WHERE origin = ?", [HUB]).fetchone()
    return {"origin": info["origin"], "epoch": info["epoch"], "pending_changes": db["_changes"].count,
            "acked_seq": info["acked"], "last_seq": last_seq(db), "hub_cursor": cursor[1] if cursor else 0}


# -- the background loop -----------------------------------------------------------------------
def backoff(failures: int, base: float, cap: float) -> float:
    """Exponential backoff with full jitter in [0.5, 1.5) of the nominal delay."""
    return min(cap, base * (2 ** min(failures, 30))) * random.uniform(0.5, 1.5)


class SyncWorker:
    """A daemon thread running ``sync_once`` every ``interval`` seconds, backing off after failures."""

    def __init__(self, node, lock_file, interval: float, base: float = 1.0, cap: float = 300.0):
        self.node, self.lock_file, self.interval, self.base, self.cap = node, lock_file, interval, base, cap
        self._stop = threading.Event()
        self.failures = 0
        self.thread = threading.Thread(target=self._run, name="storefront-edge-sync", daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                result = sync_once(self.node)
                self.failures = 0
                write_status(self.node.data_dir, last_success=time.time(), last_result=result, error=None, pid=os.getpid())
                delay = self.interval
            except Exception as exc:  # keep serving offline; retry later
                self.failures += 1
                delay = backoff(self.failures, self.base, self.cap)
                log.warning("sync failed (%s); retrying in %.1f s", exc, delay)
                write_status(self.node.data_dir, last_failure=time.time(), error=str(exc), retry_in=delay, pid=os.getpid())
            self._stop.wait(delay)
        self.node.store.close()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the loop and release the election lock."""
        self._stop.set()
        self.thread.join(timeout)
        self.lock_file.close()


def elect(data_dir: Path):
    """The open lock file when this process wins ``run/sync.lock``, else ``None``."""
    handle = open(run_dir(data_dir) / "sync.lock", "w")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        return None
    return handle


def start_worker(node) -> SyncWorker | None:
    """Start the loop in this process if the node has a hub and this process wins the election."""
    if not node.config.get("HUB_URL") or node.config.get("SYNC_WORKER") is False:
        return None
    lock = elect(node.data_dir)
    if lock is None:
        return None
    worker = SyncWorker(node, lock, float(node.config.get("SYNC_INTERVAL") or 30))
    worker.thread.start()
    return worker
