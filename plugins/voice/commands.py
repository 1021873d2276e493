"""``storefront-edge voice ...`` (the Wyoming server) and ``storefront-edge hub voice-tickets``."""

from __future__ import annotations

import json

import click

from edge.api import hub_options, open_hub_store


@click.group("voice")
def voice_group():
    """The voice plugin's commands."""


@voice_group.command("wyoming")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=10300, show_default=True, type=click.IntRange(1, 65535))
@click.option("--store", help="The store whose knowledge answers (required on a node of several stores).")
@click.pass_context
def wyoming(ctx, host, port, store):
    """Serve the voice pipeline over the Wyoming protocol (Home Assistant Assist, Rhasspy)."""
    from edge.api import open_node

    from .knowledge import SERVING
    from .wyoming_server import serve

    node = open_node(ctx)
    try:
        SERVING.set(_served_store(node.config["STORES"], store))
        serve(node, host, port)
    except OSError as exc:
        raise click.ClickException(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    finally:
        node.close()


def _served_store(stores: list[str], store: str | None) -> str:
    """The store the Wyoming server answers for: ``store``, which the node must serve, or the node's only store."""
    if store is None and len(stores) == 1:
        return stores[0]
    if store not in stores:
        raise click.BadParameter(f"name one of this node's stores: {', '.join(stores)}", param_hint="--store")
    return store


@click.group("hub")
def hub_group():
    """Hub commands added by the voice plugin."""


@hub_group.command("voice-tickets")
@hub_options
@click.option("--all", "show_all", is_flag=True, help="Closed tickets too.")
@click.option("--store", "stores", multiple=True, help="Only this store's tickets (repeatable; default: every store).")
def voice_tickets(hub_dir, database_url, show_all, stores):
    """List the open hand-off tickets every store has sent (JSON lines, oldest first; each names its store)."""
    store = open_hub_store(hub_dir, database_url)
    try:
        rows = sorted(store.rows("voice_tickets"), key=lambda r: r.get("created_at") or "")
    finally:
        store.close()
    for row in rows:
        if (show_all or row.get("status", "open") == "open") and (not stores or row.get("store", "default") in stores):
            click.echo(json.dumps(row, ensure_ascii=False, sort_keys=True))
