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
    return PostgresHubStore(database_url, data_dir, *tables_and_schemas(plugin_names, extra_plugins))


def tables_and_schemas(plugin_names=None, extra_plugins=()) -> tuple[dict, dict]:
    """The synced tables declared by the hub's plugins, and the schemas of the hub-owned ones."""
    from edge.plugin_host import PluginHost
    from edge.sync.tables import synced_tables

    from .publish import schemas_from_migrations

    host = PluginHost(plugin_names, extra_plugins)
    host.load({})
    tables = synced_tables(host)
    return tables, schemas_from_migrations(host, tables)

