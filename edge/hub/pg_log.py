"""The PostgreSQL hub's change log: appends in commit order, hub-owned publishes, deltas and snapshots for edges.

Appending locks the ``hub_state`` row first and records ``last_seq`` in the same transaction, so a reader
(one REPEATABLE READ snapshot) sees every change up to ``last_seq`` and none after it: a change that
commits late can never fall behind an edge's cursor.
"""

from __future__ import annotations

import json
import time

from edge.sync.delta import Delta, seal
from edge.sync.protocol import LOGGED, Change, Header, PullRequest, column_list, restore_reason
from edge.sync.tables import hub_sends

from .base import HUB_ORIGIN
from .pg_schema import SCHEMA_VERSION, q

SNAPSHOT_RATIO = 0.5  # as on a SQLite store (edge.sync.export)
SELECTED = column_list().replace("row", "row::text AS row", 1)  # the log's row is jsonb; a change carries text


def tick(cur, count: int) -> int:
    """Lock the hub's state row and advance its clock by ``count`` ticks past every clock seen; return the first."""
    now = int(time.time() * 1000) * 65536
    row = cur.execute("UPDATE hub_state SET hlc = greatest(hlc + 1, %s::bigint, (SELECT coalesce(max(max_hlc), 0) + 1 "
                      "FROM hub_cursors)) + %s::bigint - 1 WHERE id = 1 RETURNING hlc", [now, count]).fetchone()
    return row["hlc"] - count + 1


def lock_log(cur) -> None:
    """Lock the hub's state row: appends to the change log commit in sequence order."""
    cur.execute("SELECT 1 FROM hub_state WHERE id = 1 FOR UPDATE")


def mark_last_seq(cur) -> None:
    """Record the newest sequence appended in this transaction (the state row is locked)."""
    cur.execute("UPDATE hub_state SET last_seq = greatest(last_seq, (SELECT coalesce(max(seq), 0) FROM hub_changes)) WHERE id = 1")


APPEND = (f"INSERT INTO hub_changes ({column_list(LOGGED)}) VALUES "
          f"({', '.join('%s::jsonb' if c == 'row' else '%s' for c in LOGGED)})")


def append(cur, changes: list[Change]) -> None:
    """Append ``changes`` to the log, numbered and stamped by the hub (locks the log first)."""
    from psycopg.types.json import Jsonb

    lock_log(cur)
    cur.executemany(APPEND, [c._replace(pk=Jsonb(c.pk), schema_ver=SCHEMA_VERSION)[1:] for c in changes])
    mark_last_seq(cur)


PUBLISH = """
WITH input AS (SELECT value AS row, ordinality - 1 AS n FROM jsonb_array_elements(%(rows)s::jsonb) WITH ORDINALITY),
up AS (
    INSERT INTO {table} AS old (origin, key, row, hlc, writer, deleted)
    SELECT %(origin)s, CASE jsonb_typeof(row -> %(key)s) WHEN 'string' THEN row ->> %(key)s ELSE (row -> %(key)s)::text END,
           row, %(first)s::bigint + n, %(origin)s, false FROM input
    ON CONFLICT (origin, key) DO UPDATE SET row = CASE WHEN old.deleted THEN excluded.row ELSE old.row || excluded.row END,
        hlc = excluded.hlc, deleted = false
    RETURNING row, hlc, (xmax = 0) AS inserted)
INSERT INTO hub_changes ({logged})
SELECT %(tbl)s, row -> %(key)s, CASE WHEN inserted THEN 'I' ELSE 'U' END, row, hlc, %(origin)s, %(version)s FROM up ORDER BY hlc
"""


def publish_rows(cur, table, rows: list[dict]) -> int:
    """Upsert hub-owned ``rows`` of ``table`` (last one per key wins) and log each as ``I``/``U``; return how many."""
    from psycopg.types.json import Jsonb

    unique = list({json.dumps(row[table.key]): row for row in rows}.values())
    if not unique:
        return 0
    first = tick(cur, len(unique))
    cur.execute(PUBLISH.format(table=q(table.name), logged=column_list(LOGGED)), {"rows": Jsonb(unique), "origin": HUB_ORIGIN, "key": table.key,
                                                      "first": first, "tbl": table.name, "version": SCHEMA_VERSION})
    mark_last_seq(cur)
    return len(unique)


