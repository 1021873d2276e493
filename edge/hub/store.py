"""The hub's store: plugin tables, sync tables, nodes with hashed tokens, bundles and rollouts."""

from __future__ import annotations

import datetime
import hashlib
import hmac
import re
import secrets
from pathlib import Path

from sqlite_utils import Migrations

from edge.errors import Conflict, Forbidden, NotFound, Unauthorized, Unprocessable

HUB_FILE = "hub.db"
HUB_ORIGIN = "hub"
NODE_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
migrations = Migrations("hub")


@migrations()
def create_hub_tables(db):
    db["hub_nodes"].create({"name": str, "grp": str, "token_hash": str, "created_at": str, "last_seen": str,
                            "bundle_version": str, "pulled_seq": int}, pk="name", not_null={"grp", "token_hash"})
    db["hub_bundles"].create({"digest": str, "name": str, "version": str, "size": int, "created_at": str}, pk="digest")
    db["hub_rollouts"].create({"grp": str, "digest": str, "version": str, "updated_at": str}, pk="grp")


def now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


def token_hash(secret: str) -> str:
    """Tokens are 256-bit random: a plain sha256 is a sufficient one-way store."""
    return hashlib.sha256(secret.encode()).hexdigest()


def open_hub(data_dir: Path, plugin_names=None, extra_plugins=()):
    """Open (and migrate) the hub store in ``data_dir``; return ``(db, tables)``."""
    from edge.plugin_host import PluginHost
    from edge.store import connect, migrate
    from edge.sync.capture import install_triggers, set_origin
    from edge.sync.tables import synced_tables

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
    return db, tables


def register_node(db, name: str, group: str) -> str:
    """Register node ``name`` in ``group``; return its token (shown once, stored hashed)."""
    if not NODE_NAME.match(name or "") or not NODE_NAME.match(group or ""):
        raise Unprocessable("node and group names are lower-case letters, digits, '-' and '_' (at most 63)", code="bad_name")
    if name == HUB_ORIGIN:
        raise Unprocessable(f"'{HUB_ORIGIN}' is reserved", code="bad_name")
    secret = secrets.token_urlsafe(32)
    with db.atomic():
        if db["hub_nodes"].count_where("name = ?", [name]):
            raise Conflict(f"node '{name}' is registered already", code="node_exists")
        db["hub_nodes"].insert({"name": name, "grp": group, "token_hash": token_hash(secret), "created_at": now(), "pulled_seq": 0})
    return f"{name}.{secret}"


def authenticate(db, token: str) -> dict:
    """The node row a bearer token belongs to; 401/403 otherwise (constant-time compare)."""
    name, _, secret = (token or "").partition(".")
    rows = list(db["hub_nodes"].rows_where("name = ?", [name])) if name and secret else []
    expected = rows[0]["token_hash"] if rows else token_hash(secrets.token_hex(8))
    if not hmac.compare_digest(expected, token_hash(secret)) or not rows:
        raise Forbidden("unknown node or wrong token", code="wrong_token")
    return rows[0]


def touch(db, name: str, bundle_version: str | None = None, pulled_seq: int | None = None) -> None:
    """Record that node ``name`` was seen now (with its bundle version and pulled cursor when known)."""
    fields = {"last_seen": now()}
    if bundle_version:
        fields["bundle_version"] = bundle_version[:64]
    if pulled_seq is not None:
        fields["pulled_seq"] = pulled_seq
    with db.atomic():
        db["hub_nodes"].update(name, fields)


def nodes(db) -> list[dict]:
    """Every registered node (no token hashes)."""
    return [{k: v for k, v in row.items() if k != "token_hash"} for row in db["hub_nodes"].rows_where(order_by="name")]


def status(db) -> list[dict]:
    """Per node: group, last seen, cursor lag (hub changes not yet pulled), bundle version and the group's target."""
    from edge.sync.export import last_seq

    top = last_seq(db)
    targets = {r["grp"]: r["version"] for r in db["hub_rollouts"].rows}
    return [{**node, "cursor_lag": max(0, top - (node["pulled_seq"] or 0)), "target_version": targets.get(node["grp"])}
            for node in nodes(db)]


def bundle_dir(data_dir: Path) -> Path:
    return Path(data_dir) / "bundles"


def publish_bundle(db, data_dir: Path, source: Path, group: str | None = None) -> dict:
    """Verify a bundle (folder or .tar.gz) with the hub's trusted keys, store it content-addressed, target ``group``."""
    import shutil
    import tempfile

    from edge.bundles import archive
    from edge.bundles.builder import sha256_file
    from edge.bundles.signing import trusted_keys
    from edge.bundles.verify import verify_bundle

    source, store = Path(source), bundle_dir(data_dir)
    store.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".publish-", dir=store))
    try:
        folder = work / "bundle"
        archive.copy_tree(source, folder, 1 << 31) if source.is_dir() else archive.extract(source, folder, 1 << 31, 10_000)
        manifest, _ = verify_bundle(folder, trusted_keys(Path(data_dir) / "keys" / "trusted"))
        packed = archive.pack(folder, work / "bundle.tar.gz")
        digest = sha256_file(packed)
        packed.rename(store / f"{digest}.tar.gz")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    record = {"digest": digest, "name": manifest.name, "version": manifest.version, "size": (store / f"{digest}.tar.gz").stat().st_size}
    with db.atomic():
        db["hub_bundles"].upsert({**record, "created_at": now()}, pk="digest")
        if group:
            db["hub_rollouts"].upsert({"grp": group, "digest": digest, "version": manifest.version, "updated_at": now()}, pk="grp")
    return {**record, "group": group}


def rollout_for(db, group: str) -> dict:
    """The bundle targeted at ``group`` (``{"version": None}`` when none)."""
    rows = list(db["hub_rollouts"].rows_where("grp = ?", [group]))
    return {"version": rows[0]["version"], "digest": rows[0]["digest"]} if rows else {"version": None, "digest": None}


def bundle_path(data_dir: Path, digest: str) -> Path:
    """The stored archive of ``digest``; 404 when there is none."""
    if not re.fullmatch(r"[0-9a-f]{64}", digest or ""):
        raise NotFound("no such bundle", code="unknown_bundle")
    path = bundle_dir(data_dir) / f"{digest}.tar.gz"
    if not path.is_file():
        raise NotFound("no such bundle", code="unknown_bundle")
    return path


def publish_catalog(db, csv_path: Path) -> int:
    """Upsert the rows of a catalog CSV into the hub's ``catalog_items`` (captured for every edge)."""
    import json

    from plugins.catalog.importer import read_catalog_csv

    rows = read_catalog_csv(Path(csv_path))
    stamp = now()
    for row in rows:
        row["images"] = json.dumps([p for p in row["images"].split(";") if p])
        row["updated_at"] = stamp
    with db.atomic():
        db["catalog_items"].upsert_all(rows, pk="sku")
    return len(rows)


__all__ = ["open_hub", "register_node", "authenticate", "touch", "nodes", "status", "publish_bundle",
           "rollout_for", "bundle_path", "publish_catalog", "Unauthorized"]
