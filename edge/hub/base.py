"""The hub's storage interface, ``HubStore``, and what its backends share.

A backend keeps the hub's nodes (hashed tokens), bundle records and rollouts, the synced plugin
tables, the hub's change log and the per-origin cursors. Two backends implement it: SQLite in the hub's
data folder (:mod:`edge.hub.sqlite_backend`, the default) and PostgreSQL (:mod:`edge.hub.postgres`).
Bundle archives and the trusted keys live in the data folder for both. Edges cannot tell them apart:
both speak the same delta files (:mod:`edge.sync.delta`).

Bundles roll out per name: a group has at most one target version of each bundle name
(``hub_rollout_targets``), and each node reports the version it serves of every name
(``X-Bundle-Versions``, kept in ``hub_nodes.bundle_versions``). Any hub-owned table is published through
one operation, :meth:`HubStore.publish` (rows checked by :mod:`edge.hub.publish`).

Stores (CDN edge mode) are bound to a node by the operator, never by the node: ``hub register-node NAME
--stores a,b`` (or ``hub grant NAME --stores a,b`` later) records the stores the node may sync
(``hub_nodes.granted_stores``; the store ``default`` when none is named, a node of one store). Every sync
request acts for the stores its ``X-Stores`` header names, each of them granted (403 ``store_not_granted``
otherwise: nothing is sent or accepted), or for every granted store without the header; a pull gets the rows
of those stores only and a push with a change of another store's row is refused whole. Nodes registered
before grants existed keep the stores they had last reported (or ``default``).
"""

from __future__ import annotations

import abc
import datetime
import hashlib
import hmac
import json
import re
import secrets
from pathlib import Path

from edge.errors import BadRequest, Forbidden, NotFound, Unprocessable

HUB_ORIGIN = "hub"
NODE_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
HUB_TABLES = ("hub_nodes", "hub_bundles", "hub_rollout_targets")
BUNDLE_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
MAX_NAMES = 64


def now() -> str:
    """The current UTC time, ISO 8601 to the second."""
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


def token_hash(secret: str) -> str:
    """Tokens are 256-bit random: a plain sha256 is a sufficient one-way store."""
    return hashlib.sha256(secret.encode()).hexdigest()


def check_names(name: str, group: str) -> None:
    """Refuse node or group names outside ``[a-z0-9_-]`` (at most 63) and the reserved ``hub``."""
    if not NODE_NAME.match(name or "") or not NODE_NAME.match(group or ""):
        raise Unprocessable("node and group names are lower-case letters, digits, '-' and '_' (at most 63)", code="bad_name")
    if name == HUB_ORIGIN:
        raise Unprocessable(f"'{HUB_ORIGIN}' is reserved", code="bad_name")


def new_token(name: str) -> tuple[str, str]:
    """A fresh node token ``<name>.<secret>`` and the hash to store."""
    secret = secrets.token_urlsafe(32)
    return f"{name}.{secret}", token_hash(secret)


def verify_token(token: str, lookup) -> dict:
    """The node row ``lookup(name)`` returns for a valid token; 403 otherwise (constant-time compare)."""
    name, _, secret = (token or "").partition(".")
    row = lookup(name) if name and secret else None
    expected = row["token_hash"] if row else token_hash(secrets.token_hex(8))
    if not hmac.compare_digest(expected, token_hash(secret)) or not row:
        raise Forbidden("unknown node or wrong token", code="wrong_token")
    return row


def parse_versions(header: str | None) -> dict | None:
    """``{bundle name: version}`` from an ``X-Bundle-Versions`` JSON header; ``None`` when absent or malformed."""
    if not header or len(header) > 8192:
        return None
    try:
        versions = json.loads(header)
    except ValueError:
        return None
    if not isinstance(versions, dict) or len(versions) > MAX_NAMES:
        return None
    if not all(isinstance(k, str) and BUNDLE_NAME.match(k) and isinstance(v, str) and len(v) <= 64 for k, v in versions.items()):
        return None
    return dict(sorted(versions.items()))


def rollout_answer(targets: list[dict]) -> dict:
    """What ``/v1/hub/rollout`` answers: every target of the group by name, and (for single-bundle edges)
    the plain ``version``/``digest`` when exactly one name is targeted."""
    targets = sorted(targets, key=lambda t: t["name"])
    one = targets[0] if len(targets) == 1 else {"version": None, "digest": None}
    return {"bundles": targets, "version": one["version"], "digest": one["digest"]}


