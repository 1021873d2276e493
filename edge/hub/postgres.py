"""The hub on PostgreSQL (psycopg 3), for a fleet that outgrows one machine.

Chosen by ``DATABASE_URL`` (``--database-url`` / ``STOREFRONT_EDGE_HUB_DATABASE_URL``). Each thread keeps
one connection (reopened when broken or after a fork); every operation is one transaction. Schema:
:mod:`edge.hub.pg_schema`; pushes: :mod:`edge.hub.pg_apply`; the change log and pulls: :mod:`edge.hub.pg_log`.
Edges get the same delta files as from a SQLite hub. The URL's password is never logged or shown.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import weakref
from pathlib import Path

from edge.errors import Conflict, NotFound, ServiceUnavailable
from edge.sync.tables import for_stores

from . import pg_apply, pg_log
from .base import (HUB_TABLES, HubStore, check_names, checked_stores, lost_message, new_token, node_summary, now, redact,
                   restored_message, rollout_answer)
from .pg_schema import ensure_schema, q

log = logging.getLogger(__name__)
NODE_COLUMNS = "name, grp, created_at, last_seen, bundle_version, bundle_versions, pulled_seq, stores, granted_stores"


def is_postgres_url(url: str | None) -> bool:
    """Whether ``url`` names a PostgreSQL database."""
    return bool(url) and url.split("://", 1)[0] in ("postgres", "postgresql")


def _close_all(opened: list, reap: bool = False) -> None:
    """Close the connections this process opened (``reap``: only those of finished threads); forget them."""
    kept = []
    for pid, thread, conn in opened:
        if pid == os.getpid() and (not reap or not thread.is_alive()):
            conn.close()
        elif pid == os.getpid() and not conn.closed:
            kept.append((pid, thread, conn))
    opened[:] = kept


class PostgresHubStore(HubStore):
    """The hub's store in a PostgreSQL database; bundle archives and trusted keys stay in ``data_dir``."""

    def __init__(self, url: str, data_dir: Path, tables: dict, schemas: dict | None = None, column_types: dict | None = None):
        self.url, self.data_dir, self.tables = url, Path(data_dir), tables
        self.schemas, self.column_types = schemas or {}, column_types or {}
        self._local, self._lock, self._opened = threading.local(), threading.Lock(), []
        weakref.finalize(self, _close_all, self._opened)
        with self.transaction() as cur:
            ensure_schema(cur, tables)

    def __repr__(self) -> str:
        return f"PostgresHubStore({redact(self.url)!r})"

    # -- connections and transactions ---------------------------------------------------------
    def connection(self):
        """This thread's connection (autocommit; operations open explicit transactions)."""
        conn, local = getattr(self._local, "conn", None), self._local
        if conn is None or conn.closed or conn.broken or local.pid != os.getpid():
            import psycopg
            from psycopg.rows import dict_row

            # a connection inherited through fork() is left alone: psycopg does not close it from the child
            conn = psycopg.connect(self.url, autocommit=True, row_factory=dict_row, connect_timeout=10,
                                   application_name="storefront-edge-hub")
            local.conn, local.pid = conn, os.getpid()
            with self._lock:
                _close_all(self._opened, reap=True)
                self._opened.append((os.getpid(), threading.current_thread(), conn))
        return conn

    @contextlib.contextmanager
    def transaction(self, snapshot: bool = False):
        """A cursor inside one transaction (``snapshot``: read-only REPEATABLE READ); 503 when the database fails."""
        import psycopg

        try:
            conn = self.connection()
            with conn.transaction(), conn.cursor() as cur:
                if snapshot:
                    cur.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                yield cur
        except psycopg.OperationalError as exc:
            log.warning("hub database %s failed: %s", redact(self.url), type(exc).__name__)
            raise ServiceUnavailable("the hub's database is unavailable; try again later", code="hub_database_unavailable") from None

    # -- nodes ------------------------------------------------------------------------------------
    def register_node(self, name: str, group: str, stores=None) -> str:
        import json

        check_names(name, group)
        granted = json.dumps(checked_stores(stores))
        token, hashed = new_token(name)
        with self.transaction() as cur:
            cur.execute("INSERT INTO hub_nodes (name, grp, token_hash, created_at, pulled_seq, granted_stores) "
                        "VALUES (%s, %s, %s, %s, 0, %s) ON CONFLICT (name) DO NOTHING", [name, group, hashed, now(), granted])
            if cur.rowcount == 0:
                raise Conflict(f"node '{name}' is registered already", code="node_exists")
        return token

    def grant_stores(self, name: str, stores) -> list[str]:
        import json

        granted = checked_stores(stores)
        with self.transaction() as cur:
            cur.execute("UPDATE hub_nodes SET granted_stores = %s WHERE name = %s", [json.dumps(granted), name])
            if cur.rowcount == 0:
                raise NotFound(f"no node '{name[:64]}' is registered", code="unknown_node")
        return granted

    def node_row(self, name: str) -> dict | None:
        with self.transaction() as cur:
            return cur.execute(f"SELECT {NODE_COLUMNS}, token_hash FROM hub_nodes WHERE name = %s", [name]).fetchone()

    def touch(self, name: str, bundle_version: str | None = None, pulled_seq: int | None = None,
              bundle_versions: dict | None = None, stores: list | None = None) -> None:
        import json

        versions = json.dumps(bundle_versions) if bundle_versions is not None else None
        served = json.dumps(stores) if stores is not None else None
        with self.transaction() as cur:
            cur.execute("UPDATE hub_nodes SET last_seen = %s, bundle_version = coalesce(%s, bundle_version), "
                        "bundle_versions = coalesce(%s, bundle_versions), pulled_seq = coalesce(%s, pulled_seq), "
                        "stores = coalesce(%s, stores) WHERE name = %s",
                        [now(), bundle_version[:64] if bundle_version else None, versions, pulled_seq, served, name])

    def nodes(self) -> list[dict]:
        with self.transaction() as cur:
            return [{k: v for k, v in r.items() if k != "bundle_versions"}
                    for r in cur.execute(f"SELECT {NODE_COLUMNS} FROM hub_nodes ORDER BY name").fetchall()]

    def status(self) -> list[dict]:
        with self.transaction(snapshot=True) as cur:
            top = cur.execute("SELECT last_seq FROM hub_state WHERE id = 1").fetchone()["last_seq"]
            targets: dict = {}
            for r in cur.execute("SELECT grp, name, version FROM hub_rollout_targets ORDER BY grp, name"):
                targets.setdefault(r["grp"], {})[r["name"]] = r["version"]
            nodes = cur.execute(f"SELECT {NODE_COLUMNS} FROM hub_nodes ORDER BY name").fetchall()
        return [node_summary(node, top, targets) for node in nodes]

    # -- bundles and hub-owned tables ------------------------------------------------------------------
    def record_bundle(self, record: dict, group: str | None) -> None:
        with self.transaction() as cur:
            cur.execute("INSERT INTO hub_bundles (digest, name, version, size, created_at) VALUES (%s, %s, %s, %s, %s) "
                        "ON CONFLICT (digest) DO UPDATE SET name = excluded.name, version = excluded.version, "
                        "size = excluded.size, created_at = excluded.created_at",
                        [record["digest"], record["name"], record["version"], record["size"], now()])
            if group:
                cur.execute("INSERT INTO hub_rollout_targets (grp, name, digest, version, updated_at) VALUES (%s, %s, %s, %s, %s) "
                            "ON CONFLICT (grp, name) DO UPDATE SET digest = excluded.digest, version = excluded.version, "
                            "updated_at = excluded.updated_at", [group, record["name"], record["digest"], record["version"], now()])

    def rollout_for(self, group: str) -> dict:
        with self.transaction() as cur:
            rows = cur.execute("SELECT name, version, digest FROM hub_rollout_targets WHERE grp = %s", [group]).fetchall()
        return rollout_answer([dict(r) for r in rows])

    def _publish(self, table: str, publication) -> dict:
        from .pg_publish import complete_new_rows, publish_deletes

        with self.transaction() as cur:
            rows = complete_new_rows(cur, self.tables[table], self.schemas[table], publication.upserts)
            pg_log.publish_rows(cur, self.tables[table], rows)
            publish_deletes(cur, self.tables[table], publication.deletes)
        return publication.summary()

    # -- sync ---------------------------------------------------------------------------------
    def cursor_of(self, node: str) -> dict:
        with self.transaction() as cur:
            row = cur.execute("SELECT epoch, seq, hlc FROM hub_cursors WHERE origin = %s", [node]).fetchone()
        return dict(row) if row else {"epoch": None, "seq": 0, "hlc": None}

    def push(self, data: bytes, node: str, stores=None) -> dict:
        from edge.sync.delta import decode

        from .sync import check_push

        delta = check_push(decode(data), node, self.tables, stores=stores)
        with self.transaction() as cur:
            ack = pg_apply.apply_push(cur, delta, node, self.tables, self.column_types)
        if delta.header.reason:
            self.notice(node, delta.header.reason, lost_message(node, ack))
        return ack

    def pull(self, node: str, request, limit: int = 10_000) -> bytes | None:
        from edge.sync.delta import encode

        with self.transaction(snapshot=True) as cur:
            delta = pg_log.pull(cur, request, self.tables, limit)
        if delta is not None and delta.header.reason:
            self.notice(node, delta.header.reason, restored_message(node, request))
        return None if delta is None else encode(for_stores(delta, self.tables, request.stores), request.format)

    def notice(self, node: str, code: str, message: str) -> None:
        with self.transaction() as cur:
            cur.execute("INSERT INTO hub_notices (at, node, code, message) VALUES (%s, %s, %s, %s)", [now(), node, code, message])

    def hub_state(self) -> dict:
        with self.transaction(snapshot=True) as cur:
            state = pg_log.read_state(cur)
            notices = cur.execute("SELECT at, node, code, message FROM hub_notices ORDER BY id DESC LIMIT 20").fetchall()
        return {"epoch": state["epoch"], "last_seq": state["last_seq"], "log_start": state["horizon"] + 1, "notices": notices}

    def compact(self, keep: int) -> int:
        with self.transaction() as cur:
            return pg_log.compact(cur, keep)

    # -- inspection and life cycle --------------------------------------------------------------
    def rows(self, table: str) -> list[dict]:
        with self.transaction() as cur:
            if table in self.tables:
                return [r["row"] for r in cur.execute(f"SELECT row FROM {q(table)} WHERE NOT deleted ORDER BY key, origin")]
            if table in HUB_TABLES:
                return cur.execute(f"SELECT * FROM {q(table)} ORDER BY 1").fetchall()
        raise KeyError(f"no synced or hub table '{table}'")

    def close(self) -> None:
        """Close every connection this store opened in this process."""
        with self._lock:
            _close_all(self._opened)
        self._local.conn = None
