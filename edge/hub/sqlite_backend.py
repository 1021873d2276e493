"""The default hub backend: one SQLite file (``<hub dir>/hub.db``), per-thread connections.

It carries the plugins' own tables (their migrations), the same trigger capture as an edge (role
``hub``) and the edge's applier for pushes; see :mod:`edge.hub.store` and :mod:`edge.hub.sync`.
"""

from __future__ import annotations

import threading
from pathlib import Path

from . import store, sync
from edge.sync.protocol import PullRequest

from .base import HUB_TABLES, HubStore, lost_message, restored_message


class SqliteHubStore(HubStore):
    """The hub's store in ``data_dir/hub.db``; each thread gets its own connection."""

    def __init__(self, data_dir: Path, plugin_names=None, extra_plugins=()):
        self.data_dir = Path(data_dir)
        db, self.tables, self.schemas = store.open_hub(self.data_dir, plugin_names, extra_plugins)
        self._local = threading.local()
        self._local.db = db

    def __repr__(self) -> str:
        return f"SqliteHubStore({str(self.data_dir / store.HUB_FILE)!r})"

    def db(self):
        """This thread's connection to ``hub.db`` (opened on first use)."""
        if getattr(self._local, "db", None) is None:
            from edge.store import connect

            self._local.db = connect(self.data_dir / store.HUB_FILE)
        return self._local.db

    def register_node(self, name: str, group: str, stores=None) -> str:
        return store.register_node(self.db(), name, group, stores)

    def grant_stores(self, name: str, stores) -> list[str]:
        return store.grant_stores(self.db(), name, stores)

    def node_row(self, name: str) -> dict | None:
        return store.node_row(self.db(), name)

    def touch(self, name: str, bundle_version: str | None = None, pulled_seq: int | None = None,
              bundle_versions: dict | None = None, stores: list | None = None) -> None:
        store.touch(self.db(), name, bundle_version, pulled_seq, bundle_versions, stores)

    def nodes(self) -> list[dict]:
        return store.nodes(self.db())

    def status(self) -> list[dict]:
        return store.status(self.db())

    def record_bundle(self, record: dict, group: str | None) -> None:
        store.record_bundle(self.db(), record, group)

    def rollout_for(self, group: str) -> dict:
        return store.rollout_for(self.db(), group)

    def _publish(self, table: str, publication) -> dict:
        from .publish import apply_sqlite

        return apply_sqlite(self.db(), self.schemas[table], publication)

    def cursor_of(self, node: str) -> dict:
        return sync.cursor_of(self.db(), node)

    def push(self, data: bytes, node: str, stores=None) -> dict:
        ack, reason = sync.push(self.db(), data, node, self.tables, stores)
        if reason:
            self.notice(node, reason, lost_message(node, ack))
        return ack

    def pull(self, node: str, request: PullRequest, limit: int = sync.PULL_LIMIT) -> bytes | None:
        data, reason = sync.pull(self.db(), request, self.tables, limit)
        if reason:
            self.notice(node, reason, restored_message(node, request))
        return data

    def notice(self, node: str, code: str, message: str) -> None:
        store.add_notice(self.db(), node, code, message)

    def hub_state(self) -> dict:
        return store.hub_state(self.db())

    def compact(self, keep: int) -> int:
        return sync.compact(self.db(), keep)

    def rows(self, table: str) -> list[dict]:
        if table not in self.tables and table not in HUB_TABLES:
            raise KeyError(f"no synced or hub table '{table}'")
        key = self.tables[table].key if table in self.tables else None
        return list(self.db()[table].rows_where(order_by=key)) if self.db()[table].exists() else []

    def close(self) -> None:
        db = getattr(self._local, "db", None)
        if db is not None:
            db.close()
            self._local.db = None
