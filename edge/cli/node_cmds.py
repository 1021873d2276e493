"""``storefront-edge serve`` and ``storefront-edge init``."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import click

from ..auth import is_loopback
from ..paths import models_lite_dir, trusted_dir
from .common import app_overrides, data_dir_of

log = logging.getLogger(__name__)


def _keys_from_environment(ctx) -> bool:
    from flask import Flask

    from ..auth import keys_configured
    from ..config import load_config

    probe = Flask("probe")
    load_config(probe, app_overrides(ctx))
    return keys_configured(probe.config)


def loopback_host(host: str) -> bool:
    """Whether binding ``host`` listens on loopback only: ``localhost`` or a loopback address.

    The empty string is not (gunicorn binds every interface for it), nor is a name other than
    ``localhost`` (it may resolve to anything).
    """
    host = (host or "").strip().strip("[]")
    if not host:
        return False
    return host == "localhost" or is_loopback(host)


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind.")
@click.option("--port", default=8080, show_default=True, type=click.IntRange(1, 65535), help="Port to bind.")
@click.option("--workers", default=2, show_default=True, type=click.IntRange(1, 64), help="gunicorn worker processes.")
@click.option("--threads", default=8, show_default=True, type=click.IntRange(1, 64),
              help="Request threads per gthread worker (each slow client holds one until its read deadline).")
@click.option("--worker-class", default="gthread", show_default=True, type=click.Choice(["gthread", "sync"]),
              help="gthread keeps client connections alive; sync closes each (for a reverse proxy in front).")
@click.option("--debug", is_flag=True, help="Flask's development server instead of gunicorn (never in production).")
@click.pass_context
def serve(ctx, host, port, workers, threads, worker_class, debug):
    """Serve the node (gunicorn) on HOST:PORT."""
    if not loopback_host(host) and not _keys_from_environment(ctx):
        raise click.ClickException(
            f"refusing to bind {host} without API keys: set STOREFRONT_EDGE_CLIENT_KEY and STOREFRONT_EDGE_ADMIN_KEY, "
            "or bind 127.0.0.1")
    overrides = app_overrides(ctx)
    if debug:
        from ..app import create_app

        create_app(overrides).run(host=host, port=port, debug=True, use_reloader=False)
        return
    from ..server import serve as run_gunicorn

    run_gunicorn(host, port, workers, threads, data_dir_of(ctx), overrides, worker_class)


def trust_shipped_keys(data: Path, models: Path) -> int:
    """Trust the public keys shipped in ``models_lite/keys`` (the shipped bundles' signers)."""
    count = 0
    for public in sorted((models / "keys").glob("*.pub")):
        target = trusted_dir(data) / public.name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(public, target)
        count += 1
    return count


def install_default_bundles(data: Path, models: Path) -> list[str]:
    """Install every signed bundle folder in ``models_lite`` not installed yet; activate each name that has no active version."""
    from ..bundles.manifest import read_manifest
    from ..bundles.registry import BundleRegistry
    from .bundle import installed_plugin_names

    registry, done, plugins = BundleRegistry(data), [], installed_plugin_names()
    for folder in sorted(p.parent for p in models.glob("*/manifest.sig")):
        name = read_manifest(folder).name
        result = registry.install(folder, activate=registry.active_version(name) is None, available_plugins=plugins)
        done.append(f"{result.name} {result.version}" + (" (active)" if result.activated else ""))
    return done


@click.command()
@click.option("--demo", is_flag=True, help="Also load every plugin's demo data from the models folder (the demo catalog).")
@click.option("--models-dir", type=click.Path(file_okay=False, path_type=Path), help="Shipped bundles and demo data. Default: the project's models_lite/")
@click.pass_context
def init(ctx, demo, models_dir):
    """Create the data folder and store, trust the shipped keys, install every shipped bundle."""
    from ..app import create_app

    data, models = data_dir_of(ctx), models_dir or models_lite_dir()
    app = create_app(app_overrides(ctx), watch=False)
    node = app.extensions["storefront_edge"]
    try:
        click.echo(f"store ready: {node.store.path}")
        click.echo(f"trusted shipped keys: {trust_shipped_keys(data, models)}")
        for line in install_default_bundles(data, models):
            click.echo(f"bundle: {line}")
        if demo:
            _load_demo(node, models)
    finally:
        node.close()


def _load_demo(node, models: Path) -> None:
    """Call every plugin's ``load_demo`` hook in turn; a failure stops with its one-line message."""
    for plugin in node.plugins.usable():
        summary = node.plugins.call(plugin.name, "load_demo", node=node, models_dir=models)
        if summary:
            click.echo(f"demo {summary}")
