"""Publishing rows of any hub-owned table: read, check against the table's schema, then one write.

A publication is upserts (whole or partial rows, by the table's key) and deletes (keys) of one table a
plugin declares ``hub_owned``. Every row is checked before anything is written, and every bad row is
reported (line, key, what is wrong); one bad row refuses the whole publication, so the hub's table, its
change log and every edge stay as they were. Both hub backends take the same checked publication.

The schema is the table as the plugin's migrations create it (applied to an in-memory SQLite database,
so a PostgreSQL hub, which keeps rows as JSON, checks exactly what a SQLite hub does): every column with
its type, ``NOT NULL`` and default. Checks: the key is present and not null; no unknown columns;
``NOT NULL`` columns without a default are present in every upsert and never null; integers fit 64
bits; numbers are finite; text columns take strings (a JSON list or object is stored as its JSON text).
Values read from CSV are text and are converted to the column's type; an empty field of a non-text column
leaves that column as it is (a new row takes the column's default, or null), of a text column it is ``""``.

Files (``storefront-edge hub publish TABLE FILE`` and the admin route): CSV with a header, or JSON lines
(one object per line). A record whose ``_op`` is ``delete`` deletes its key; ``upsert`` (or no ``_op``)
upserts it.
"""

from __future__ import annotations

import csv
import io
import json
import math
from dataclasses import dataclass, field

from edge.errors import NotFound, Unprocessable
from edge.store import write_transaction

MAX_REPORTED = 1000
INT64 = (-(1 << 63), (1 << 63) - 1)
TEXT_FORMATS = {"csv", "jsonl"}


@dataclass(frozen=True)
class Column:
    name: str
    kind: str  # integer, real, text, blob
    not_null: bool
    has_default: bool
    default: object = None


@dataclass(frozen=True)
class TableSchema:
    """A hub-owned table's key and columns."""

    name: str
    key: str
    columns: dict[str, Column]
    store_key: str | None = None  # a per-store table: its key is "<store>/<store_key>" (SyncedTable.store_key)

    def complete(self, row: dict) -> dict:
        """``row`` with every column it lacks set to that column's default (or null): a new row as SQLite stores it."""
        return {**{c.name: c.default for c in self.columns.values()}, **row}

    @property
    def required(self) -> list[str]:
        return [c.name for c in self.columns.values() if c.not_null and not c.has_default and c.name != self.key]


@dataclass
class Publication:
    """Checked rows of one table: upserts (rows in column order) and deletes (keys)."""

    table: str
    upserts: list[dict] = field(default_factory=list)
    deletes: list = field(default_factory=list)

    def summary(self) -> dict:
        return {"table": self.table, "upserted": len(self.upserts), "deleted": len(self.deletes)}


def _kind(declared: str) -> str:
    declared = (declared or "").upper()
    if "INT" in declared:
        return "integer"
    if any(t in declared for t in ("REAL", "FLOA", "DOUB", "NUMERIC", "DECIMAL")):
        return "real"
    return "blob" if "BLOB" in declared else "text"


def _default_value(db, literal: str | None):
    """The value of a column's declared default (a SQL literal from the plugin's own migration)."""
    if literal is None:
        return None
    try:
        return db.execute(f"SELECT {literal}").fetchone()[0]
    except Exception:  # an expression SQLite evaluates per row (CURRENT_TIMESTAMP ...): leave it to the store
        return None


def schemas_of(db, tables: dict) -> dict[str, TableSchema]:
    """The schema of every hub-owned table of ``tables`` that exists in ``db`` (a sqlite_utils Database)."""
    found = {}
    for name, table in tables.items():
        if table.policy != "hub_owned" or not db[name].exists():
            continue
        columns = {c[1]: Column(c[1], _kind(c[2]), bool(c[3]), c[4] is not None, _default_value(db, c[4]))
                   for c in db.execute(f"PRAGMA table_info({json.dumps(name)})").fetchall()}
        found[name] = TableSchema(name, table.key, columns, getattr(table, "store_key", None))
    return found


# -- reading files -----------------------------------------------------------------------------------
def file_format(filename: str, declared: str | None = None) -> str:
    """``csv`` or ``jsonl``, from ``declared`` or the file name's suffix."""
    fmt = (declared or filename.rsplit(".", 1)[-1]).lower()
    fmt = {"ndjson": "jsonl", "json": "jsonl"}.get(fmt, fmt)
    if fmt not in TEXT_FORMATS:
        raise Unprocessable(f"cannot tell the format of {filename!r}: use a .csv or .jsonl file (or --format)", code="unknown_format")
    return fmt


