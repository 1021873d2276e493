"""Deletes of hub-owned rows on the PostgreSQL hub: tombstone each row and log a ``D`` change for the edges.

(Upserts go through :func:`edge.hub.pg_log.publish_rows`; both run in the publication's one transaction.)
"""

from __future__ import annotations

from .base import HUB_ORIGIN
from .pg_log import mark_last_seq, tick
from .pg_schema import SCHEMA_VERSION, key_text, q

DELETE = """
WITH input AS (SELECT value AS key, ordinality - 1 AS n FROM jsonb_array_elements_text(%(keys)s::jsonb) WITH ORDINALITY),
gone AS (
    UPDATE {table} AS t SET deleted = true, hlc = %(first)s::bigint + input.n FROM input
    WHERE t.origin = %(origin)s AND t.key = input.key AND NOT t.deleted
    RETURNING t.row, t.hlc)
INSERT INTO hub_changes (tbl, pk, op, row, hlc, origin, schema_ver)
SELECT %(tbl)s, row -> %(key)s, 'D', jsonb_build_object(%(key)s, row -> %(key)s), hlc, %(origin)s, %(version)s
FROM gone ORDER BY hlc
"""


def complete_new_rows(cur, table, schema, rows: list[dict]) -> list[dict]:
    """``rows`` with each row whose key is not live in ``table`` yet completed with the columns' defaults
    (as a SQLite hub stores it); rows of live keys stay partial updates."""
    keys = list(dict.fromkeys(key_text(r[table.key]) for r in rows))
    if not keys:
        return rows
    from psycopg.types.json import Jsonb

    live = {r["key"] for r in cur.execute(f"SELECT key FROM {q(table.name)} WHERE origin = %s AND NOT deleted AND key IN "
                                          "(SELECT jsonb_array_elements_text(%s::jsonb))", [HUB_ORIGIN, Jsonb(keys)])}
    return [row if key_text(row[table.key]) in live else schema.complete(row) for row in rows]


def publish_deletes(cur, table, keys: list) -> int:
    """Delete the hub-owned rows of ``table`` with these keys (absent ones are skipped); return how many were live."""
    from psycopg.types.json import Jsonb

    unique = list(dict.fromkeys(key_text(k) for k in keys))
    if not unique:
        return 0
    first = tick(cur, len(unique))
    cur.execute(DELETE.format(table=q(table.name)), {"keys": Jsonb(unique), "first": first, "origin": HUB_ORIGIN,
                                                     "tbl": table.name, "key": table.key, "version": SCHEMA_VERSION})
    mark_last_seq(cur)
    return cur.rowcount
