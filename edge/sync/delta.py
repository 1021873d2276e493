"""The wire format: a delta (or snapshot) is a standalone SQLite file, compressed with zstandard.

The file holds ``meta(key, value)`` — the :class:`~edge.sync.protocol.Header` fields as JSON — and
``changes``, one row per :class:`~edge.sync.protocol.Change`. ``sha256`` covers the changes in a canonical
text form computed by SQLite itself (each field as ``printf('%Q')`` renders it, unit-separated; rows
record-separated, in file order) and, from format ``/3`` on, the canonical header before them
(:mod:`edge.sync.protocol` lists the formats). A reader detects a truncated, corrupted or tampered file, or
a header that disagrees with its rows (count, sequence range, order), before applying anything, without
decoding rows in Python. The digest is computed when the file is written, in the format asked for.

Decompression is streamed in small input pieces with a cap on the output (``MAX_UNCOMPRESSED``), so a frame
that lies about its size, an empty frame or a bomb is a clean 400/413, never a ``MemoryError``.

A delta is built and read as an in-memory SQLite database (``serialize``/``deserialize``): an export
fills it with one ``INSERT ... SELECT`` and the applier attaches it to the store, so neither side walks
the rows in Python. :class:`Delta` keeps those bytes and turns them into :class:`Change` tuples only when
``changes`` is read. Files are written to a temporary name, fsynced, then renamed into place.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import tempfile
from pathlib import Path

from edge.errors import BadRequest, PayloadTooLarge

from .protocol import COLUMNS, FORMAT, FORMAT_V1, FORMAT_V2, FORMAT_V3, READS, Change, Header, column_list, header_from, placeholders

CHANGES_DDL = ("CREATE TABLE {schema}.changes (seq INTEGER, tbl TEXT, pk, op TEXT, row TEXT, hlc INTEGER, "
               "origin TEXT, schema_ver INTEGER)")
CANONICAL = "printf('" + "\x1f".join("%Q" for _ in COLUMNS) + "', " + column_list() + ")"
DIGEST_CHUNK = 20_000
MAX_UNCOMPRESSED = 1 << 31
INPUT_PIECE = 1024  # compressed bytes fed to zstd at a time: one piece expands to at most ~32 MiB
LEVEL = 1  # zstd: level 1 is ~2x faster than 3 here and the deltas stay within a few % in size


class DeltaError(BadRequest):
    """A delta that cannot be read: not zstandard, not SQLite, truncated, corrupted, or a header that lies."""

    code = "corrupt_delta"


class DeltaMismatch(DeltaError):
    """A readable delta whose rows disagree with its own header (count, sha256, sequence range or order)."""

    code = "delta_mismatch"


class DeltaTooLarge(PayloadTooLarge):
    """A delta that decompresses to more than ``MAX_UNCOMPRESSED`` bytes."""

    code = "delta_too_large"


class Delta:
    """A delta: its :class:`Header` and its changes, held as SQLite bytes (``raw``) or as :class:`Change` tuples.

    ``changes`` turns ``raw`` into a list on first access; from then on the list is what counts (it may be
    edited), and :func:`encode` writes it instead of ``raw``.
    """

    def __init__(self, header: Header, changes: list | None = None, raw: bytes | None = None):
        self.header = header
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
        return self.header.kind

    def __repr__(self) -> str:
        return f"Delta({self.kind}, {self.header.origin!r}, {self.header.from_seq}..{self.header.to_seq})"


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
    """Insert ``changes`` (tuples in :class:`Change` order) into ``schema.changes``."""
    conn.executemany(f"INSERT INTO {schema}.changes VALUES ({placeholders()})", changes)


def _rows_of(raw: bytes) -> list:
    conn = memory_db(raw)
    try:
        return [Change(*r) for r in conn.execute(f"SELECT {column_list()} FROM changes ORDER BY rowid")]
    finally:
        conn.close()


def sql_digest(conn, schema: str = "main", prefix: bytes | None = None) -> str:
    """sha256 of ``prefix`` (format ``/3``: the canonical header and U+001D) and ``schema.changes``, computed by SQLite.

    Each row is its fields as ``printf('%Q')`` renders them (quoted text, ``NULL``) joined by U+001F; rows
    are joined by U+001E in rowid order. SQLite concatenates a chunk of rows at a time (bounded memory).
    """
    h, last, first = hashlib.sha256(), None, True
    if prefix is not None:
        h.update(prefix + b"\x1d")
    query = (f"SELECT max(id), CAST(group_concat(line, char(30)) AS BLOB) FROM (SELECT rowid AS id, {CANONICAL} AS line "
             f"FROM {schema}.changes WHERE rowid > ? ORDER BY rowid LIMIT ?)")
    while True:
        last, text = conn.execute(query, [-(1 << 63) if last is None else last, DIGEST_CHUNK]).fetchone()
        if text is None:
            return h.hexdigest()
        h.update(text if first else b"\x1e" + text)
        first = False


def header_digest(conn, header: Header, schema: str = "main") -> str:
    """The sha256 ``header``'s format asks for over ``schema.changes`` (format ``/1``: see :func:`digest_v1`)."""
    if header.format == FORMAT_V1:
        return digest_v1(Change(*r) for r in conn.execute(f"SELECT {column_list()} FROM {schema}.changes ORDER BY rowid"))
    return sql_digest(conn, schema, header.canonical() if header.format == FORMAT_V3 else None)