def read_records(text: str, fmt: str) -> tuple[list[tuple[int, dict]], list[dict]]:
    """``([(line, record)], problems)`` from CSV or JSON-lines text; unreadable lines are problems."""
    if fmt == "csv":
        return _read_csv(text)
    records, problems = [], []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except (ValueError, RecursionError) as exc:
            problems.append({"line": number, "key": None, "errors": [f"not JSON: {str(exc)[:120]}"]})
            continue
        if not isinstance(record, dict):
            problems.append({"line": number, "key": None, "errors": ["each line must be a JSON object"]})
            continue
        records.append((number, record))
    return records, problems


def _read_csv(text: str) -> tuple[list[tuple[int, dict]], list[dict]]:
    reader, records = csv.DictReader(io.StringIO(text)), []
    try:
        for record in reader:
            extra = record.pop(None, None) is not None  # more fields than the header has
            records.append((reader.line_num, {**record, "_extra_fields": True} if extra else record))
    except csv.Error as exc:  # a field over the size limit, a NUL byte: the file stops being readable here
        return records, [{"line": reader.line_num, "key": None, "errors": [f"unreadable CSV: {exc}"]}]
    return records, []


# -- checking ----------------------------------------------------------------------------------------
def _from_text(column: Column, value: str):
    if value == "":
        return "" if column.kind == "text" else None
    if column.kind == "integer":
        return int(value)
    if column.kind == "real":
        return float(value)
    return value


def _checked(column: Column, value, from_text: bool):
    """The value to store in ``column``; raises ValueError saying what is wrong."""
    if from_text and isinstance(value, str):
        try:
            value = _from_text(column, value)
        except ValueError:
            raise ValueError(f"{column.name}: {value[:40]!r} is not {'an integer' if column.kind == 'integer' else 'a number'}") from None
    if value is None:
        if column.not_null:
            raise ValueError(f"{column.name}: may not be null")
        return None
    if column.kind == "integer":
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"{column.name}: expected an integer, got {type(value).__name__}")
        if not INT64[0] <= value <= INT64[1]:
            raise ValueError(f"{column.name}: {value} does not fit 64 bits")
    elif column.kind == "real":
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise ValueError(f"{column.name}: expected a finite number, got {str(value)[:40]}")
        if isinstance(value, int) and not INT64[0] <= value <= INT64[1]:
            raise ValueError(f"{column.name}: {value} does not fit 64 bits")
        value = float(value)
    elif isinstance(value, (list, dict)):
        value = json.dumps(value)
    elif not isinstance(value, str):
        raise ValueError(f"{column.name}: expected text, got {type(value).__name__}")
    return value


def _check_record(schema: TableSchema, record: dict, from_text: bool):
    """``(op, row or key, errors)`` for one record."""
    record = dict(record)
    op = record.pop("_op", None) or "upsert"
    errors = ["more fields than the header names"] if record.pop("_extra_fields", False) else []
    if op not in ("upsert", "delete"):
        return op, None, [f"_op must be 'upsert' or 'delete', not {str(op)[:20]!r}"]
    if schema.store_key:
        record = _store_scoped(schema, record)
        errors += _store_problems(record)
    unknown = sorted(set(record) - set(schema.columns))
    errors += [f"{', '.join(unknown)}: no such column in {schema.name}"] if unknown else []
    if record.get(schema.key) in (None, ""):
        return op, None, [*errors, f"{schema.store_key or schema.key}: the key is missing"]
    row = {}
    if from_text:  # an empty CSV field of a non-text column leaves the column as it is (a new row: its default)
        record = {k: v for k, v in record.items() if v != "" or k not in schema.columns or schema.columns[k].kind == "text"}
    for name in (c for c in schema.columns if c in record and (op == "upsert" or c == schema.key)):
        try:
            row[name] = _checked(schema.columns[name], record[name], from_text)
        except ValueError as exc:
            errors.append(str(exc))
    if op == "upsert":
        errors += [f"{c}: missing (the column is NOT NULL without a default)" for c in schema.required if c not in record]
    return op, (row if op == "upsert" else row.get(schema.key)), errors


