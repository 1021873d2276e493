"""Sync figures: capture overhead per row, export + apply of 100k changes, delta size, offline catch-up.

Run: ``.venv/bin/python benchmarks/bench_sync.py`` (prints a markdown table, returns a dict from ``main``).
The offline catch-up is measured at ``CATCHUP_EVENTS`` events and extrapolated linearly to 1,000,000.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

ROWS = 20_000
CHANGES = 100_000
CATCHUP_EVENTS = 100_000
REPEATS = 3


def _store(path: Path, capture: bool):
    from edge.hookspecs import SyncedTable
    from edge.store import connect
    from edge.sync.capture import install_triggers, set_origin

    db = connect(path)
    db["events"].create({"id": str, "kind": str, "payload": str, "created_at": str, "origin": str}, pk="id")
    tables = {"events": SyncedTable("events", "edge_to_hub", "append_only", "id")}
    if capture:
        install_triggers(db, tables, "edge")
        set_origin(db, path.stem)
    return db, tables


def _rows(n: int, prefix: str = "") -> list[tuple]:
    return [(f"{prefix}{i:012d}", "view", '{"sku":"a1","n":%d}' % i, "2026-01-01T00:00:00Z", None) for i in range(n)]


def _insert_seconds(db, rows) -> float:
    started = time.perf_counter()
    with db.atomic():
        db.conn.executemany("INSERT INTO events VALUES (?, ?, ?, ?, ?)", rows)
    return time.perf_counter() - started


def capture_overhead(folder: Path) -> dict:
    """Inserts with and without capture triggers, side by side; µs per row."""
    plain, captured = [], []
    for r in range(REPEATS):
        for capture, out in ((False, plain), (True, captured)):
            db, _ = _store(folder / f"cap-{capture}-{r}.db", capture)
            out.append(_insert_seconds(db, _rows(ROWS)) / ROWS * 1e6)
            db.close()
    return {"insert_us_plain": statistics.median(plain), "insert_us_captured": statistics.median(captured),
            "capture_overhead_us_per_row": statistics.median(captured) - statistics.median(plain),
            "capture_ratio": statistics.median(captured) / statistics.median(plain)}


def export_apply(folder: Path) -> dict:
    """Export 100k changes to a delta, decode it and apply it to a second store."""
    from edge.sync import delta as wire
    from edge.sync.apply import Applier
    from edge.sync.export import export_delta

    export_s, apply_s, sizes = [], [], {}
    for r in range(REPEATS):
        source, tables = _store(folder / f"src-{r}.db", True)
        _insert_seconds(source, _rows(CHANGES))
        target, _ = _store(folder / f"dst-{r}.db", True)
        started = time.perf_counter()
        data = wire.encode(export_delta(source, 0, limit=CHANGES), folder)
        export_s.append(time.perf_counter() - started)
        started = time.perf_counter()
        Applier(target, tables).apply(wire.decode(data, folder))
        apply_s.append(time.perf_counter() - started)
        source.execute("VACUUM")
        sizes = {"delta_bytes": len(data), "database_bytes": (folder / f"src-{r}.db").stat().st_size}
        source.close(), target.close()
    return {"export_100k_s": statistics.median(export_s), "apply_100k_s": statistics.median(apply_s),
            "export_plus_apply_100k_s": statistics.median(export_s) + statistics.median(apply_s),
            **sizes, "delta_to_database_ratio": sizes["delta_bytes"] / sizes["database_bytes"]}


def catch_up(folder: Path) -> dict:
    """An edge offline for CATCHUP_EVENTS events pushes them to a hub (Flask test client transport)."""
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from edge.sync.worker import sync_once
    from tests.test_sync_support import FlaskTransport, make_edge, make_hub, node_of, register

    hub = make_hub(folder / "hub")
    edge = make_edge(folder / "edge", register(hub, "store-1"), SYNC_BATCH=10_000)
    db = node_of(edge).db()
    with db.atomic():
        db.conn.executemany("INSERT INTO events VALUES (?, ?, ?, ?, ?)", _rows(CATCHUP_EVENTS, "E"))
    started = time.perf_counter()
    pushed = sync_once(node_of(edge), FlaskTransport(hub))["pushed"]
    seconds = time.perf_counter() - started
    assert pushed == CATCHUP_EVENTS
    return {"catch_up_events_measured": CATCHUP_EVENTS, "catch_up_s_measured": seconds,
            "catch_up_1m_s_extrapolated": seconds * 1_000_000 / CATCHUP_EVENTS}


def main() -> dict:
    """Measure everything in one run; print a markdown table; return the figures."""
    import logging

    logging.disable(logging.WARNING)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        figures = {**capture_overhead(folder), **export_apply(folder), **catch_up(folder)}
    print("| figure | value |\n|---|---|")
    for key, value in figures.items():
        print(f"| {key} | {value:.4g} |" if isinstance(value, float) else f"| {key} | {value} |")
    return figures


if __name__ == "__main__":
    main()
