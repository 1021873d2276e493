"""Commands contributed by plugins (the ``cli_commands`` hook), found when the command line needs them.

The plugins are those the node would load (``STOREFRONT_EDGE_PLUGINS``, ``EXTRA_PLUGINS``, the instance
config file). A returned command is added under ``storefront-edge``; a returned group named like a
built-in group (``hub``) adds its commands to that group. Built-in commands always win a name clash, and
a plugin whose hook fails (or that is blocked by a missing requirement) adds nothing.
"""

from __future__ import annotations

import functools
import logging

import click

log = logging.getLogger(__name__)


def _selection(ctx: click.Context) -> tuple:
    from flask import Flask

    from ..config import load_config

    probe = Flask("probe")
    data_dir = ctx.find_root().params.get("data_dir")
    load_config(probe, {"DATA_DIR": data_dir} if data_dir else {})
    plugins = probe.config.get("PLUGINS")
    return (tuple(plugins) if plugins is not None else None, tuple(probe.config.get("EXTRA_PLUGINS") or ()))


@functools.lru_cache(maxsize=8)
def _commands_of(allowed, extra) -> tuple:
    from ..plugin_host import PluginHost

    host = PluginHost(allowed, extra)
    try:
        host.load({})
    except Exception as exc:  # the built-in commands keep working whatever a plugin does
        log.warning("plugin commands unavailable: %s", exc)
        return ()
    found = []
    for name, commands in host.call_each("cli_commands").items():
        if isinstance(commands, Exception):
            continue
        found += [c for c in commands or () if isinstance(c, click.Command) and c.name]
    return tuple(found)


def contributed(ctx: click.Context, group: click.Group) -> dict[str, click.Command]:
    """The plugin commands that belong in ``group`` (the root, or one of the root's built-in groups)."""
    root = ctx.find_root().command
    try:
        commands = _commands_of(*_selection(ctx))
    except Exception as exc:  # a broken config file: built-in commands only
        log.warning("plugin commands unavailable: %s", exc)
        return {}
    if group is root:
        return {c.name: c for c in commands if c.name not in root.commands}
    if root.commands.get(group.name) is not group:
        return {}
    merged: dict[str, click.Command] = {}
    for command in commands:
        if command.name == group.name and isinstance(command, click.Group):
            for name, sub in command.commands.items():
                if name not in group.commands:
                    merged[name] = _joined(merged[name], sub) if name in merged else sub
    return merged


def _joined(first: click.Command, second: click.Command) -> click.Command:
    """Two plugins' groups of one name (``hub train``) as one group holding both's commands; else the first."""
    if not (isinstance(first, click.Group) and isinstance(second, click.Group)):
        return first
    return click.Group(first.name, commands={**second.commands, **first.commands}, help=first.help)
