"""The edge's sync: one round (``sync_once``: push, pull, follow the rollout) and the background loop.

A round is bounded whatever the load: it pushes the changes made before it began, at most
``SYNC_ROUND_CHANGES`` of them (in deltas of ``SYNC_BATCH``), then pulls at most ``SYNC_ROUND_PULLS`` hub deltas; when it stops at a bound, ``more`` is
set and the worker starts the next round at once, so a catch-up is not slowed by ``SYNC_INTERVAL``.

A hub restored from a backup: the hub's cursor of this node behind what it acknowledged means it lost
pushed changes, re-sent from the retained log (acknowledged changes stay ``SYNC_RETAIN_HOURS``, at most
``SYNC_RETAIN_CHANGES``), or, when the log no longer reaches back, by logging every row of the append-only
tables again in a new epoch. A pull carries the mark of the last hub change applied; a hub that no longer
holds it answers with a snapshot (``reason: hub_restored``). Both are logged and listed in the round's
``notices`` (``sync status``).

Election under gunicorn: every worker process runs ``prepare_store``; only when ``HUB_URL`` is set does it
try a non-blocking ``fcntl.flock`` on ``<data dir>/run/sync.lock``. The process holding the lock runs the
loop; the lock dies with the process, so another worker takes over after a restart.

The node's token comes from ``HUB_TOKEN`` (``STOREFRONT_EDGE_HUB_TOKEN``) or ``<data dir>/keys/hub.token``;
its name (before the first ``.``) is the node's origin. Push: ask the hub for its cursor of this node,
detect a restore of this store from a backup (the hub knows a change this store does not have → new epoch),
send deltas of at most ``SYNC_BATCH`` changes, keep what the hub acknowledged for the retention period. Pull: apply hub deltas with the cursor
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
import sqlite3
import threading
import time
from pathlib import Path

from edge.store import write_transaction

from .apply import Applier
from .capture import install_triggers, new_epoch, recapture, set_guard, set_origin, state
from .client import HubBadReply, HubClient
from .delta import DeltaError, decode, encode
from .export import export_delta, horizon, last_seq
from .protocol import WRITES, PullRequest, chosen_format
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
    return HubClient(url, token, session=session, bundle_versions=node.registry.active, stores=node.config.get("STORES") or ())


# -- one round --------------------------------------------------------------------------------
ROUND_CHANGES = 50_000  # changes one round pushes at most before it pulls (SYNC_ROUND_CHANGES)
ROUND_PULLS = 20  # hub deltas one round applies at most (SYNC_ROUND_PULLS)
RETAIN_HOURS = 72  # how long pushed changes stay in the log for a hub restored from a backup (SYNC_RETAIN_HOURS)
RETAIN_CHANGES = 1_000_000  # ... and at most how many of them (SYNC_RETAIN_CHANGES)


def _setting(config, key: str, default, kind=int):
    """``config[key]`` as ``kind`` (``default`` when unset; 0 is a value)."""
    value = config.get(key)
    return kind(default if value is None or value == "" else value)


class Round:
    """One round's settings and what it noticed (``notices``: lines for the operator, also logged)."""

    def __init__(self, config, workdir: Path):
        self.workdir = workdir
        self.batch = max(1, _setting(config, "SYNC_BATCH", 5000))
        self.max_changes = max(1, _setting(config, "SYNC_ROUND_CHANGES", ROUND_CHANGES))
        self.max_pulls = max(1, _setting(config, "SYNC_ROUND_PULLS", ROUND_PULLS))
        self.retain_hours = _setting(config, "SYNC_RETAIN_HOURS", RETAIN_HOURS, float)
        self.retain_changes = _setting(config, "SYNC_RETAIN_CHANGES", RETAIN_CHANGES)
        self.notices: list[str] = []
        self.more = False
        self.healing = False  # this round re-sends what the hub lost

    def notice(self, message: str) -> None:
        log.warning(message)
        self.notices.append(message)


