"""The root command and its sub-commands."""

from __future__ import annotations

import logging

import click

from .. import __version__
from .common import Group


@click.group(cls=Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--data-dir", type=click.Path(file_okay=False), envvar="STOREFRONT_EDGE_DATA_DIR",
              help="Folder for all state (store, bundles, keys, caches). Default: ./var")
@click.option("-v", "--verbose", is_flag=True, help="Log more.")
@click.version_option(__version__, prog_name="storefront-edge")
def cli(data_dir, verbose):
    """storefront-edge: serve AI plugins from a signed model bundle on an in-store or CDN edge node."""
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO, format="%(levelname)s %(name)s: %(message)s")


@click.group(cls=Group)
def convert():
    """Training-side tools: turn trained models into small signed bundles (needs the 'convert' extra)."""


# (module, command name, group to add it to): present only when that part of the project is.
_OPTIONAL = (("converters.cli", "vision", convert), ("converters.voice.cli", "voice_encoder", convert), ("edge.cli.sync_cmds", "hub", cli), ("edge.cli.sync_cmds", "sync", cli))


def _register() -> None:
    """Add every sub-command; groups of other parts of the project only when their module exists."""
    import importlib
    import importlib.util

    from . import bundle, doctor, keys, node_cmds

    for command in (node_cmds.serve, node_cmds.init, keys.keys, bundle.bundle, doctor.doctor, convert):
        cli.add_command(command)
    for module, name, group in _OPTIONAL:
        if importlib.util.find_spec(module) is not None:
            group.add_command(getattr(importlib.import_module(module), name))


_register()