def checked_stores(stores) -> list[str]:
    """The store ids an operator grants a node (``"a,b"`` or a list; ``None``: the store ``default``): 422
    ``bad_store`` for a malformed one, 422 ``no_stores`` for an explicit empty grant: a node keeps at least one
    store, and an empty list must not silently grant ``default``."""
    from edge.stores import parse_stores

    named = [s for s in (stores.split(",") if isinstance(stores, str) else (stores or ())) if str(s).strip()]
    if stores is not None and not named:
        raise Unprocessable("name at least one store to grant", code="no_stores")
    try:
        return parse_stores(stores)
    except ValueError as exc:
        raise Unprocessable(str(exc).replace("STORES: ", ""), code="bad_store") from None


def granted_stores(node: dict) -> list[str]:
    """The stores an operator granted ``node`` (at registration or with ``hub grant``)."""
    from edge.stores import DEFAULT_STORE

    return json.loads(node.get("granted_stores") or "null") or [DEFAULT_STORE]


def acting_stores(node: dict, header: str | None) -> list[str]:
    """The stores a sync request of ``node`` acts for: every store its ``X-Stores`` header names, each granted to
    the node (403 ``store_not_granted`` otherwise), or every granted store when it sends no header; a header that
    names no store (empty, only commas) is 400 ``no_stores``."""
    granted = granted_stores(node)
    if header is None:
        return granted
    named = list(dict.fromkeys(p.strip() for p in header[:65536].split(",") if p.strip()))
    if not named:
        raise BadRequest("the X-Stores header names no store: name the stores the node serves, comma-separated, "
                         "or leave the header out to act for every granted store", code="no_stores",
                         details={"granted": granted})
    refused = [s for s in named if s not in granted]
    if refused:
        raise Forbidden("the node names stores it was not granted: ask the hub's operator "
                        "(storefront-edge hub grant NODE --stores ...)", code="store_not_granted",
                        details={"not_granted": [s[:64] for s in refused[:20]], "granted": granted})
    return named


def node_summary(node: dict, top: int, targets: dict) -> dict:
    """A node's status row: its stores, its versions of every bundle name, its group's targets, its cursor lag."""
    node = dict(node)
    versions = json.loads(node.pop("bundle_versions", None) or "{}")
    node["stores"] = json.loads(node.get("stores") or "[]")
    node["granted_stores"] = granted_stores(node)
    group_targets = targets.get(node["grp"], {})
    return {**node, "bundles": versions, "targets": group_targets, "cursor_lag": max(0, top - (node["pulled_seq"] or 0)),
            "target_version": next(iter(group_targets.values())) if len(group_targets) == 1 else None}


def bundle_dir(data_dir: Path) -> Path:
    """Where the hub keeps bundle archives by sha256."""
    return Path(data_dir) / "bundles"


def store_bundle(data_dir: Path, source: Path) -> dict:
    """Verify a bundle (folder or .tar.gz) with the hub's trusted keys and store it content-addressed."""
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
    return {"digest": digest, "name": manifest.name, "version": manifest.version, "size": (store / f"{digest}.tar.gz").stat().st_size}


def bundle_path(data_dir: Path, digest: str) -> Path:
    """The stored archive of ``digest``; 404 when there is none."""
    if not re.fullmatch(r"[0-9a-f]{64}", digest or ""):
        raise NotFound("no such bundle", code="unknown_bundle")
    path = bundle_dir(data_dir) / f"{digest}.tar.gz"
    if not path.is_file():
        raise NotFound("no such bundle", code="unknown_bundle")
    return path


def restored_message(node: str, request) -> str:
    """What the operator reads when ``node`` shows that the hub lost changes (a restore from a backup)."""
    import logging

    message = (f"node {node} holds hub changes up to {request.since} that this hub no longer has (restored from a backup?): "
               "it gets a snapshot; rows published after the backup must be published again, and nodes re-send what the hub lost")
    logging.getLogger("edge.hub").warning(message)
    return message


def lost_message(node: str, ack: dict) -> str:
    """What the operator reads when ``node`` re-sends changes the hub had acknowledged and lost (a restore from a backup)."""
    import logging

    message = f"node {node} re-sent changes this hub had acknowledged and lost (restored from a backup?); now at {ack['seq']}"
    logging.getLogger("edge.hub").warning(message)
    return message


def redact(url: str | None) -> str | None:
    """``url`` (a URL or a libpq conninfo string) with its password replaced by ``***``."""
    if not url:
        return url
    if "://" not in url:
        return re.sub(r"(password\s*=\s*)('(?:[^'\\]|\\.)*'|\S+)", r"\1***", url)
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    netloc = parts.netloc
    if "@" in netloc and ":" in netloc.rpartition("@")[0]:
        user = netloc.rpartition("@")[0].split(":", 1)[0]
        netloc = f"{user}:***@{netloc.rpartition('@')[2]}"
    query = re.sub(r"(password=)[^&]*", r"\1***", parts.query)
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