# -- reading ---------------------------------------------------------------------------------------
def read_state(cur) -> dict:
    """``epoch``, ``hlc``, ``last_seq`` and ``horizon`` (the oldest sequence still logged, minus one)."""
    state = cur.execute("SELECT epoch, hlc, last_seq FROM hub_state WHERE id = 1").fetchone()
    first = cur.execute("SELECT min(seq) AS first FROM hub_changes").fetchone()["first"]
    return {**state, "horizon": first - 1 if first is not None else state["last_seq"]}


def served_tables(tables: dict) -> dict:
    """The synced tables the hub serves to edges."""
    return {name: t for name, t in tables.items() if hub_sends(t)}


def needs_snapshot(cur, since: int, epoch: str | None, served: dict, state: dict) -> bool:
    """Whether an edge at (``epoch``, ``since``) gets a snapshot: first contact, other epoch, pruned, or far behind."""
    if (since == 0 and epoch is None) or epoch != state["epoch"] or since < state["horizon"]:
        return True
    pending = cur.execute("SELECT count(*) AS n FROM hub_changes WHERE seq > %s AND tbl = ANY(%s)", [since, sorted(served)]).fetchone()["n"]
    if pending <= 1000:
        return False
    rows = sum(cur.execute(f"SELECT count(*) AS n FROM {q(name)} WHERE NOT deleted").fetchone()["n"] for name in served)
    return pending > SNAPSHOT_RATIO * max(rows, 1)


def export_delta(cur, since: int, limit: int, served: dict, state: dict) -> Delta:
    """The logged changes of ``served`` after ``since`` (at most ``limit``); ``to_seq`` says how far it reached."""
    rows = cur.execute(f"SELECT {SELECTED} FROM hub_changes WHERE seq > %s AND tbl = ANY(%s) ORDER BY seq LIMIT %s",
                       [since, sorted(served), limit]).fetchall()
    changes = [Change(**r) for r in rows]
    to_seq = changes[-1].seq if len(changes) == limit else max(state["last_seq"], since)
    return seal(Header(origin=HUB_ORIGIN, epoch=state["epoch"], from_seq=since + 1, to_seq=to_seq,
                       log_start=state["horizon"] + 1), changes)


def export_snapshot(cur, served: dict, state: dict, reason: str | None = None) -> Delta:
    """Every live row of ``served`` as ``S`` changes, valid up to ``last_seq`` (with the cursors when it holds counters)."""
    changes = []
    for table in sorted(served.values(), key=lambda t: t.name):
        for row in cur.execute(f"SELECT key, row FROM {q(table.name)} WHERE NOT deleted ORDER BY origin, key"):
            data = row["row"]
            changes.append(Change(state["last_seq"], table.name, data.get(table.key, row["key"]), "S", json.dumps(data, default=str),
                                  state["hlc"], HUB_ORIGIN, 0))
    cursors = None
    if any(t.policy == "counter" for t in served.values()):  # the receiver re-adds its own changes not counted here yet
        cursors = {r["origin"]: {"epoch": r["epoch"], "seq": r["seq"]}
                   for r in cur.execute("SELECT origin, epoch, seq FROM hub_cursors ORDER BY origin")}
    return seal(Header(origin=HUB_ORIGIN, epoch=state["epoch"], from_seq=0, to_seq=state["last_seq"], kind="snapshot",
                       tables=tuple(sorted(served)), cursors=cursors, reason=reason), changes)


def pull(cur, request: PullRequest, tables: dict, limit: int) -> Delta | None:
    """What an edge at ``request`` needs next; ``None`` when it is up to date (a snapshot with ``reason`` when the
    edge holds changes this hub lost)."""
    served, state = served_tables(tables), read_state(cur)

    def hlc_at(seq):
        row = cur.execute("SELECT hlc FROM hub_changes WHERE seq = %s", [seq]).fetchone()
        return row["hlc"] if row else None

    reason = restore_reason(request, state["epoch"], state["last_seq"], state["horizon"], hlc_at)
    if reason or needs_snapshot(cur, request.since, request.epoch, served, state):
        return export_snapshot(cur, served, state, reason)
    delta = export_delta(cur, request.since, limit, served, state)
    return None if delta.header.to_seq <= request.since else delta


def compact(cur, keep: int) -> int:
    """Drop logged changes older than the last ``keep``; return how many (older cursors get a snapshot)."""
    return cur.execute("DELETE FROM hub_changes WHERE seq <= (SELECT last_seq FROM hub_state WHERE id = 1) - %s", [keep]).rowcount