def digest(changes, header: Header | None = None) -> str:
    """sha256 of ``changes`` as :func:`header_digest` computes it stored (without ``header``: the rows alone, ``/2``)."""
    conn = memory_db()
    try:
        fill(conn, "main", list(changes))
        return header_digest(conn, header or Header("", "", 0, 0, format=FORMAT_V2))
    finally:
        conn.close()


def digest_v1(changes) -> str:
    """sha256 of format ``/1``: fields by their ``repr``, unit- and record-separated."""
    h = hashlib.sha256()
    h.update("\x1e".join("\x1f".join(map(repr, tuple(change))) for change in changes).encode())
    return h.hexdigest()


def seal(header: Header, changes: list) -> Delta:
    """A delta of ``changes`` (tuples) with ``count`` set; the sha256 is computed when it is written."""
    return Delta(header.replace(count=len(changes)), [Change(*c) for c in changes])


def to_sqlite(delta: Delta, fmt: str = FORMAT) -> bytes:
    """The uncompressed SQLite bytes of ``delta`` in format ``fmt``, with its count and sha256 computed here.

    A delta already carrying a sha256 in ``fmt`` (as read, or made by hand) keeps it: that is how tests
    write forged files.
    """
    conn = memory_db(None if delta.materialized else delta.raw)
    try:
        if delta.materialized:
            conn.execute("DELETE FROM changes")
            fill(conn, "main", delta.changes)
        count = conn.execute("SELECT count(*) FROM changes").fetchone()[0]
        header = delta.header.replace(format=fmt, count=count, sha256="")
        keep = delta.header.sha256 and delta.header.format == fmt
        header = header.replace(sha256=delta.header.sha256 if keep else header_digest(conn, header))
        conn.execute("DELETE FROM meta")
        conn.executemany("INSERT INTO meta VALUES (?, ?)", [(k, json.dumps(v)) for k, v in header.fields().items()])
        return conn.serialize()
    finally:
        conn.close()


# -- bytes and files ---------------------------------------------------------------------------------
def encode(delta: Delta, fmt: str = FORMAT) -> bytes:
    """The compressed bytes of ``delta`` in format ``fmt`` (what travels over HTTP)."""
    import zstandard

    raw = to_sqlite(delta, fmt)
    return zstandard.ZstdCompressor(level=LEVEL, write_checksum=True, write_content_size=True).compress(raw)


def write_file(delta: Delta, path: Path, fmt: str = FORMAT) -> Path:
    """Write ``delta`` compressed to ``path`` (temporary name, fsync, rename)."""
    path = Path(path)
    data = encode(delta, fmt)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)
    return path