class HubStore(abc.ABC):
    """What the hub app and the admin CLI need from a storage backend."""

    data_dir: Path
    tables: dict
    schemas: dict  # hub-owned table name -> edge.hub.publish.TableSchema

    # -- nodes ------------------------------------------------------------------------------------
    @abc.abstractmethod
    def register_node(self, name: str, group: str, stores=None) -> str:
        """Register node ``name`` in ``group``, granted ``stores`` (default: the store ``default``); return its
        token (shown once, stored hashed)."""

    @abc.abstractmethod
    def grant_stores(self, name: str, stores) -> list[str]:
        """Replace the stores node ``name`` may sync (404 ``unknown_node``); return them."""

    @abc.abstractmethod
    def node_row(self, name: str) -> dict | None:
        """The stored row of node ``name`` (with its token hash), or ``None``."""

    def authenticate(self, token: str) -> dict:
        """The node row a bearer token belongs to; 403 otherwise (constant-time compare)."""
        return verify_token(token, self.node_row)

    @abc.abstractmethod
    def touch(self, name: str, bundle_version: str | None = None, pulled_seq: int | None = None,
              bundle_versions: dict | None = None, stores: list | None = None) -> None:
        """Record that node ``name`` was seen now (with its bundle versions by name, pulled cursor and stores when known)."""

    @abc.abstractmethod
    def nodes(self) -> list[dict]:
        """Every registered node (no token hashes)."""

    @abc.abstractmethod
    def status(self) -> list[dict]:
        """Per node: group, last seen, cursor lag, its version of every bundle name and its group's targets."""

    # -- bundles and hub-owned tables ---------------------------------------------------------
    @abc.abstractmethod
    def record_bundle(self, record: dict, group: str | None) -> None:
        """Remember a stored bundle and, with ``group``, target it at that group for its name (one transaction)."""

    def publish_bundle(self, source: Path, group: str | None = None) -> dict:
        """Verify and store a bundle, then target ``group``; return its record."""
        record = store_bundle(self.data_dir, source)
        self.record_bundle(record, group)
        return {**record, "group": group}

    def bundle_path(self, digest: str) -> Path:
        """The stored archive of ``digest``; 404 when there is none."""
        return bundle_path(self.data_dir, digest)

    @abc.abstractmethod
    def rollout_for(self, group: str) -> dict:
        """The bundles targeted at ``group``, one per name (see :func:`rollout_answer`)."""

    def publish(self, table: str, publication) -> dict:
        """Write a checked :class:`edge.hub.publish.Publication` of hub-owned ``table`` in one transaction."""
        from .publish import schema_for

        schema_for(self.schemas, table)
        return self._publish(table, publication)

    @abc.abstractmethod
    def _publish(self, table: str, publication) -> dict:
        """The backend's write of a checked publication: upserts, then deletes; return its summary."""

    # -- sync ---------------------------------------------------------------------------------
    @abc.abstractmethod
    def cursor_of(self, node: str) -> dict:
        """What the hub has applied from ``node``: ``{"epoch", "seq", "hlc"}``."""

    @abc.abstractmethod
    def push(self, data: bytes, node: str, stores=None) -> dict:
        """Verify, check and apply an edge delta with the node's cursor in the same transaction; return the ack.
        With ``stores``, a change of a per-store table of another store refuses the whole push (403)."""

    @abc.abstractmethod
    def pull(self, node: str, request, limit: int = 10_000) -> bytes | None:
        """The compressed delta (or snapshot) after an edge's cursor (a :class:`~edge.sync.protocol.PullRequest`);
        ``None`` when it is up to date. A request showing that the hub lost changes the edge holds (restored from
        a backup) gets a snapshot and leaves a notice."""

    @abc.abstractmethod
    def notice(self, node: str, code: str, message: str) -> None:
        """Record something the hub noticed (``hub_restored``) for ``hub status`` and log it."""

    @abc.abstractmethod
    def hub_state(self) -> dict:
        """The hub's epoch, newest sequence, oldest logged sequence and newest notices."""

    @abc.abstractmethod
    def compact(self, keep: int) -> int:
        """Prune the hub's change log to its last ``keep`` changes; return how many were dropped."""

    # -- inspection and life cycle --------------------------------------------------------------
    @abc.abstractmethod
    def rows(self, table: str) -> list[dict]:
        """The rows of a synced table or a hub table, by key (for the admin and the tests)."""

    @abc.abstractmethod
    def close(self) -> None:
        """Close this thread's connection."""
