"""The wire format: a delta (or snapshot) is a standalone SQLite file, compressed with zstandard.

The file holds ``meta(key, value)`` — format, kind (``delta``/``snapshot``), origin, epoch, from_seq,
to_seq, count, sha256, schema_version, tables — and ``changes(seq, tbl, pk, op, row, hlc, origin,
schema_ver)``. ``sha256`` covers the changes in a canonical text form computed by SQLite itself (each
field as ``printf('%Q')`` renders it, unit-separated; rows record-separated, in file order), so a reader detects
a truncated, corrupted or tampered file before applying anything, without decoding rows in Python.
Format ``/1`` (fields by their Python ``repr``) is still read.

A delta is built and read as an in-memory SQLite database (``serialize``/``deserialize``): an export
fills it with one ``INSERT ... SELECT`` and the applier attaches it to the store, so neither side walks
the rows in Python. :class:`Delta` keeps those bytes and turns them into tuples only when ``changes`` is
read. Files are written to a temporary name, fsynced, then renamed into place.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import tempfile
from pathlib import Path

from edge.errors import BadRequest, Unprocessable

FORMAT = "storefront-edge-delta/2"
FORMAT_V1 = "storefront-edge-delta/1"
COLUMNS = ("seq", "tbl", "pk", "op", "row", "hlc", "origin", "schema_ver")
CHANGES_DDL = ("CREATE TABLE {schema}.changes (seq INTEGER, tbl TEXT, pk, op TEXT, row TEXT, hlc INTEGER, "
               "origin TEXT, schema_ver INTEGER)")
CANONICAL = "printf('" + "\x1f".join("%Q" for _ in COLUMNS) + "', " + ", ".join(COLUMNS) + ")"
DIGEST_CHUNK = 20_000
MAX_UNCOMPRESSED = 1 << 31
LEVEL = 1  # zstd: level 1 is ~2x faster than 3 here and the deltas stay within a few % in size


class DeltaError(BadRequest):
    """A delta that cannot be read: not zstandard, not SQLite, truncated or corrupted."""

    code = "corrupt_delta"


class DeltaMismatch(Unprocessable):
    """A readable delta whose contents disagree with its own ``meta`` (count or sha256)."""

    code = "delta_mismatch"


class Delta:
    """A delta: its ``meta`` and its changes, held as SQLite bytes (``raw``) or as tuples in ``COLUMNS`` order.

    ``changes`` turns ``raw`` into a list on first access; from then on the list is what counts (it may be
    edited), and :func:`encode` writes it instead of ``raw``.
    """

    def __init__(self, meta: dict, changes: list | None = None, raw: bytes | None = None):
        self.meta = meta
        self._changes = changes if changes is not None or raw is None else None
        if self._changes is None and raw is None:
            self._changes = []
        self.raw = raw

    @property
    def changes(self) -> list:
        if self._changes is None:
            self._changes = _rows_of(self.raw)
        return self._changes

    @changes.setter
    def changes(self, value: list) -> None:
        self._changes = value

    @property
    def materialized(self) -> bool:
        """Whether the changes are held as a Python list (else only as SQLite bytes)."""
        return self._changes is not None

    @property
    def kind(self) -> str:
        return self.meta.get("kind", "delta")

    def __repr__(self) -> str:
        return f"Delta({self.kind}, {self.meta.get('origin')!r}, {self.meta.get('from_seq')}..{self.meta.get('to_seq')})"


# -- the in-memory SQLite form ----------------------------------------------------------------------
def memory_db(raw: bytes | None = None) -> sqlite3.Connection:
    """An in-memory connection holding ``raw`` (or empty ``changes`` and ``meta`` tables)."""
    conn = sqlite3.connect(":memory:", isolation_level=None)
    if raw is None:
        create_tables(conn, "main")
    else:
        conn.deserialize(raw)
    return conn


def create_tables(conn, schema: str) -> None:
    """Create the ``changes`` and ``meta`` tables of a delta in database ``schema`` of ``conn``."""
    conn.execute(CHANGES_DDL.format(schema=schema))
    conn.execute(f"CREATE TABLE {schema}.meta (key TEXT PRIMARY KEY, value TEXT)")


def fill(conn, schema: str, changes: list) -> None:
    """Insert ``changes`` (tuples) into ``schema.changes``."""
    conn.executemany(f"INSERT INTO {schema}.changes VALUES (?, ?, ?, ?, ?, ?, ?, ?)", changes)


def _rows_of(raw: bytes) -> list:
    conn = memory_db(raw)
    try:
        return conn.execute(f"SELECT {', '.join(COLUMNS)} FROM changes ORDER BY rowid").fetchall()
    finally:
        conn.close()


def sql_digest(conn, schema: str = "main") -> str:
    """sha256 of ``schema.changes`` in the canonical form, computed by SQLite.

    Each row is its fields as ``printf('%Q')`` renders them (quoted text, ``NULL``) joined by U+001F; rows
    are joined by U+001E in rowid order. SQLite concatenates a chunk of rows at a time (bounded memory).
    """
    h, last, first = hashlib.sha256(), None, True
    query = (f"SELECT max(id), CAST(group_concat(line, char(30)) AS BLOB) FROM (SELECT rowid AS id, {CANONICAL} AS line "
             f"FROM {schema}.changes WHERE rowid > ? ORDER BY rowid LIMIT ?)")
    while True:
        last, text = conn.execute(query, [-(1 << 63) if last is None else last, DIGEST_CHUNK]).fetchone()
        if text is None:
            return h.hexdigest()
        h.update(text if first else b"\x1e" + text)
        first = False


def digest(changes) -> str:
    """sha256 of ``changes`` (tuples) in the canonical form, the same as :func:`sql_digest` of them stored."""
    conn = memory_db()
    try:
        fill(conn, "main", list(changes))
        return sql_digest(conn)
    finally:
        conn.close()


def digest_v1(changes) -> str:
    """sha256 of format ``/1``: fields by their ``repr``, unit- and record-separated."""
    h = hashlib.sha256()
    h.update("\x1e".join("\x1f".join(map(repr, change)) for change in changes).encode())
    return h.hexdigest()


def seal(meta: dict, changes: list) -> Delta:
    """A delta of ``changes`` (tuples) with ``format``, ``count`` and ``sha256`` filled in."""
    full = {"format": FORMAT, "kind": "delta", **meta, "count": len(changes), "sha256": digest(changes)}
    return Delta(full, changes)


def to_sqlite(delta: Delta) -> bytes:
    """The uncompressed SQLite bytes of ``delta``: its changes (the list when materialized) and its meta."""
    conn = memory_db(None if delta.materialized else delta.raw)
    try:
        if delta.materialized:
            fill(conn, "main", delta.changes)
        conn.execute("DELETE FROM meta")
        conn.executemany("INSERT INTO meta VALUES (?, ?)", [(k, json.dumps(v)) for k, v in delta.meta.items()])
        return conn.serialize()
    finally:
        conn.close()


# -- bytes and files ---------------------------------------------------------------------------------
def encode(delta: Delta, workdir: Path | None = None) -> bytes:
    """The compressed bytes of ``delta`` (what travels over HTTP). ``workdir`` is no longer needed (kept for callers)."""
    import zstandard

    raw = to_sqlite(delta)
    return zstandard.ZstdCompressor(level=LEVEL, write_checksum=True, write_content_size=True).compress(raw)


def write_file(delta: Delta, path: Path) -> Path:
    """Write ``delta`` compressed to ``path`` (temporary name, fsync, rename)."""
    path = Path(path)
    data = encode(delta)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)
    return path


def _decompress(data: bytes) -> bytes:
    import zstandard

    try:
        return zstandard.ZstdDecompressor().decompress(data, max_output_size=MAX_UNCOMPRESSED)
    except zstandard.ZstdError as exc:
        raise DeltaError(f"the delta is not valid zstandard data (truncated or corrupted): {exc}") from None


def _check_meta(meta: dict) -> None:
    if meta.get("format") not in (FORMAT, FORMAT_V1):
        raise DeltaError(f"unknown delta format {meta.get('format')!r}; expected {FORMAT!r}", code="unknown_format")
    missing = [k for k in ("origin", "epoch", "from_seq", "to_seq", "count", "sha256") if k not in meta]
    if missing:
        raise DeltaError(f"the delta's meta lacks {', '.join(missing)}", code="incomplete_meta")


def _verified(raw: bytes) -> Delta:
    conn = sqlite3.connect(":memory:", isolation_level=None)
    try:
        conn.deserialize(raw)
        objects = set(conn.execute("SELECT type, name FROM sqlite_master"))
        if objects != {("table", "meta"), ("table", "changes"), ("index", "sqlite_autoindex_meta_1")}:
            raise DeltaError("the delta file holds other objects than its meta and changes tables")
        meta = {k: json.loads(v) for k, v in conn.execute("SELECT key, value FROM meta")}
        _check_meta(meta)
        count = conn.execute("SELECT count(*) FROM changes").fetchone()[0]
        sha = sql_digest(conn) if meta["format"] == FORMAT else None
    except (sqlite3.DatabaseError, ValueError, TypeError) as exc:
        raise DeltaError(f"the delta is not a readable delta file: {exc}") from None
    finally:
        conn.close()
    delta = Delta(meta, raw=raw)
    if sha is None:  # format /1: its digest needs the rows in Python
        sha = digest_v1(delta.changes)
    if meta["count"] != count or meta["sha256"] != sha:
        raise DeltaMismatch("the delta's changes do not match the count and sha256 in its meta")
    return delta


def decode(data: bytes, workdir: Path | None = None) -> Delta:
    """Read and verify compressed delta bytes; raise :class:`DeltaError` / :class:`DeltaMismatch`."""
    if not data:
        raise DeltaError("the delta is empty", code="empty_delta")
    return _verified(_decompress(data))


def read_file(path: Path) -> Delta:
    """Read and verify a delta file."""
    return decode(Path(path).read_bytes())
