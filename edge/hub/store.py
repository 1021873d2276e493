"""The hub's SQLite store: plugin tables, sync tables, nodes with hashed tokens, bundles and per-name rollouts."""

from __future__ import annotations

from pathlib import Path

from sqlite_utils import Migrations

from edge.errors import Conflict, NotFound, Unauthorized
from edge.store import write_transaction

from .base import (HUB_ORIGIN, NODE_NAME, bundle_dir, bundle_path, check_names, checked_stores, new_token, node_summary, now,
                   rollout_answer, store_bundle, token_hash, verify_token)

HUB_FILE = "hub.db"
migrations = Migrations("hub")


@migrations()
def create_hub_tables(db):
    db["hub_nodes"].create({"name": str, "grp": str, "token_hash": str, "created_at": str, "last_seen": str,
                            "bundle_version": str, "pulled_seq": int}, pk="name", not_null={"grp", "token_hash"})
    db["hub_bundles"].create({"digest": str, "name": str, "version": str, "size": int, "created_at": str}, pk="digest")
    db["hub_rollouts"].create({"grp": str, "digest": str, "version": str, "updated_at": str}, pk="grp")


@migrations()
def rollouts_per_bundle_name(db):
    """One target per (group, bundle name); each node's version of every name. Earlier targets keep their name."""
    db["hub_rollout_targets"].create({"grp": str, "name": str, "digest": str, "version": str, "updated_at": str},
                                     pk=("grp", "name"))
    db.execute("INSERT INTO hub_rollout_targets (grp, name, digest, version, updated_at) SELECT r.grp, "
               "coalesce(b.name, ''), r.digest, r.version, r.updated_at FROM hub_rollouts r LEFT JOIN hub_bundles b USING (digest)")
    db["hub_rollouts"].drop()
    db["hub_nodes"].add_column("bundle_versions", str)


@migrations()
def create_hub_notices(db):
    """What the hub noticed about itself (a restore from a backup), shown by ``hub status``."""
    db["hub_notices"].create({"id": int, "at": str, "node": str, "code": str, "message": str}, pk="id")


def add_notice(db, node: str, code: str, message: str) -> None:
    """Record that ``node`` made the hub notice ``code`` (e.g. ``hub_restored``)."""
    with write_transaction(db):
        db["hub_notices"].insert({"at": now(), "node": node, "code": code, "message": message})


def notices(db, limit: int = 20) -> list[dict]:
    """The newest ``limit`` notices, newest first."""
    return list(db["hub_notices"].rows_where(order_by="id DESC", limit=limit, select="at, node, code, message"))


def hub_state(db) -> dict:
    """The hub's own sync state: epoch, newest sequence, oldest still logged, and its notices."""
    from edge.sync.capture import state
    from edge.sync.export import horizon, last_seq

    return {"epoch": state(db)["epoch"], "last_seq": last_seq(db), "log_start": horizon(db) + 1, "notices": notices(db)}


