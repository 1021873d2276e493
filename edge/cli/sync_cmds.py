"""``storefront-edge hub ...`` (the central hub's admin commands) and ``storefront-edge sync ...`` (an edge's sync)."""

from __future__ import annotations

import json
from pathlib import Path

import click

from .common import Group, app_overrides

hub_dir_option = click.option("--data-dir", "hub_dir", type=click.Path(file_okay=False, path_type=Path),
                              envvar="STOREFRONT_EDGE_HUB_DIR", default="./var/hub", show_default=True,
                              help="The hub's data folder (hub.db, bundles, keys/trusted).")

database_url_option = click.option("--database-url", "database_url", envvar="STOREFRONT_EDGE_HUB_DATABASE_URL", default=None,
                                   help="PostgreSQL URL (postgresql://user:password@host/db) of the hub's store; "
                                        "default: hub.db in the data folder.")


def hub_options(command):
    """The data folder and database URL options every hub command takes."""
    return hub_dir_option(database_url_option(command))


def _open(hub_dir: Path, database_url: str | None):
    from ..hub.backends import open_store

    return open_store(hub_dir, database_url)


@click.group(cls=Group)
def hub():
    """The central hub: serve it, register nodes, publish hub-owned tables and bundles, watch the fleet."""


@hub.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind.")
@click.option("--port", default=8090, show_default=True, type=click.IntRange(1, 65535), help="Port to bind.")
@click.option("--workers", default=2, show_default=True, type=click.IntRange(1, 64), help="gunicorn worker processes.")
@hub_options
def hub_serve(host, port, workers, hub_dir, database_url):
    """Serve the hub (gunicorn) on HOST:PORT."""
    from ..hub.base import redact
    from ..hub.server import serve

    click.echo(f"hub store: {redact(database_url) or hub_dir.resolve() / 'hub.db'}", err=True)
    serve(host, port, workers, {"DATA_DIR": str(hub_dir.resolve()), "DATABASE_URL": database_url})


stores_option = click.option("--stores", help="The stores the node may sync, comma-separated (CDN edge mode; "
                             "default: the store 'default', a node of one store).")


@hub.command("register-node")
@click.argument("name")
@click.option("--group", "group", required=True, help="Rollout group of the node (e.g. a region or 'canary').")
@stores_option
@hub_options
def hub_register(name, group, stores, hub_dir, database_url):
    """Register node NAME, granted --stores, and print its token (shown only this once; the hub keeps a hash)."""
    click.echo(_open(hub_dir, database_url).register_node(name, group, stores))


@hub.command("grant")
@click.argument("name")
@click.option("--stores", required=True, help="Every store the node may sync from now on, comma-separated.")
@hub_options
def hub_grant(name, stores, hub_dir, database_url):
    """Replace the stores node NAME may sync: its X-Stores must stay within them (403 otherwise)."""
    granted = _open(hub_dir, database_url).grant_stores(name, stores)
    click.echo(f"{name}: {','.join(granted)}")


@hub.command("nodes")
@hub_options
def hub_nodes(hub_dir, database_url):
    """List registered nodes with their stores and the version each serves of every bundle name."""
    for node in _open(hub_dir, database_url).status():
        bundles = ",".join(f"{name}@{version}" for name, version in node["bundles"].items()) or "-"
        stores, granted = ",".join(node["stores"]) or "-", ",".join(node["granted_stores"])
        click.echo(f"{node['name']}\tgroup={node['grp']}\tlast_seen={node['last_seen'] or '-'}\tstores={stores}"
                   f"\tgranted={granted}\tbundles={bundles}")


@hub.command("status")
@hub_options
def hub_status(hub_dir, database_url):
    """The hub's sync state and notices (a restore from a backup), and per node: last seen, its stores (granted and
    last named), cursor lag, its version of every bundle name and its group's targets (JSON)."""
    store = _open(hub_dir, database_url)
    click.echo(json.dumps({"hub": store.hub_state(), "nodes": store.status()}, indent=2))


@hub.command("publish")
@click.argument("table")
@click.argument("path", type=click.Path(dir_okay=False, exists=True, path_type=Path))
@click.option("--format", "fmt", type=click.Choice(["csv", "jsonl"]), help="Default: from the file's suffix (.csv, .jsonl).")
@hub_options
def hub_publish(table, path, fmt, hub_dir, database_url):
    """Publish rows of hub-owned TABLE from a CSV or JSON-lines file (_op 'delete' deletes a key); every edge receives them."""
    from ..errors import Unprocessable
    from ..hub.publish import file_format, publication_from_text

    store = _open(hub_dir, database_url)
    try:
        publication = publication_from_text(store.schemas, table, _read_text(path), file_format(path.name, fmt))
    except Unprocessable as exc:
        for problem in exc.details if exc.code == "invalid_rows" else []:
            click.echo(f"line {problem['line']}: {'; '.join(problem['errors'])}", err=True)
        raise
    result = store.publish(table, publication)
    click.echo(f"published {table}: {result['upserted']} upserted, {result['deleted']} deleted")


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise click.ClickException(f"{path} is not UTF-8 text") from None


@hub.command("publish-bundle")
@click.argument("path", type=click.Path(exists=True, path_type=Path))
@click.option("--group", "group", required=True, help="Roll the bundle out to this group of nodes.")
@hub_options
def hub_publish_bundle(path, group, hub_dir, database_url):
    """Verify a signed bundle (folder or .tar.gz) with the hub's trusted keys, store it, target GROUP for its name."""
    record = _open(hub_dir, database_url).publish_bundle(path, group)
    click.echo(f"published {record['name']} {record['version']} ({record['digest'][:12]}) to group {group}")


@click.group(cls=Group)
def sync():
    """This node's sync with the hub (HUB_URL and HUB_TOKEN, or keys/hub.token)."""


def _node(ctx):
    from ..app import create_app

    app = create_app({**app_overrides(ctx), "SYNC_WORKER": False}, watch=False)
    return app.extensions["storefront_edge"]


@sync.command("now")
@click.pass_context
def sync_now(ctx):
    """Run one sync round now (push events, pull hub changes, follow the bundle rollout)."""
    from ..sync.worker import record_round, sync_once

    node = _node(ctx)
    try:
        result = sync_once(node)
        record_round(node.data_dir, result)
        for notice in result["notices"]:
            click.echo(f"notice: {notice}", err=True)
        click.echo(json.dumps(result))
    finally:
        node.close()


@sync.command("status")
@click.pass_context
def sync_status(ctx):
    """Pending and retained changes, cursors, the last round's outcome and the newest notices, e.g. a hub restore (JSON)."""
    from ..sync.report import status_report

    node = _node(ctx)
    try:
        click.echo(json.dumps(status_report(node), indent=2))
    finally:
        node.close()
