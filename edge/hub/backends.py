"""Open the hub's store: SQLite in the data folder by default, PostgreSQL when a database URL is given."""

from __future__ import annotations

from pathlib import Path

from .base import HubStore, redact

ENV_DATABASE_URL = "STOREFRONT_EDGE_HUB_DATABASE_URL"


def open_store(data_dir: Path, database_url: str | None = None, plugin_names=None, extra_plugins=()) -> HubStore:
    """The hub store for ``data_dir``: PostgreSQL at ``database_url`` when set, else ``<data_dir>/hub.db``."""
    Path(data_dir).mkdir(parents=True, exist_ok=True)
    if not database_url:
        from .sqlite_backend import SqliteHubStore

        return SqliteHubStore(data_dir, plugin_names, extra_plugins)
    from .postgres import PostgresHubStore, is_postgres_url

    if not is_postgres_url(database_url):
        raise ValueError(f"unsupported hub database URL {redact(database_url)!r}: expected postgresql://...")
    return PostgresHubStore(database_url, data_dir, *declared_tables(plugin_names, extra_plugins))


def declared_tables(plugin_names=None, extra_plugins=()) -> tuple[dict, dict, dict]:
    """The synced tables declared by the hub's plugins, the schemas of the hub-owned ones, and every synced
    table's declared column types.

    Both come from the plugins' own migrations run on an in-memory SQLite database: the PostgreSQL hub keeps
    rows as JSON, checks published rows against the schemas, and tells a counter's differences from its
    other columns exactly as the edges' capture does (:func:`edge.sync.capture.counter_columns`).
    """
    import sqlite_utils

    from edge.plugin_host import PluginHost
    from edge.store import migrate
    from edge.sync.capture import column_types
    from edge.sync.tables import synced_tables

    from .publish import schemas_of

    host = PluginHost(plugin_names, extra_plugins)
    host.load({})
    tables = synced_tables(host)
    db = sqlite_utils.Database(memory=True)
    try:
        migrate(db, [s for s in host.call_each("migrations").values() if s is not None and not isinstance(s, Exception)])
        return tables, schemas_of(db, tables), {name: column_types(db, name) for name in tables if db[name].exists()}
    finally:
        db.close()
