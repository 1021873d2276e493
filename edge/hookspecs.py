"""The plugin contract: pluggy hook specifications (project name ``storefront_edge``).

A plugin is a module (or object) registered under the entry-point group ``storefront_edge.plugins``;
the entry-point name is the plugin's name. Built-in plugins register exactly like third-party ones.
Each hook is called once per plugin by the host, which isolates one plugin's failure from the rest.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import pluggy

PROJECT = "storefront_edge"
ENTRY_POINT_GROUP = "storefront_edge.plugins"

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)

Direction = Literal["hub_to_edge", "edge_to_hub"]
Policy = Literal["hub_owned", "append_only", "last_writer_wins", "counter"]


@dataclass(frozen=True)
class PluginInfo:
    """What a plugin is and needs. ``models`` are looked up by name across the active bundles; ``requires``
    names the plugins it needs (started before it; without one it reports not ready and is not started);
    ``config`` is a pydantic model class validating its settings."""

    name: str
    version: str
    description: str = ""
    models: tuple[str, ...] = ()
    config: type | None = None
    requires: tuple[str, ...] = ()


@dataclass(frozen=True)
class SyncedTable:
    """A table the plugin syncs with the hub: its direction, conflict policy and primary key.

    Per-store data (CDN edge mode): ``store_column`` names the column holding each row's store (events carry
    their store this way); ``store_key`` additionally makes the table's key ``"<store>/<store_key>"`` (a
    catalog row's key is ``"shop-a/A1"``), so that two stores may hold the same SKU and the hub publishes,
    and serves to each node, the rows of that node's stores. A table with neither is node-wide.
    """

    name: str
    direction: Direction
    policy: Policy
    key: str = "id"
    store_column: str | None = None
    store_key: str | None = None


@dataclass
class HealthReport:
    """A plugin's own view of its health; ``ready=False`` makes its routes answer 503. ``models`` names models it
    uses beyond its ``PluginInfo`` (chosen by config), so that ``/readyz`` shows which bundle serves them."""

    ready: bool
    detail: str = ""
    data: dict = field(default_factory=dict)
    models: tuple[str, ...] = ()


@hookspec
def plugin_info() -> PluginInfo:
    """Describe the plugin: name (equal to its entry-point name), version, models it needs, config schema."""


@hookspec
def blueprint(node):
    """Return a Flask Blueprint with the plugin's routes (mounted under ``/v1/<name>`` unless it sets a ``/v1/...`` prefix)."""


@hookspec
def migrations():
    """Return a ``sqlite_utils.Migrations`` set creating and evolving the plugin's tables."""


@hookspec
def synced_tables() -> list[SyncedTable]:
    """Return the tables the plugin syncs with the hub, with direction and conflict policy."""


@hookspec
def startup(node):
    """Start the plugin in this worker (after migrations, with the node ready to hand out models)."""


@hookspec
def shutdown(node):
    """Release what ``startup`` took (threads, files)."""


@hookspec
def cli_commands() -> list:
    """Return click commands for ``storefront-edge``; a group named like a built-in one (``hub``) adds its commands to it."""


@hookspec
def load_demo(node, models_dir):
    """Load the plugin's demo data from the shipped models folder (``init --demo``); return a one-line summary."""


@hookspec
def health(node, store) -> HealthReport:
    """Report the plugin's own readiness beyond its models and config.

    ``store`` is the store a request is for (the per-request gate asks this way, so a store that is not
    ready yet does not hold up the others), or ``None`` for the whole node (``/readyz``)."""
