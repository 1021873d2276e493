"""The hub's side of sync on a SQLite hub: check and apply an edge's push, answer an edge's pull.

``check_push`` (both backends) refuses a delta from another origin, a snapshot, a table an edge may not
write, or rows that are not the contiguous run of changes its header announces (a sender that claims more
than it carries would otherwise move the hub's cursor past changes it never received).
"""

from __future__ import annotations

import json
import logging

from edge.errors import Forbidden
from edge.sync.apply import Applier
from edge.sync.delta import Delta, DeltaMismatch, decode, encode
from edge.sync.export import export_delta, export_snapshot, horizon, last_seq, needs_snapshot
from edge.sync.protocol import Change, PullRequest, restore_reason
from edge.sync.tables import edge_sends, for_stores, hub_sends, store_of_change

log = logging.getLogger(__name__)
PULL_LIMIT = 10_000
MAX_INT = (1 << 63) - 1


def _writable(tables: dict) -> set:
    return {name for name, t in tables.items() if edge_sends(t) and t.policy != "hub_owned"}


def _field_problem(change: Change) -> str | None:
    """What is wrong with the change's operation, key or clock (``None``: nothing)."""
    if change.op not in ("I", "U", "D"):
        return f"operation {change.op!r}"
    key_ok = isinstance(change.pk, str) and "\x00" not in change.pk or (
        isinstance(change.pk, int) and not isinstance(change.pk, bool) and abs(change.pk) <= MAX_INT)
    if not key_ok:
        return "key"
    if not isinstance(change.hlc, int) or isinstance(change.hlc, bool) or not 0 <= change.hlc <= MAX_INT:
        return "clock"
    return None


def _parsed_row(text: str | None) -> dict | None:
    """The row as a dict when it is a JSON object both stores can hold (no NUL, no lone surrogate), else ``None``."""
    if text is None:
        return {}
    if "\\u0000" in text:
        return None
    try:
        data = json.loads(text)
        if "\\ud" in text.lower():  # a lone surrogate escape is valid JSON that neither store can keep as text
            json.dumps(data, ensure_ascii=False).encode("utf-8")
    except (ValueError, TypeError, RecursionError):  # UnicodeEncodeError is a ValueError
        return None
    return data if isinstance(data, dict) else None


def _row_of(change: Change) -> dict:
    """The change's row as a dict; 400 ``bad_change`` for an operation, key, clock or row an edge cannot send."""
    problem = _field_problem(change)
    data = _parsed_row(change.row) if problem is None else None
    if problem is None and data is None:
        problem = "row (not a JSON object either store can hold)"
    if problem:
        raise DeltaMismatch(f"change {change.seq} of {change.tbl} has an invalid {problem}", code="bad_change")
    return data


def _stamped(change: Change, node: str, has_origin: bool | None) -> Change:
    """The change with ``node`` as its origin; ``has_origin`` None: stamp the row when it carries an origin."""
    row, data = change.row, _row_of(change)
    if has_origin is not False and row:
        if has_origin or "origin" in data:
            if data.get("origin") not in (None, node):
                raise Forbidden(f"a change of {change.tbl} carries another node's origin", code="foreign_origin")
            data["origin"] = node
            row = json.dumps(data)
    return change._replace(row=row, origin=node)


def check_contiguous(delta: Delta) -> None:
    """Refuse a push whose rows are not exactly the changes ``max(from_seq, log_start)..to_seq`` (400)."""
    header, changes = delta.header, delta.changes
    first = max(header.from_seq, header.log_start or header.from_seq)
    if not changes:
        if header.to_seq >= first:
            raise DeltaMismatch(f"the push announces changes {first}..{header.to_seq} but carries none")
        return
    seqs = [c.seq for c in changes]
    if seqs[0] != first or seqs[-1] != header.to_seq or len(seqs) != header.to_seq - first + 1:
        raise DeltaMismatch(f"the push announces changes {first}..{header.to_seq} but carries "
                            f"{len(seqs)} changes {seqs[0]}..{seqs[-1]}")


