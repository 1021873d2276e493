"""The PostgreSQL hub's schema, created idempotently under an advisory lock (workers may start together).

- ``hub_state``: the hub's epoch, its hybrid logical clock and ``last_seq``, the newest committed change.
  Every transaction that appends to the change log locks this row first, so sequence numbers are committed
  in order and a reader never skips a change that commits late.
- ``hub_changes``: the hub's change log (identity ``seq``, ``pk`` and ``row`` as JSONB), served to edges.
- ``hub_cursors`` / ``hub_retired``: per origin, what the hub has applied (epoch, seq, clock of the last
  change, highest clock seen), updated in the same transaction as the data; retired epochs.
- one table per synced plugin table, keyed by ``(origin, key)`` with the row as JSONB: edge rows keep
  their node as origin (append-only: ``ON CONFLICT DO NOTHING``), hub-owned rows have origin ``hub``,
  shared rows (last writer wins, counters) origin ``''`` with the winning ``writer`` and ``deleted`` tombstones.
- ``hub_nodes`` (with ``bundle_versions``, JSON by bundle name, and ``granted_stores``, the stores an operator
  granted the node: nodes from before grants get the stores they last reported), ``hub_bundles``, ``hub_rollout_targets`` (one
  target per group and bundle name): as in the SQLite hub. A hub created before per-name rollouts has its
  ``hub_rollouts`` rows moved into ``hub_rollout_targets`` (named from ``hub_bundles``) the next time it starts.
- ``hub_notices``: what the hub noticed about itself (a restore from a backup, lost changes), as in the SQLite hub.
"""

from __future__ import annotations

SCHEMA_LOCK = 0x5EED_ED6E  # pg_advisory_xact_lock key for schema changes
SCHEMA_VERSION = 1  # stamped on the hub's own changes (``Change.schema_ver``: diagnostics only, never read)
SHARED = ""  # origin of rows shared by every node (last writer wins, counters)

STATEMENTS = (
    """CREATE TABLE IF NOT EXISTS hub_state (
        id integer PRIMARY KEY CHECK (id = 1), epoch text NOT NULL, hlc bigint NOT NULL DEFAULT 0,
        last_seq bigint NOT NULL DEFAULT 0)""",
    """CREATE TABLE IF NOT EXISTS hub_changes (
        seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, tbl text NOT NULL, pk jsonb NOT NULL, op text NOT NULL,
        row jsonb, hlc bigint NOT NULL, origin text, schema_ver integer NOT NULL)""",
    "CREATE INDEX IF NOT EXISTS hub_changes_tbl_seq ON hub_changes (tbl, seq)",
    """CREATE TABLE IF NOT EXISTS hub_cursors (
        origin text PRIMARY KEY, epoch text NOT NULL, seq bigint NOT NULL, hlc bigint,
        max_hlc bigint NOT NULL DEFAULT 0, updated_at text)""",
    "CREATE TABLE IF NOT EXISTS hub_retired (origin text NOT NULL, epoch text NOT NULL, PRIMARY KEY (origin, epoch))",
    """CREATE TABLE IF NOT EXISTS hub_nodes (
        name text PRIMARY KEY, grp text NOT NULL, token_hash text NOT NULL, created_at text, last_seen text,
        bundle_version text, pulled_seq bigint DEFAULT 0)""",
    "CREATE TABLE IF NOT EXISTS hub_bundles (digest text PRIMARY KEY, name text, version text, size bigint, created_at text)",
    """CREATE TABLE IF NOT EXISTS hub_rollout_targets (grp text NOT NULL, name text NOT NULL, digest text, version text,
        updated_at text, PRIMARY KEY (grp, name))""",
    "ALTER TABLE hub_nodes ADD COLUMN IF NOT EXISTS bundle_versions text",
    "ALTER TABLE hub_nodes ADD COLUMN IF NOT EXISTS stores text",
    "ALTER TABLE hub_nodes ADD COLUMN IF NOT EXISTS granted_stores text",
    """UPDATE hub_nodes SET granted_stores = coalesce(stores, '["default"]') WHERE granted_stores IS NULL""",
    """DO $$ BEGIN IF to_regclass('hub_rollouts') IS NOT NULL THEN
        INSERT INTO hub_rollout_targets (grp, name, digest, version, updated_at)
        SELECT r.grp, coalesce(b.name, ''), r.digest, r.version, r.updated_at FROM hub_rollouts r
        LEFT JOIN hub_bundles b USING (digest) ON CONFLICT DO NOTHING;
        DROP TABLE hub_rollouts;
    END IF; END $$""",
    """CREATE TABLE IF NOT EXISTS hub_notices (
        id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, at text, node text, code text, message text)""",
)


def q(name: str) -> str:
    """``name`` quoted as a PostgreSQL identifier."""
    return '"' + name.replace('"', '""') + '"'


def synced_table_sql(name: str) -> str:
    """The table keeping the rows of synced table ``name``."""
    return (f"CREATE TABLE IF NOT EXISTS {q(name)} (origin text NOT NULL, key text NOT NULL, row jsonb NOT NULL, "
            "hlc bigint, writer text NOT NULL DEFAULT '', deleted boolean NOT NULL DEFAULT false, "
            "PRIMARY KEY (origin, key))")


def key_text(pk) -> str:
    """The text form of a primary key value (strings as they are, anything else as JSON)."""
    import json

    return pk if isinstance(pk, str) else json.dumps(pk)


def ensure_schema(cur, tables: dict) -> None:
    """Create whatever is missing (inside the caller's transaction) and the state row with a fresh epoch."""
    import secrets

    cur.execute("SELECT pg_advisory_xact_lock(%s)", [SCHEMA_LOCK])
    for statement in STATEMENTS:
        cur.execute(statement)
    for name in sorted(tables):
        cur.execute(synced_table_sql(name))
    cur.execute("INSERT INTO hub_state (id, epoch) VALUES (1, %s) ON CONFLICT (id) DO NOTHING", [secrets.token_hex(8)])
