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


def store_of_change(table: SyncedTable, pk, row: str | None) -> str | None:
    """The store a change of a per-store table belongs to: its row's store column, else its key's ``<store>/`` prefix."""
    import json

    if row:
        try:
            value = json.loads(row).get(table.store_column)
        except (ValueError, AttributeError):
            value = None
        if isinstance(value, str):
            return value
    if table.store_key and isinstance(pk, str) and "/" in pk:
        return pk.partition("/")[0]
    return None


def for_stores(delta, tables: dict, stores) -> "object":
    """``delta`` with only the changes a node of ``stores`` needs: every change of a node-wide table, and of a per-store
    table (``store_column``) those of its stores. ``stores`` ``None`` (a node that did not say): unchanged."""
    from .delta import seal

    scoped = {name: t for name, t in tables.items() if t.store_column}
    if stores is None or not scoped or not any(c.tbl in scoped for c in delta.changes):
        return delta
    wanted = set(stores)
    kept = [c for c in delta.changes if c.tbl not in scoped or store_of_change(scoped[c.tbl], c.pk, c.row) in wanted]
    return seal(delta.header, kept)
