"""The hub's side of sync: check and apply an edge's push, answer an edge's pull."""

from __future__ import annotations

import json

from edge.errors import Forbidden
from edge.sync.apply import Applier
from edge.sync.delta import Delta, decode, encode
from edge.sync.export import export_delta, export_snapshot, needs_snapshot
from edge.sync.tables import edge_sends, hub_sends

PULL_LIMIT = 10_000


def _writable(tables: dict) -> set:
    return {name for name, t in tables.items() if edge_sends(t) and t.policy != "hub_owned"}


def _stamped(change: tuple, node: str, has_origin: bool | None) -> tuple:
    """The change with ``node`` as its origin; ``has_origin`` None: stamp the row when it carries an origin."""
    row = change[4]
    if has_origin is not False and row:
        data = json.loads(row)
        if has_origin or "origin" in data:
            if data.get("origin") not in (None, node):
                raise Forbidden(f"a change of {change[1]} carries another node's origin", code="foreign_origin")
            data["origin"] = node
            row = json.dumps(data)
    return (*change[:4], row, change[5], node, change[7])


def check_push(delta: Delta, node: str, tables: dict, has_origin=lambda table: None) -> Delta:
    """Refuse a delta from another origin or touching tables an edge may not write; stamp the node as origin.

    ``has_origin(table)`` says whether the hub's table has an ``origin`` column (``None``: as the row says).
    """
    if delta.meta.get("origin") != node:
        raise Forbidden(f"the delta's origin '{delta.meta.get('origin')}' is not the authenticated node", code="origin_mismatch")
    if delta.kind != "delta":
        raise Forbidden("edges push deltas, not snapshots", code="snapshot_refused")
    writable, stamped, known = _writable(tables), [], {}
    for change in delta.changes:
        if change[1] not in writable:
            raise Forbidden(f"table '{change[1]}' cannot be written by an edge", code="forbidden_table")
        if change[1] not in known:
            known[change[1]] = has_origin(change[1])
        stamped.append(_stamped(change, node, known[change[1]]))
    return Delta(delta.meta, stamped)


def sqlite_has_origin(db):
    """``has_origin`` for a SQLite hub: whether the table exists here with an ``origin`` column."""
    return lambda table: db[table].exists() and "origin" in {c.name for c in db[table].columns}


def push(db, data: bytes, node: str, tables: dict, workdir) -> dict:
    """Verify, check and apply an edge delta; return the applier's result (the ack)."""
    delta = check_push(decode(data, workdir), node, tables, sqlite_has_origin(db))
    return Applier(db, tables, relog=True).apply(delta, origin=node)


def cursor_of(db, node: str) -> dict:
    """What the hub has applied from ``node``: ``{"epoch", "seq", "hlc"}``."""
    row = db.execute("SELECT epoch, seq, hlc FROM _sync_cursors WHERE origin = ?", [node]).fetchone()
    return dict(zip(("epoch", "seq", "hlc"), row)) if row else {"epoch": None, "seq": 0, "hlc": None}


def pull(db, since: int, epoch: str | None, tables: dict, workdir, limit: int = PULL_LIMIT) -> bytes | None:
    """The compressed delta (or snapshot) after the edge's cursor; ``None`` when it is up to date."""
    served = {n: t for n, t in tables.items() if hub_sends(t)}
    if needs_snapshot(db, since, epoch, served):
        return encode(export_snapshot(db, served), workdir)
    delta = export_delta(db, since, limit, served)
    if delta.meta["to_seq"] <= since:
        return None
    return encode(delta, workdir)


def compact(db, keep: int) -> int:
    """Prune the hub's change log to its last ``keep`` changes (older cursors get a snapshot)."""
    from edge.sync.export import last_seq, prune

    return prune(db, last_seq(db) - keep)