def _heal(db, tables: dict, since: int, acked: int, round_: Round) -> int:
    """The hub lost this store's changes after ``since`` (it had acknowledged up to ``acked``): where to push from.

    From the retained log when it still holds every change after ``since``; otherwise a new epoch whose log is
    every row of the append-only tables again (the hub keeps one copy of each).
    """
    round_.healing = True
    if horizon(db) <= since:
        round_.notice(f"the hub lost changes {since + 1}..{acked} of this node (restored from a backup?): "
                      "re-sending them from the retained log")
        with write_transaction(db):
            db.execute("UPDATE _sync_state SET acked = ? WHERE id = 1", [since])
        return since
    counts = rebuild_log(db, tables)
    round_.notice(f"the hub lost changes {since + 1}..{acked} of this node (restored from a backup?) and the retained log "
                  f"starts at {horizon(db) + 1}: re-sending every row of {', '.join(sorted(counts)) or 'no table'} in a new epoch")
    return 0


def rebuild_log(db, tables: dict) -> dict:
    """Start a new epoch whose log holds the changes not acknowledged yet, then every row of this store's append-only
    tables again; return rows per table."""
    from .tables import edge_sends

    with write_transaction(db):
        _new_epoch(db)
        origin = state(db)["origin"]
        return {t.name: recapture(db, t, origin) for t in tables.values()
                if t.policy == "append_only" and edge_sends(t) and db[t.name].exists()}


def _push_start(db, cursor: dict, tables: dict, round_: Round) -> int:
    """Where to push from: the hub's cursor, healed when the hub lost changes; a new epoch when this store lost some."""
    info = state(db)
    if cursor.get("epoch") != info["epoch"]:
        return _heal(db, tables, 0, info["acked"], round_) if info["acked"] else 0
    if cursor["seq"] < info["acked"]:
        return _heal(db, tables, cursor["seq"], info["acked"], round_)
    if cursor["seq"] == info["acked"]:
        return cursor["seq"]
    row = db.execute("SELECT hlc FROM _changes WHERE seq = ?", [cursor["seq"]]).fetchone()
    if cursor["seq"] <= last_seq(db) and (cursor.get("hlc") is None or (row is not None and row[0] == cursor["hlc"])):
        record_ack(db, cursor["seq"])  # the hub applied them but its ack was lost on the way
        return cursor["seq"]
    round_.notice("the hub holds changes this store does not have (restored from a backup?): starting a new epoch")
    with write_transaction(db):
        _new_epoch(db)
    return 0


def _new_epoch(db) -> None:
    """Start a new epoch (inside the caller's transaction); acknowledged changes are not part of it, the others are."""
    db.execute("DELETE FROM _changes WHERE seq <= (SELECT acked FROM _sync_state WHERE id = 1)")
    db.execute("UPDATE _sync_state SET epoch = ?, acked = 0 WHERE id = 1", [new_epoch()])


def record_ack(db, acked: int) -> None:
    """Remember what the hub acknowledged (the changes stay in the log for ``retain``; see :func:`retain`)."""
    with write_transaction(db):
        db.execute("UPDATE _sync_state SET acked = ? WHERE id = 1", [acked])


def retain(db, hours: float, changes: int) -> int:
    """Drop acknowledged changes older than ``hours`` or beyond the newest ``changes``; return how many."""
    import time as clock

    cutoff = int((clock.time() - hours * 3600) * 1000) << 16
    with write_transaction(db):
        acked = state(db)["acked"]
        return db.execute("DELETE FROM _changes WHERE seq <= ? AND (hlc < ? OR seq <= ?)",
                          [acked, cutoff, last_seq(db) - changes]).rowcount


def push_format(cursor: dict, client) -> str:
    """The newest format this node writes that the hub reads (its cursor reply lists them; an older hub: ``/2``)."""
    reads = cursor.get("reads")
    fmt = chosen_format(", ".join(map(str, reads)) if isinstance(reads, list) else None)
    if fmt is None:
        raise HubBadReply(f"hub {client.url} reads delta formats {reads}; this node writes {', '.join(WRITES)}",
                          code="unsupported_format")
    return fmt


