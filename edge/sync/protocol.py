"""The sync protocol, defined once: a change, a delta header, the formats, the routes, the media type, the headers.

Every reader and writer of a change (capture, export, apply, the hub's checks, the PostgreSQL log and
writer) takes its columns from :class:`Change`; every delta carries a :class:`Header`; the edge's client and
the hub's routes use the same :data:`ROUTES`, :data:`MEDIA_TYPE` and header names.

Formats (the edge names those it reads in :data:`FORMATS_HEADER` on every pull; the hub writes the newest
of them it can write, and an edge that sends no list gets format ``/2``, the newest that edges before
format ``/3`` read. The other way, the hub's cursor reply lists the formats it reads (``reads``) and the
edge pushes in the newest of them; a hub that lists none is older and gets ``/2``):

* ``storefront-edge-delta/1``: the rows' sha256 over their Python ``repr`` (read only);
* ``storefront-edge-delta/2``: the rows' sha256 over SQLite's ``printf('%Q')`` of each field;
* ``storefront-edge-delta/3``: as ``/2``, with the canonical header (every field but ``sha256``, as sorted
  JSON) hashed before the rows, so a header that lies about its rows is refused.

``schema_version`` of formats ``/1`` and ``/2`` headers meant one thing on a SQLite store (its count of
migrations) and another on the PostgreSQL hub (a constant); no one read it, so format ``/3`` drops it. A
change's ``schema_ver`` stays what its capturing store stamped (diagnostics only; no applier reads it).
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any, NamedTuple

FORMAT_V1 = "storefront-edge-delta/1"
FORMAT_V2 = "storefront-edge-delta/2"
FORMAT_V3 = "storefront-edge-delta/3"
FORMAT = FORMAT_V3
READS = (FORMAT_V3, FORMAT_V2, FORMAT_V1)  # what this code reads, newest first
WRITES = (FORMAT_V3, FORMAT_V2)  # what this code writes, newest first
LEGACY_READS = (FORMAT_V2, FORMAT_V1)  # what an edge that names no formats reads

MEDIA_TYPE = "application/zstd"
MEDIA_TYPES = {MEDIA_TYPE, "application/octet-stream"}  # what the hub accepts on a push
FORMATS_HEADER = "X-Delta-Formats"
BUNDLE_HEADER = "X-Bundle-Version"  # the one active version, for hubs that roll out one bundle per group
BUNDLES_HEADER = "X-Bundle-Versions"  # JSON {bundle name: active version}
STORES_HEADER = "X-Stores"  # the store ids the node serves, comma-separated (CDN edge mode; shown by `hub status`)
ROUTES = {"cursor": "/v1/hub/sync/cursor", "push": "/v1/hub/sync/push", "pull": "/v1/hub/sync/pull",
          "rollout": "/v1/hub/rollout", "bundle": "/v1/hub/bundles/<digest>"}


class Change(NamedTuple):
    """One captured write: ``op`` is ``I``/``U``/``D`` (``S`` in a snapshot); ``row`` the row as JSON text."""

    seq: int
    tbl: str
    pk: Any
    op: str
    row: str | None
    hlc: int
    origin: str | None
    schema_ver: int


COLUMNS = Change._fields
LOGGED = COLUMNS[1:]  # what a store appends to its own log (it numbers the changes itself)


def column_list(columns=COLUMNS, prefix: str = "") -> str:
    """``columns`` as a SQL list, each with ``prefix`` (``"c."``) when given."""
    return ", ".join(prefix + c for c in columns)


def placeholders(columns=COLUMNS, mark: str = "?") -> str:
    """One parameter ``mark`` per column, comma-separated."""
    return ", ".join(mark for _ in columns)


@dataclasses.dataclass(frozen=True)
class Header:
    """A delta's header (its ``meta`` table). ``count`` and ``sha256`` are filled in by ``seal``/the export.

    ``log_start``: the oldest sequence the sender still holds (a new epoch must start there); ``tables`` and
    ``cursors``: a snapshot's tables and what the sender has applied of each origin (counters); ``reason``:
    why the hub sent a snapshot when the edge asked for a delta (``hub_restored``: see the README).
    """

    origin: str
    epoch: str
    from_seq: int
    to_seq: int
    kind: str = "delta"
    format: str = FORMAT
    count: int = 0
    sha256: str = ""
    log_start: int | None = None
    tables: tuple | None = None
    cursors: dict | None = None
    reason: str | None = None  # set on a push too: "hub_lost_changes" when the node re-sends what a restored hub lost

    def fields(self) -> dict:
        """The header as a dict of the fields that are set (what the delta file stores)."""
        return {k: v for k, v in dataclasses.asdict(self).items() if v is not None}

    def canonical(self) -> bytes:
        """The bytes format ``/3`` hashes before the rows: every set field but ``sha256``, as sorted JSON."""
        fields = {k: v for k, v in self.fields().items() if k != "sha256"}
        return json.dumps(fields, sort_keys=True, separators=(",", ":"), default=list).encode()

    def replace(self, **changes) -> "Header":
        """A copy with ``changes``."""
        return dataclasses.replace(self, **changes)


REQUIRED = ("origin", "epoch", "from_seq", "to_seq", "count", "sha256")
_TYPES = {"origin": str, "epoch": str, "from_seq": int, "to_seq": int, "kind": str, "format": str, "count": int,
          "sha256": str, "log_start": int, "tables": list, "cursors": dict, "reason": str}


def header_from(meta: dict) -> Header:
    """The typed header of a delta file's ``meta``; ``ValueError`` naming what is missing or of the wrong type.

    Unknown keys (``schema_version`` of formats ``/1`` and ``/2``) are ignored.
    """
    missing = [k for k in REQUIRED if k not in meta]
    if missing:
        raise ValueError(f"the delta's header lacks {', '.join(missing)}")
    known = {k: v for k, v in meta.items() if k in _TYPES and v is not None}
    wrong = [k for k, v in known.items() if not isinstance(v, _TYPES[k]) or (_TYPES[k] is int and isinstance(v, bool))]
    if wrong:
        raise ValueError(f"the delta's header has {', '.join(sorted(wrong))} of the wrong type")
    if "tables" in known:
        known["tables"] = tuple(known["tables"])
    return Header(**known)


def chosen_format(accepted: str | None) -> str | None:
    """The newest format this code writes among ``accepted`` (a comma-separated list; ``None``: an older edge)."""
    names = LEGACY_READS if accepted is None else [a.strip() for a in accepted.split(",") if a.strip()]
    return next((f for f in WRITES if f in names), None)


class PullRequest(NamedTuple):
    """What an edge asks the hub for: the changes after ``(epoch, since)``, in ``format``.

    ``mark_seq``/``mark_hlc`` name the last hub change the edge applied (its sequence and clock): a hub
    whose log holds another change at that sequence, or whose log ends before ``since``, was restored
    from a backup and answers with a snapshot (``reason: hub_restored``).
    """

    since: int = 0
    epoch: str | None = None
    mark_seq: int | None = None
    mark_hlc: int | None = None
    format: str = FORMAT_V2
    stores: tuple | None = None  # the node's stores (X-Stores): it gets only their rows of per-store tables

    def params(self) -> dict:
        """The query parameters of this request (the format travels in :data:`FORMATS_HEADER`)."""
        fields = {"since": self.since, "epoch": self.epoch, "mark_seq": self.mark_seq, "mark_hlc": self.mark_hlc}
        return {k: v for k, v in fields.items() if v is not None}


def restore_reason(request: PullRequest, hub_epoch: str, last_seq: int, horizon: int, hlc_at) -> str | None:
    """``"hub_restored"`` when the edge holds hub changes this hub does not (``hlc_at(seq)``: the logged clock or None)."""
    if request.epoch != hub_epoch:
        return None
    if request.since > last_seq:
        return "hub_restored"
    if request.mark_seq is not None and request.mark_seq > horizon and hlc_at(request.mark_seq) != request.mark_hlc:
        return "hub_restored"
    return None
