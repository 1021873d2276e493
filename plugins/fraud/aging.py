"""Finding old rows without an index every payment moves.

``fraud_rolling``, ``fraud_edges`` and ``fraud_nodes`` keep the exact ``last_seen`` a payment updates (unindexed)
and ``seen_hour``, a lower bound of its hour that only the row's insert and the prune write, indexed for the
prune. A payment that touches an existing row therefore changes no index entry; the prune raises the
``seen_hour`` of the live rows it looks at, so each row is looked at about once per time to live.

A batch may hold only live rows (refreshed since their ``seen_hour`` was set) while expired rows sit behind them
in the index: a batch that deletes nothing is no sign that the prune is done. Every row a batch looks at leaves
the candidates (deleted, or its ``seen_hour`` raised to an hour not before the cutoff's), so the prune goes on
while a batch comes back full (:attr:`Sweep.full`) and ends when one does not.
"""

from __future__ import annotations

from typing import NamedTuple

SEEN_HOUR = 3600


class Sweep(NamedTuple):
    """One prune batch of one or more tables: the rows deleted, and whether a batch came back full (more candidates
    may follow)."""

    deleted: int
    full: bool

    def __add__(self, other: "Sweep") -> "Sweep":
        return Sweep(self.deleted + other.deleted, self.full or other.full)


def expired(db, table: str, keys: tuple[str, ...], cutoff: int, batch: int,
            extra: tuple[str, ...] = ()) -> tuple[list[tuple], bool]:
    """Up to ``batch`` rows of ``table`` whose ``seen_hour`` is before ``cutoff``'s hour: the ``keys`` and ``extra``
    columns of those last seen before ``cutoff`` (to delete), and whether the batch was full. The others get their
    ``seen_hour`` raised to ``last_seen``'s, so the next call finds other rows."""
    columns = ", ".join(keys + extra)
    rows = db.conn.execute(f"SELECT {columns}, last_seen FROM {table} WHERE seen_hour < ? LIMIT ?",
                           [cutoff // SEEN_HOUR, batch]).fetchall()
    where = " AND ".join(f"{key} = ?" for key in keys)
    db.conn.executemany(f"UPDATE {table} SET seen_hour = ? WHERE {where}",
                        [(row[-1] // SEEN_HOUR, *row[:len(keys)]) for row in rows if row[-1] >= cutoff])
    return [tuple(row[:-1]) for row in rows if row[-1] < cutoff], len(rows) >= batch
