"""The wire format: a delta (or snapshot) is a standalone SQLite file, compressed with zstandard.

The file holds ``meta(key, value)`` — format, kind (``delta``/``snapshot``), origin, epoch, from_seq,
to_seq, count, sha256, schema_version, tables — and ``changes(seq, tbl, pk, op, row, hlc, origin,
schema_ver)``. ``sha256`` covers the changes in a canonical JSON form, so a reader detects a truncated,
corrupted or tampered file before applying anything. Files are written to a temporary name, fsynced,
then renamed into place.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from edge.errors import BadRequest, Unprocessable

FORMAT = "storefront-edge-delta/1"
COLUMNS = ("seq", "tbl", "pk", "op", "row", "hlc", "origin", "schema_ver")
MAX_UNCOMPRESSED = 1 << 31


class DeltaError(BadRequest):
    """A delta that cannot be read: not zstandard, not SQLite, truncated or corrupted."""

    code = "corrupt_delta"


class DeltaMismatch(Unprocessable):
    """A readable delta whose contents disagree with its own ``meta`` (count or sha256)."""

    code = "delta_mismatch"


@dataclass
class Delta:
    """A delta in memory: its meta (dict) and its changes (tuples in ``COLUMNS`` order)."""

    meta: dict
    changes: list = field(default_factory=list)

    @property
    def kind(self) -> str:
        return self.meta.get("kind", "delta")


def digest(changes) -> str:
    """sha256 of the changes in a canonical text form (fields by their ``repr``, unit- and record-separated)."""
    h = hashlib.sha256()
    h.update("\x1e".join("\x1f".join(map(repr, change)) for change in changes).encode())
    return h.hexdigest()


def seal(meta: dict, changes: list) -> Delta:
    """A delta with ``format``, ``count`` and ``sha256`` filled in."""
    full = {"format": FORMAT, "kind": "delta", **meta, "count": len(changes), "sha256": digest(changes)}
    return Delta(full, changes)


def _sqlite_bytes(delta: Delta, folder: Path) -> bytes:
    fd, tmp = tempfile.mkstemp(prefix=".delta-", suffix=".db", dir=folder)
    os.close(fd)
    try:
        conn = sqlite3.connect(tmp)
        with conn:
            conn.execute("PRAGMA journal_mode=OFF")
            conn.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT)")
            conn.execute("CREATE TABLE changes (seq INTEGER, tbl TEXT, pk, op TEXT, row TEXT, hlc INTEGER, origin TEXT, schema_ver INTEGER)")
            conn.executemany("INSERT INTO meta VALUES (?, ?)", [(k, json.dumps(v)) for k, v in delta.meta.items()])
            conn.executemany("INSERT INTO changes VALUES (?, ?, ?, ?, ?, ?, ?, ?)", delta.changes)
        conn.close()
        return Path(tmp).read_bytes()
    finally:
        os.unlink(tmp)


def encode(delta: Delta, workdir: Path | None = None) -> bytes:
    """The compressed bytes of ``delta`` (what travels over HTTP)."""
    import zstandard

    raw = _sqlite_bytes(delta, Path(workdir or tempfile.gettempdir()))
    return zstandard.ZstdCompressor(level=3, write_checksum=True, write_content_size=True).compress(raw)


def write_file(delta: Delta, path: Path) -> Path:
    """Write ``delta`` compressed to ``path`` (temporary name, fsync, rename)."""
    path = Path(path)
    data = encode(delta, path.parent)
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


def _read_sqlite(raw: bytes, workdir: Path) -> Delta:
    fd, tmp = tempfile.mkstemp(prefix=".delta-in-", suffix=".db", dir=workdir)
    with os.fdopen(fd, "wb") as handle:
        handle.write(raw)
    try:
        conn = sqlite3.connect(f"file:{tmp}?mode=ro", uri=True)
        try:
            meta = {k: json.loads(v) for k, v in conn.execute("SELECT key, value FROM meta")}
            changes = conn.execute(f"SELECT {', '.join(COLUMNS)} FROM changes ORDER BY rowid").fetchall()
        finally:
            conn.close()
    except (sqlite3.DatabaseError, ValueError) as exc:
        raise DeltaError(f"the delta is not a readable delta file: {exc}") from None
    finally:
        os.unlink(tmp)
    return Delta(meta, changes)


def _check(delta: Delta) -> Delta:
    meta = delta.meta
    if meta.get("format") != FORMAT:
        raise DeltaError(f"unknown delta format {meta.get('format')!r}; expected {FORMAT!r}", code="unknown_format")
    missing = [k for k in ("origin", "epoch", "from_seq", "to_seq", "count", "sha256") if k not in meta]
    if missing:
        raise DeltaError(f"the delta's meta lacks {', '.join(missing)}", code="incomplete_meta")
    if meta["count"] != len(delta.changes) or meta["sha256"] != digest(delta.changes):
        raise DeltaMismatch("the delta's changes do not match the count and sha256 in its meta")
    return delta


def decode(data: bytes, workdir: Path | None = None) -> Delta:
    """Read and verify compressed delta bytes; raise :class:`DeltaError` / :class:`DeltaMismatch`."""
    if not data:
        raise DeltaError("the delta is empty", code="empty_delta")
    return _check(_read_sqlite(_decompress(data), Path(workdir or tempfile.gettempdir())))


def read_file(path: Path) -> Delta:
    """Read and verify a delta file."""
    return decode(Path(path).read_bytes(), Path(path).parent)
