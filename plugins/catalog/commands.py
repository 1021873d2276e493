"""The catalog's commands: ``storefront-edge catalog import CSV`` (a standalone node's own catalog) and
``storefront-edge hub publish-catalog CSV`` (the hub's catalog, through the hub's generic publish)."""

from __future__ import annotations

from pathlib import Path

import click

from edge.api import hub_options

CSV_FILE = click.Path(dir_okay=False, exists=True, path_type=Path)


@click.group("catalog")
def catalog():
    """The product catalog of this node."""


STORE_OPTION = click.option("--store", default="default", show_default=True, help="the store whose catalog this is")


@catalog.command("import")
@click.argument("csv_path", type=CSV_FILE)
@STORE_OPTION
@click.pass_context
def import_command(ctx, csv_path, store):
    """Upsert a catalog CSV (and copy its images) into this node's store; a node joined to a hub refuses it."""
    import sqlite3

    from edge.api import open_node

    from .importer import CatalogImportError, import_catalog

    node = open_node(ctx)
    try:
        if store not in node.config["STORES"]:
            raise click.ClickException(f"this node does not serve the store {store!r} (STORES: {', '.join(node.config['STORES'])})")
        count = import_catalog(node.db(), csv_path, node.data_dir / "media" / "catalog", store)
    except CatalogImportError as exc:
        raise click.ClickException(f"nothing imported: {exc}") from None
    except sqlite3.DatabaseError as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        node.close()
    click.echo(f"imported {count} catalog items")


@click.group("hub")
def hub():
    """The catalog's hub commands."""


@hub.command("publish-catalog")
@click.argument("csv_path", type=CSV_FILE)
@STORE_OPTION
@hub_options
def publish_catalog(csv_path, store, hub_dir, database_url):
    """Upsert a catalog CSV into the hub for one store (the same path as 'hub publish catalog_items'); its edges receive it."""
    from edge.api import checked_publication, is_store_id, open_hub_store

    from .importer import hub_rows

    if not is_store_id(store):
        raise click.ClickException(f"{store!r} is not a store id (lower-case letters, digits and '-')")
    rows = hub_rows(csv_path, store)
    store = open_hub_store(hub_dir, database_url)
    publication = checked_publication(store, "catalog_items", list(enumerate(rows, start=2)))
    click.echo(f"published {store.publish('catalog_items', publication)['upserted']} catalog items")


def load_demo(node, models_dir: Path) -> str | None:
    """Import ``<models_dir>/demo_catalog/catalog.csv`` into every store of the node (``init --demo``)."""
    from .importer import import_catalog

    csv_path = Path(models_dir) / "demo_catalog" / "catalog.csv"
    if not csv_path.is_file():
        raise click.ClickException(f"no demo catalog at {csv_path}")
    counts = [import_catalog(node.db(), csv_path, node.data_dir / "media" / "catalog", s) for s in node.config["STORES"]]
    return f"catalog: {counts[0]} items" + (f" in each of {len(counts)} stores" if len(counts) > 1 else "")
