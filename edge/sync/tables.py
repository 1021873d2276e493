"""Which tables sync and how: gathered from every plugin's ``synced_tables()`` hook."""

from __future__ import annotations

from edge.hookspecs import SyncedTable

POLICIES = {"hub_owned", "append_only", "last_writer_wins", "counter"}
DIRECTIONS = {"hub_to_edge", "edge_to_hub"}


def synced_tables(plugins) -> dict[str, SyncedTable]:
    """Every valid ``SyncedTable`` declared by the usable plugins of ``plugins`` (a PluginHost), by name."""
    found: dict[str, SyncedTable] = {}
    for name, declared in plugins.call_each("synced_tables").items():
        if declared is None or isinstance(declared, Exception):
            continue
        for table in declared:
            if table.policy not in POLICIES or table.direction not in DIRECTIONS:
                plugins.plugins[name].errors.append(f"synced table {table.name}: unknown policy or direction")
                continue
            found[table.name] = table
    return found


def edge_sends(table: SyncedTable) -> bool:
    """Whether an edge captures and pushes local changes of ``table``."""
    return table.direction == "edge_to_hub" or table.policy == "last_writer_wins"


def hub_sends(table: SyncedTable) -> bool:
    """Whether the hub serves changes of ``table`` to edges."""
    return table.direction == "hub_to_edge" or table.policy == "last_writer_wins"