def open_hub(data_dir: Path, plugin_names=None, extra_plugins=()):
    """Open (and migrate) the hub store in ``data_dir``; return ``(db, tables, schemas of the hub-owned tables)``."""
    from edge.plugin_host import PluginHost
    from edge.store import connect, migrate
    from edge.sync.capture import install_triggers, set_origin
    from edge.sync.tables import synced_tables

    from .publish import schemas_of

    data_dir = Path(data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    host = PluginHost(plugin_names, extra_plugins)
    host.load({})
    db = connect(data_dir / HUB_FILE)
    sets = [s for s in host.call_each("migrations").values() if s is not None and not isinstance(s, Exception)]
    migrate(db, [*sets, migrations])
    tables = synced_tables(host)
    install_triggers(db, tables, "hub")
    if db.execute("SELECT origin FROM _sync_state WHERE id = 1").fetchone()[0] != HUB_ORIGIN:
        set_origin(db, HUB_ORIGIN)
    return db, tables, schemas_of(db, tables)


def register_node(db, name: str, group: str, stores=None) -> str:
    """Register node ``name`` in ``group``, granted ``stores`` (default: ``default``); return its token (shown once, stored hashed)."""
    import json

    check_names(name, group)
    granted = json.dumps(checked_stores(stores))
    token, hashed = new_token(name)
    with write_transaction(db):
        if db["hub_nodes"].count_where("name = ?", [name]):
            raise Conflict(f"node '{name}' is registered already", code="node_exists")
        db["hub_nodes"].insert({"name": name, "grp": group, "token_hash": hashed, "created_at": now(), "pulled_seq": 0,
                                "granted_stores": granted})
    return token


def grant_stores(db, name: str, stores) -> list[str]:
    """Replace the stores node ``name`` may sync; 404 ``unknown_node`` when it is not registered."""
    import json

    granted = checked_stores(stores)
    with write_transaction(db):
        if not db["hub_nodes"].count_where("name = ?", [name]):
            raise NotFound(f"no node '{name[:64]}' is registered", code="unknown_node")
        db["hub_nodes"].update(name, {"granted_stores": json.dumps(granted)})
    return granted


def node_row(db, name: str) -> dict | None:
    """The stored row of node ``name`` (with its token hash), or ``None``."""
    rows = list(db["hub_nodes"].rows_where("name = ?", [name]))
    return rows[0] if rows else None


def authenticate(db, token: str) -> dict:
    """The node row a bearer token belongs to; 401/403 otherwise (constant-time compare)."""
    return verify_token(token, lambda name: node_row(db, name))


def touch(db, name: str, bundle_version: str | None = None, pulled_seq: int | None = None, bundle_versions: dict | None = None,
          stores: list | None = None) -> None:
    """Record that node ``name`` was seen now (with its bundle versions, pulled cursor and stores when known)."""
    import json

    fields = {"last_seen": now()}
    if bundle_version:
        fields["bundle_version"] = bundle_version[:64]
    if bundle_versions is not None:
        fields["bundle_versions"] = json.dumps(bundle_versions)
    if pulled_seq is not None:
        fields["pulled_seq"] = pulled_seq
    if stores is not None:
        fields["stores"] = json.dumps(stores)
    with write_transaction(db):
        db["hub_nodes"].update(name, fields)


def nodes(db) -> list[dict]:
    """Every registered node (no token hashes)."""
    return [{k: v for k, v in row.items() if k != "token_hash"} for row in db["hub_nodes"].rows_where(order_by="name")]


def targets(db) -> dict:
    """``{group: {bundle name: target version}}``."""
    found: dict = {}
    for row in db["hub_rollout_targets"].rows_where(order_by="grp, name"):
        found.setdefault(row["grp"], {})[row["name"]] = row["version"]
    return found


def status(db) -> list[dict]:
    """Per node: group, last seen, cursor lag (hub changes not yet pulled), its version of every bundle name and the targets."""
    from edge.sync.export import last_seq

    top, wanted = last_seq(db), targets(db)
    return [node_summary(node, top, wanted) for node in nodes(db)]


def record_bundle(db, record: dict, group: str | None) -> None:
    """Remember a stored bundle and, with ``group``, target it at that group for its name (one transaction)."""
    with write_transaction(db):
        db["hub_bundles"].upsert({**record, "created_at": now()}, pk="digest")
        if group:
            db["hub_rollout_targets"].upsert({"grp": group, "name": record["name"], "digest": record["digest"],
                                              "version": record["version"], "updated_at": now()}, pk=("grp", "name"))


def publish_bundle(db, data_dir: Path, source: Path, group: str | None = None) -> dict:
    """Verify a bundle (folder or .tar.gz) with the hub's trusted keys, store it content-addressed, target ``group``."""
    record = store_bundle(data_dir, source)
    record_bundle(db, record, group)
    return {**record, "group": group}


def rollout_for(db, group: str) -> dict:
    """The bundles targeted at ``group``, one per name."""
    return rollout_answer([{"name": r["name"], "version": r["version"], "digest": r["digest"]}
                           for r in db["hub_rollout_targets"].rows_where("grp = ?", [group])])


__all__ = ["open_hub", "add_notice", "notices", "hub_state", "register_node", "grant_stores", "node_row", "authenticate", "touch", "nodes", "status", "record_bundle",
           "publish_bundle", "rollout_for", "targets", "bundle_dir", "bundle_path", "token_hash", "HUB_ORIGIN",
           "NODE_NAME", "Unauthorized"]


@migrations()
def add_node_stores(db):
    """The stores each node serves (CDN edge mode), as it last said (``X-Stores``)."""
    db["hub_nodes"].add_column("stores", str)


@migrations()
def add_node_store_grants(db):
    """The stores an operator granted each node (CDN edge mode); a node registered before grants keeps the
    stores it last reported (or ``default``)."""
    db["hub_nodes"].add_column("granted_stores", str)
    db.execute("UPDATE hub_nodes SET granted_stores = coalesce(stores, '[\"default\"]')")
