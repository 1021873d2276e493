"""Read sessions from DIGINETICA's ``;``-separated item views or from the project's event export.

DIGINETICA (``session_id;user_id;item_id;timeframe;eventdate``, a header line): ``eventdate`` is the
day, ``timeframe`` the milliseconds since the session started. The event export (``id,kind,payload,
created_at,origin``, the events table as written by ``storefront-edge recommend export-events``): the
commerce events (view, click, cart, order) whose payload names a ``session_id`` and an ``sku``; the time
is the client's ``client_ts`` when given, else ``created_at``. Either way a session is its events in
time order; ``store`` is the event's origin (DIGINETICA has none).
"""

from __future__ import annotations

import csv
import datetime
import json
from dataclasses import dataclass, field
from pathlib import Path

COMMERCE_KINDS = {"view", "click", "cart", "order"}
DIGINETICA_HEADER = ["session_id", "user_id", "item_id", "timeframe", "eventdate"]
EXPORT_HEADER = ["id", "kind", "payload", "created_at", "origin"]


class EventsFileError(ValueError):
    """The file is neither format, or a line of it is malformed."""


@dataclass
class Session:
    """One shopper session: its items in time order, the time of each (seconds since the epoch)."""

    key: str
    store: str | None = None
    items: list[str] = field(default_factory=list)
    times: list[float] = field(default_factory=list)
    kinds: list[str] = field(default_factory=list)

    @property
    def end(self) -> float:
        return self.times[-1] if self.times else 0.0


def _epoch(text: str) -> float:
    value = datetime.datetime.fromisoformat(text)
    if value.tzinfo is None:
        value = value.replace(tzinfo=datetime.timezone.utc)
    return value.timestamp()


def _diginetica_rows(reader, path):
    for line, row in enumerate(reader, start=2):
        try:
            day = _epoch(row["eventdate"])
            yield row["session_id"], None, row["item_id"], day + int(row["timeframe"]) / 1000.0, "view"
        except (KeyError, TypeError, ValueError):
            raise EventsFileError(f"{path}:{line}: not a DIGINETICA item view ({';'.join(map(str, row.values()))[:80]})") from None


def export_event(row: dict):
    """``(session, store, sku, time, kind)`` of one events-table row, or ``None`` for other events. The store
    is the row's ``store`` (CDN edge mode: one of the node's stores), else its origin (the node itself)."""
    if row.get("kind") not in COMMERCE_KINDS:
        return None
    try:
        payload = json.loads(row["payload"]) if isinstance(row["payload"], str) else row["payload"]
        session, sku = payload.get("session_id"), payload.get("sku")
        if not isinstance(session, str) or not isinstance(sku, str):
            return None
        store = row.get("store") if row.get("store") not in (None, "", "default") else row.get("origin") or None
        return session, store, sku, _epoch(payload.get("client_ts") or row["created_at"]), row["kind"]
    except (TypeError, ValueError, AttributeError):
        return None


def _export_rows(reader, path):
    for line, row in enumerate(reader, start=2):
        if None in row or any(row.get(k) is None for k in ("kind", "payload", "created_at")):
            raise EventsFileError(f"{path}:{line}: not an event export row")
        event = export_event(row)
        if event is not None:
            yield event


def sessions_from_events(events) -> list[Session]:
    """Group ``(session, store, sku, time, kind)`` tuples into sessions, each in time order, oldest session first.
    A session id is one session per store (two stores of a CDN node may hand out the same ids)."""
    by_key: dict[tuple, Session] = {}
    for key, store, sku, when, kind in events:
        session = by_key.setdefault((store, key), Session(key, store))
        session.items.append(sku)
        session.times.append(when)
        session.kinds.append(kind)
    for session in by_key.values():
        order = sorted(range(len(session.items)), key=session.times.__getitem__)
        session.items = [session.items[i] for i in order]
        session.times = [session.times[i] for i in order]
        session.kinds = [session.kinds[i] for i in order]
    return sorted(by_key.values(), key=lambda s: (s.end, s.key))


def read_sessions(path: Path) -> list[Session]:
    """The sessions of a DIGINETICA or event-export CSV (format told by its header line)."""
    path = Path(path)
    try:
        with open(path, newline="", encoding="utf-8") as handle:
            first = handle.readline().strip().lstrip("\ufeff")
            handle.seek(0)
            if first.split(";") == DIGINETICA_HEADER:
                return sessions_from_events(_diginetica_rows(csv.DictReader(handle, delimiter=";"), path.name))
            if first.split(",") == EXPORT_HEADER:
                return sessions_from_events(_export_rows(csv.DictReader(handle), path.name))
    except UnicodeDecodeError:
        raise EventsFileError(f"{path.name} is not UTF-8 text") from None
    raise EventsFileError(f"{path.name}: the header is neither DIGINETICA's ({';'.join(DIGINETICA_HEADER)}) "
                          f"nor the event export's ({','.join(EXPORT_HEADER)})")


def split_by_time(sessions: list[Session], test_share: float = 0.2) -> tuple[list[Session], list[Session]]:
    """The oldest sessions (by their last event) for training, the last ``test_share`` of them for testing."""
    ordered = sorted(sessions, key=lambda s: (s.end, s.key))
    cut = len(ordered) - max(1, int(round(len(ordered) * test_share)))
    return ordered[:cut], ordered[cut:]


def write_export(rows, path: Path) -> int:
    """Write events-table rows as an event export CSV; return how many."""
    count = 0
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(EXPORT_HEADER)
        for row in rows:
            payload = row["payload"] if isinstance(row["payload"], str) else json.dumps(row["payload"])
            writer.writerow([row["id"], row["kind"], payload, row["created_at"], row.get("origin") or ""])
            count += 1
    return count