def check_stores(changes: list, tables: dict, stores: set) -> None:
    """Refuse (403 ``store_not_granted``) a push with a change of a per-store table's row of a store not in ``stores``."""
    from edge.stores import DEFAULT_STORE

    for change in changes:
        table = tables.get(change.tbl)
        if table is not None and table.store_column:
            store = store_of_change(table, change.pk, change.row) or DEFAULT_STORE
            if store not in stores:
                raise Forbidden(f"change {change.seq} of {change.tbl} is for store {store[:64]!r}, which this node "
                                "was not granted; nothing was applied", code="store_not_granted")


def check_push(delta: Delta, node: str, tables: dict, has_origin=lambda table: None, stores=None) -> Delta:
    """Refuse a delta from another origin, touching tables an edge may not write or (with ``stores``) rows of
    other stores; stamp the node as origin.

    ``has_origin(table)`` says whether the hub's table has an ``origin`` column (``None``: as the row says).
    """
    if delta.header.origin != node:
        raise Forbidden(f"the delta's origin '{delta.header.origin}' is not the authenticated node", code="origin_mismatch")
    if delta.kind != "delta":
        raise Forbidden("edges push deltas, not snapshots", code="snapshot_refused")
    check_contiguous(delta)
    writable, stamped, known = _writable(tables), [], {}
    for change in delta.changes:
        if change.tbl not in writable:
            raise Forbidden(f"table '{change.tbl}' cannot be written by an edge", code="forbidden_table")
        if change.tbl not in known:
            known[change.tbl] = has_origin(change.tbl)
        stamped.append(_stamped(change, node, known[change.tbl]))
    if stores is not None:  # after every row was checked to be a JSON object the stores can hold
        check_stores(stamped, tables, set(stores))
    return Delta(delta.header, stamped)


def sqlite_has_origin(db):
    """``has_origin`` for a SQLite hub: whether the table exists here with an ``origin`` column."""
    return lambda table: db[table].exists() and "origin" in {c.name for c in db[table].columns}


def push(db, data: bytes, node: str, tables: dict, stores=None) -> tuple[dict, str | None]:
    """Verify, check and apply an edge delta; return the applier's result (the ack) and the delta's ``reason``."""
    delta = check_push(decode(data), node, tables, sqlite_has_origin(db), stores)
    return Applier(db, tables, relog=True).apply(delta, origin=node), delta.header.reason


def cursor_of(db, node: str) -> dict:
    """What the hub has applied from ``node``: ``{"epoch", "seq", "hlc"}``."""
    row = db.execute("SELECT epoch, seq, hlc FROM _sync_cursors WHERE origin = ?", [node]).fetchone()
    return dict(zip(("epoch", "seq", "hlc"), row)) if row else {"epoch": None, "seq": 0, "hlc": None}


def _restored(db, request: PullRequest) -> str | None:
    from edge.sync.capture import state

    def hlc_at(seq):
        row = db.execute("SELECT hlc FROM _changes WHERE seq = ?", [seq]).fetchone()
        return row[0] if row else None

    return restore_reason(request, state(db)["epoch"], last_seq(db), horizon(db), hlc_at)


def pull(db, request: PullRequest, tables: dict, limit: int = PULL_LIMIT) -> tuple[bytes | None, str | None]:
    """The compressed delta (or snapshot) after the edge's cursor (``None`` when up to date), and ``hub_restored``
    when the edge holds changes this hub lost (it gets a snapshot)."""
    served = {n: t for n, t in tables.items() if hub_sends(t)}
    reason = _restored(db, request)
    if reason or needs_snapshot(db, request.since, request.epoch, served):
        return encode(for_stores(export_snapshot(db, served, reason), served, request.stores), request.format), reason
    delta = export_delta(db, request.since, limit, served)
    if delta.header.to_seq <= request.since:
        return None, None
    return encode(for_stores(delta, served, request.stores), request.format), None


def compact(db, keep: int) -> int:
    """Prune the hub's change log to its last ``keep`` changes (older cursors get a snapshot)."""
    from edge.sync.export import prune

    return prune(db, last_seq(db) - keep)