def push(db, client, tables: dict, round_: Round) -> int:
    """Push the changes made before the round began, at most ``round_.max_changes`` (the rest waits for the next round)."""
    cursor = client.cursor()
    fmt = push_format(cursor, client)
    since, sent = _push_start(db, cursor, tables, round_), 0
    healing = round_.healing
    top = last_seq(db)  # changes arriving while the round runs wait for the next one: the pull is never starved
    while sent < round_.max_changes:
        delta = export_delta(db, since, min(round_.batch, round_.max_changes - sent))
        count = delta.header.count  # not len(delta.changes): that would decode the rows in Python
        if not count and delta.header.to_seq <= since:
            break
        if healing:  # the hub records that it lost these (an older hub ignores the field)
            delta.header, healing = delta.header.replace(reason="hub_lost_changes"), False
        ack = client.push(encode(delta, fmt))
        sent += count
        since = ack["seq"]
        record_ack(db, since)
        if not count or since >= top:
            break
    round_.more = since < last_seq(db) and sent >= round_.max_changes
    retain(db, round_.retain_hours, round_.retain_changes)
    return sent


def pull(db, client, tables: dict, round_: Round) -> int:
    """Apply hub deltas until up to date, at most ``round_.max_pulls`` of them; return how many changes were applied."""
    applier, applied = Applier(db, tables), 0
    for _ in range(round_.max_pulls):
        epoch, seq = applier.cursor(HUB)
        mark_seq, mark_hlc = applier.mark(HUB)
        data = client.pull(PullRequest(seq, epoch, mark_seq, mark_hlc))
        if data is None:
            return applied
        delta = decode(data)
        if delta.header.reason == "hub_restored":
            round_.notice(f"the hub no longer has hub changes up to {seq} that this node applied (restored from a backup?): "
                          "replaced the hub's tables here with its snapshot")
        try:
            result = applier.apply(delta, origin=HUB)
        except sqlite3.DatabaseError as exc:  # e.g. a row that is not JSON: nothing was applied
            raise DeltaError(f"the hub's delta {delta.header.from_seq}..{delta.header.to_seq} could not be applied: {exc}",
                             code="unappliable_delta") from None
        applied += result["applied"]
        if (result["epoch"], result["seq"]) == (epoch, seq):
            return applied
    round_.more = True
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
    """One bounded round: push (at most a bounded number of changes), pull, rollout; returns a status summary.

    ``more`` says the round stopped at its bound with work left (the worker runs the next one at once);
    ``notices`` lists what it noticed for the operator (a hub restored from a backup), also logged.
    """
    db, round_ = node.db(), Round(node.config, run_dir(node.data_dir))
    client = make_client(node, session)
    prepare_store(node)
    tables = synced_tables(node.plugins)
    result = {"pushed": push(db, client, tables, round_), "pulled": pull(db, client, tables, round_)}
    result["bundles"] = follow_rollout(node, client, round_.workdir)
    result.update(more=round_.more, notices=round_.notices)
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


def record_round(data_dir: Path, result: dict, **fields) -> None:
    """Record a successful round; its notices (a hub restored from a backup) are kept until a later one has some."""
    now = time.time()
    if result.get("notices"):
        fields["last_notices"] = {"at": now, "notices": result["notices"]}
    write_status(data_dir, last_success=now, last_result=result, error=None, **fields)


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
    pending = db.execute("SELECT count(*) FROM _changes WHERE seq > ?", [info["acked"]]).fetchone()[0]
    return {"origin": info["origin"], "epoch": info["epoch"], "pending_changes": pending,
            "retained_changes": db["_changes"].count - pending, "acked_seq": info["acked"], "last_seq": last_seq(db),
            "hub_cursor": cursor[1] if cursor else 0}


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
                record_round(self.node.data_dir, result, pid=os.getpid())
                delay = 0.0 if result["more"] else self.interval
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