def decompress(data: bytes, limit: int | None = None) -> bytes:
    """One complete zstandard frame of ``data``, decompressed to at most ``limit`` bytes.

    The input is fed in small pieces, so whatever the frame header claims (zero content, a huge size) at
    most ``limit`` (default ``MAX_UNCOMPRESSED``) plus one piece's output is ever held; a truncated frame, trailing bytes or a damaged
    checksum is a :class:`DeltaError`, more than ``limit`` a :class:`DeltaTooLarge`.
    """
    import zstandard

    out, size, limit = [], 0, MAX_UNCOMPRESSED if limit is None else limit
    try:
        engine = zstandard.ZstdDecompressor().decompressobj()
        for start in range(0, len(data), INPUT_PIECE):
            piece = engine.decompress(data[start:start + INPUT_PIECE])
            size += len(piece)
            if size > limit:
                raise DeltaTooLarge(f"the delta decompresses to more than {limit} bytes")
            out.append(piece)
            if engine.eof:
                break
    except (zstandard.ZstdError, MemoryError) as exc:
        raise DeltaError(f"the delta is not valid zstandard data (truncated or corrupted): {exc}") from None
    if not engine.eof:
        raise DeltaError("the delta's zstandard frame is truncated", code="truncated_delta")
    if engine.unused_data or start + INPUT_PIECE < len(data):
        raise DeltaError("the delta has bytes after its zstandard frame", code="corrupt_delta")
    return b"".join(out)


def _read_header(conn) -> Header:
    objects = set(conn.execute("SELECT type, name FROM sqlite_master"))
    if objects != {("table", "meta"), ("table", "changes"), ("index", "sqlite_autoindex_meta_1")}:
        raise DeltaError("the delta file holds other objects than its meta and changes tables")
    columns = tuple(r[1] for r in conn.execute("PRAGMA table_info(changes)"))
    if columns != COLUMNS:
        raise DeltaError(f"the delta's changes have columns {', '.join(columns)}; expected {', '.join(COLUMNS)}")
    meta = {k: json.loads(v) for k, v in conn.execute("SELECT key, value FROM meta")}
    if meta.get("format") not in READS:
        raise DeltaError(f"unknown delta format {meta.get('format')!r}; this node reads {', '.join(READS)}", code="unknown_format")
    try:
        return header_from(meta)
    except ValueError as exc:
        raise DeltaError(str(exc), code="incomplete_meta") from None


def check_rows(conn, header: Header) -> None:
    """Raise :class:`DeltaMismatch` unless the rows match the header: count, sha256, sequence range and order."""
    count, low, high = conn.execute("SELECT count(*), min(seq), max(seq) FROM changes").fetchone()
    if header.count != count:
        raise DeltaMismatch(f"the delta's header says {header.count} changes but it holds {count}")
    if header.sha256 != header_digest(conn, header):
        raise DeltaMismatch("the delta's changes do not match the sha256 in its header")
    if header.kind == "snapshot":
        if count and (low, high) != (header.to_seq, header.to_seq):
            raise DeltaMismatch("a snapshot's changes must all carry its to_seq")
        return
    if header.from_seq < 1 or header.to_seq < header.from_seq - 1:
        raise DeltaMismatch(f"the delta's range {header.from_seq}..{header.to_seq} is not a range")
    if count and (low < header.from_seq or high > header.to_seq):
        raise DeltaMismatch(f"the delta's changes {low}..{high} fall outside its range {header.from_seq}..{header.to_seq}")
    disorder = conn.execute("SELECT 1 FROM changes a JOIN changes b ON b.rowid = a.rowid + 1 WHERE b.seq <= a.seq LIMIT 1").fetchone()
    if disorder:
        raise DeltaMismatch("the delta's changes are not in rising sequence order")


def _verified(raw: bytes) -> Delta:
    if not raw:
        raise DeltaError("the delta's zstandard frame holds nothing", code="empty_delta")
    conn = sqlite3.connect(":memory:", isolation_level=None)
    try:
        conn.deserialize(raw)
        header = _read_header(conn)
        check_rows(conn, header)
    except (sqlite3.DatabaseError, ValueError, TypeError, MemoryError, OverflowError) as exc:
        raise DeltaError(f"the delta is not a readable delta file: {exc}") from None
    finally:
        conn.close()
    return Delta(header, raw=raw)


def decode(data: bytes) -> Delta:
    """Read and verify compressed delta bytes; raise :class:`DeltaError` (400) or :class:`DeltaTooLarge` (413)."""
    if not data:
        raise DeltaError("the delta is empty", code="empty_delta")
    return _verified(decompress(data))


def read_file(path: Path) -> Delta:
    """Read and verify a delta file."""
    return decode(Path(path).read_bytes())
