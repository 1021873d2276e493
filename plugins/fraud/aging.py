"""Finding old rows without an index every payment moves.

``fraud_rolling``, ``fraud_edges`` and ``fraud_nodes`` keep the exact ``last_seen`` a payment updates (unindexed)
and ``seen_hour``, a lower bound of its hour that only the row's insert and the prune write, indexed for the
prune. A payment that touches an existing row therefore changes no index entry; the prune raises the
``seen_hour`` of the live rows it looks at, so each row is looked at about once per time to live.
"""

from __future__ import annotations

SEEN_HOUR = 3600


def expired(db, table: str, keys: tuple[str, ...], cutoff: int, batch: int, extra: tuple[str, ...] = ()) -> list[tuple]:
    """Up to ``batch`` rows of ``table`` whose ``seen_hour`` is before ``cutoff``'s hour: the ``keys`` and ``extra``
    columns of those last seen before ``cutoff`` (to delete); the others get their ``seen_hour`` raised to
    ``last_seen``'s, so the next call finds other rows."""
    columns = ", ".join(keys + extra)
    rows = db.conn.execute(f"SELECT {columns}, last_seen FROM {table} WHERE seen_hour < ? LIMIT ?",
                           [cutoff // SEEN_HOUR, batch]).fetchall()
    where = " AND ".join(f"{key} = ?" for key in keys)
    db.conn.executemany(f"UPDATE {table} SET seen_hour = ? WHERE {where}",
                        [(row[-1] // SEEN_HOUR, *row[:len(keys)]) for row in rows if row[-1] >= cutoff])
    return [tuple(row[:-1]) for row in rows if row[-1] < cutoff]
