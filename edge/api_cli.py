"""The command-line helpers a plugin's ``cli_commands`` may use (re-exported by :mod:`edge.api`)."""

from __future__ import annotations

from pathlib import Path

from .cli.sync_cmds import hub_options

__all__ = ["open_node", "hub_options", "open_hub_store", "checked_publication"]


def open_node(ctx):
    """The node of the command's data folder, started without a bundle watcher or sync worker; ``close()`` it."""
    from .app import create_app
    from .cli.common import app_overrides

    app = create_app({**app_overrides(ctx), "SYNC_WORKER": False}, watch=False)
    return app.extensions["storefront_edge"]


def open_hub_store(hub_dir: Path, database_url: str | None = None):
    """The hub's store (SQLite in ``hub_dir``, or PostgreSQL at ``database_url``)."""
    from .hub.backends import open_store

    return open_store(hub_dir, database_url)


def checked_publication(store, table: str, numbered_rows):
    """Check ``[(line, row)]`` upserts of hub-owned ``table`` against its schema (422 listing every bad row)."""
    from .hub.publish import check_publication

    return check_publication(store.schemas, table, numbered_rows)
