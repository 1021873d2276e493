"""Which tables sync and how: gathered from every plugin's ``synced_tables()`` hook.

Last-writer-wins and counter tables flow both ways whatever their declared direction: an edge pushes its
changes, the hub applies them and re-logs them (keeping their origin) for the other edges. A counter's
changes are differences, so a store never applies a counter change of its own origin that comes back
(see :mod:`edge.sync.apply`); the hub also captures its own writes to counter tables (deliveries).
"""

from __future__ import annotations

from edge.hookspecs import SyncedTable

POLICIES = {"hub_owned", "append_only", "last_writer_wins", "counter"}
DIRECTIONS = {"hub_to_edge", "edge_to_hub"}
BOTH_WAYS = {"last_writer_wins", "counter"}


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
    return table.direction == "edge_to_hub" or table.policy in BOTH_WAYS


def hub_sends(table: SyncedTable) -> bool:
    """Whether the hub serves changes of ``table`` to edges."""
    return table.direction == "hub_to_edge" or table.policy in BOTH_WAYS


def hub_captures(table: SyncedTable) -> bool:
    """Whether the hub captures its own writes to ``table`` (hub-to-edge tables and counters)."""
    return table.direction == "hub_to_edge" or table.policy == "counter"