def _store_scoped(schema: TableSchema, record: dict) -> dict:
    """A per-store row completed: ``store`` (``default`` when not given or empty), its own key (``sku``) and the
    table's key ``<store>/<sku>``; a bare key (``A1``) stands for the store given or ``default``."""
    from edge.stores import DEFAULT_STORE

    key, own = schema.key, schema.store_key
    given = str(record.get(key) or "")
    store = record.get("store") or (given.partition("/")[0] if "/" in given else DEFAULT_STORE)
    natural = record.get(own) or (given.partition("/")[2] if "/" in given else given)
    if not natural:
        return record
    return {**record, "store": store, own: natural, key: f"{store}/{natural}"}


def _store_problems(record: dict) -> list[str]:
    from edge.stores import is_store_id

    store = record.get("store")
    return [] if store is None or is_store_id(store) else [f"store: {str(store)[:70]!r} is not a store id (lower-case letters, digits, '-')"]


def check_publication(schemas: dict, table: str, records, from_text: bool = False, problems=()) -> Publication:
    """Check ``[(line, record)]`` against ``table``'s schema; raise 422 ``invalid_rows`` listing every bad row."""
    schema = schema_for(schemas, table)
    publication, problems = Publication(table), list(problems)
    for line, record in records:
        if not isinstance(record, dict):
            problems.append({"line": line, "key": None, "errors": ["each row must be a JSON object"]})
            continue
        op, value, errors = _check_record(schema, record, from_text)
        if errors:
            key = record.get(schema.key, record.get(schema.store_key) if schema.store_key else None)
            problems.append({"line": line, "key": str(key)[:64], "errors": errors})
        elif op == "delete":
            publication.deletes.append(value)
        else:
            publication.upserts.append(value)
    if problems:
        count = len(problems)
        raise Unprocessable(f"{count} {'rows do' if count != 1 else 'row does'} not fit table {table}; nothing was published",
                            code="invalid_rows", details=sorted(problems, key=lambda p: p["line"])[:MAX_REPORTED])
    return publication


def schema_for(schemas: dict, table: str) -> TableSchema:
    """The schema of hub-owned ``table``: 404 for a table no plugin declares hub-owned here."""
    if table not in schemas:
        known = ", ".join(sorted(schemas)) or "none"
        raise NotFound(f"no hub-owned table '{table}' on this hub (hub-owned tables: {known})", code="unknown_table")
    return schemas[table]


def publication_from_text(schemas: dict, table: str, text: str, fmt: str) -> Publication:
    """Read and check a CSV or JSON-lines publication."""
    records, problems = read_records(text, fmt)
    return check_publication(schemas, table, records, from_text=fmt == "csv", problems=problems)


def publication_from_json(schemas: dict, table: str, body) -> Publication:
    """Check a JSON body ``{"upsert": [rows], "delete": [keys]}`` (lines numbered from 1 across both lists)."""
    if not isinstance(body, dict) or set(body) - {"upsert", "delete"}:
        raise Unprocessable('the body must be {"upsert": [rows], "delete": [keys]}', code="invalid_request")
    upserts, deletes = body.get("upsert") or [], body.get("delete") or []
    if not isinstance(upserts, list) or not isinstance(deletes, list):
        raise Unprocessable('"upsert" and "delete" must be lists', code="invalid_request")
    key = schema_for(schemas, table).key
    records = list(enumerate(upserts, start=1))
    records += [(len(upserts) + n, {"_op": "delete", key: k}) for n, k in enumerate(deletes, start=1)]
    return check_publication(schemas, table, records)


# -- writing (SQLite hub) --------------------------------------------------------------------------
def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def apply_sqlite(db, schema: TableSchema, publication: Publication) -> dict:
    """Write a checked publication to a SQLite hub in one transaction (the capture triggers log every change)."""
    groups: dict[tuple, list] = {}
    for row in publication.upserts:
        groups.setdefault(tuple(row), []).append(tuple(row.values()))
    with write_transaction(db):
        for columns, values in groups.items():
            names = ", ".join(map(_q, columns))
            updates = ", ".join(f"{_q(c)} = excluded.{_q(c)}" for c in columns if c != schema.key)
            conflict = f"DO UPDATE SET {updates}" if updates else "DO NOTHING"
            db.conn.executemany(f"INSERT INTO {_q(schema.name)} ({names}) VALUES ({', '.join('?' * len(columns))}) "
                                f"ON CONFLICT ({_q(schema.key)}) {conflict}", values)
        db.conn.executemany(f"DELETE FROM {_q(schema.name)} WHERE {_q(schema.key)} = ?", [(k,) for k in publication.deletes])
    return publication.summary()
