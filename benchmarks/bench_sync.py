"""Sync figures, side by side in one run: capture overhead, export and apply of 100k changes, delta size,
the real catch-up of an edge that was offline for 1,000,000 events, with its peak memory, sync rounds under
a steady 50, 200 and 1,000 events/s, and the recovery of a hub restored from a backup with 100,000 events
to re-send (from the node's retained log, and from its events table when the log was pruned).

Run: ``.venv/bin/python benchmarks/bench_sync.py [catch-up events]`` (or ``make bench``): prints a markdown
table; ``main()`` returns the figures. Timings are medians of ``REPEATS`` runs (the catch-up of 1M: one
run, it takes minutes), so compare figures of one run with each other, not across noisy runs.

The steady rounds: a child process records events into the node's store at the given rate (as the node's
gunicorn workers would) while this process starts ``sync_once`` every ``ROUND_EVERY`` s for ``STEADY_SECONDS``; figures
are the median round time, the events/s that reached the hub over the window, and the events still
waiting at its end. Recovery: 100,000 events synced, the hub put back to a copy of ``hub.db`` taken
before, then rounds until the hub holds them all again.

The catch-up goes through ``sync_once`` — the worker's own code path — against the real hub app, with
the Flask test client as transport (no sockets). Each catch-up runs in a child process so that its
memory is its own: RSS is sampled every 20 ms while it syncs. The time spent inside the hub's request
handling (test client, checks, apply) is reported apart from the edge's side. The large catch-up runs
twice: as is, and with a full garbage collection after each request (see ``_timed_transport``).
"""

from __future__ import annotations

import contextlib
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ROWS = 20_000
CHANGES = 100_000
CATCHUP_EVENTS = 1_000_000
CATCHUP_SMALL = 100_000
SYNC_BATCH = 10_000
REPEATS = 3
STEADY_RATES = (50, 200, 1000)
STEADY_SECONDS = 8.0
ROUND_EVERY = 1.0  # seconds from one round's start to the next (the worker's SYNC_INTERVAL, short)
RECOVERY_EVENTS = 100_000


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


def _rows(n: int, prefix: str = ""):
    """``n`` event rows, generated lazily (a million of them must not sit in memory)."""
    return ((f"{prefix}{i:012d}", "view", '{"sku":"a1","n":%d}' % i, "2026-01-01T00:00:00Z", None) for i in range(n))


def _insert_seconds(db, rows) -> float:
    started = time.perf_counter()
    with db.atomic():
        db.conn.executemany("INSERT INTO events VALUES (?, ?, ?, ?, ?)", rows)
    return time.perf_counter() - started


def _insert_us(db, rows: int) -> tuple[float, float]:
    """(wall, CPU) µs per row of inserting ``rows`` events in one transaction."""
    cpu = time.process_time()
    wall = _insert_seconds(db, _rows(rows))
    return wall / rows * 1e6, (time.process_time() - cpu) / rows * 1e6


def capture_overhead(folder: Path) -> dict:
    """Inserts with and without capture triggers, alternating, in fresh stores; µs per row, wall and CPU.

    The CPU figure is this process's own time, less disturbed by other work on a shared machine.
    """
    runs: dict[bool, list] = {False: [], True: []}
    for r in range(REPEATS + 2):
        for capture in (False, True):
            db, _ = _store(folder / f"cap-{capture}-{r}.db", capture)
            runs[capture].append(_insert_us(db, ROWS))
            db.close()
    figures = {}
    for i, kind in enumerate(("wall", "cpu")):
        p, c = (statistics.median(x[i] for x in runs[k]) for k in (False, True))
        figures.update({f"insert_us_plain_{kind}": p, f"insert_us_captured_{kind}": c,
                        f"capture_overhead_us_per_row_{kind}": c - p})
    return figures


def _export_apply_once(folder: Path, r: int) -> tuple[float, float, int, int]:
    from edge.sync import delta as wire
    from edge.sync.apply import Applier
    from edge.sync.export import export_delta

    source, tables = _store(folder / f"src-{r}.db", True)
    _insert_seconds(source, _rows(CHANGES))
    target, _ = _store(folder / f"dst-{r}.db", True)
    started = time.perf_counter()
    data = wire.encode(export_delta(source, 0, limit=CHANGES))
    exported = time.perf_counter() - started
    started = time.perf_counter()
    result = Applier(target, tables).apply(wire.decode(data))
    applied = time.perf_counter() - started
    assert result["applied"] == CHANGES and target["events"].count == CHANGES
    source.execute("VACUUM")
    source.close(), target.close()
    return exported, applied, len(data), (folder / f"src-{r}.db").stat().st_size


def export_apply(folder: Path) -> dict:
    """Export 100k changes to compressed delta bytes; decode, verify and apply them to a second store."""
    runs = [_export_apply_once(folder, r) for r in range(REPEATS)]
    export_s, apply_s = statistics.median(r[0] for r in runs), statistics.median(r[1] for r in runs)
    delta_bytes, database_bytes = runs[-1][2], runs[-1][3]
    return {"export_100k_s": export_s, "apply_100k_s": apply_s, "export_plus_apply_100k_s": export_s + apply_s,
            "delta_bytes_100k": delta_bytes, "database_bytes_100k": database_bytes,
            "delta_to_database_ratio": delta_bytes / database_bytes}


# -- catch-up, in a child process ------------------------------------------------------------------
def _rss() -> int:
    """This process's resident memory now, in bytes."""
    import os

    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


@contextlib.contextmanager
def _peak_rss():
    """Sample RSS every 20 ms during the block; yields a list whose first item ends as the peak."""
    import threading

    peak, stop = [_rss()], threading.Event()

    def sample():
        while not stop.wait(0.02):
            peak[0] = max(peak[0], _rss())

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        yield peak
    finally:
        stop.set()
        sampler.join()


def _timed_transport(hub, collect: bool):
    """A Flask test-client transport that adds up the seconds spent inside the hub's handling.

    ``collect``: run Python's full garbage collection after each request. Each handled request leaves
    werkzeug's environ and request in a reference cycle holding the pushed body (~2 MB per 10k changes)
    until a full collection, which a sync round of a few hundred allocations-heavy requests rarely
    triggers; collecting shows the memory the sync itself keeps.
    """
    import gc

    from tests.test_sync_support import FlaskTransport

    transport, spent = FlaskTransport(hub), [0.0]
    forward = transport.request

    def request(*args, **kwargs):
        started = time.perf_counter()
        try:
            return forward(*args, **kwargs)
        finally:
            if collect:
                gc.collect()
            spent[0] += time.perf_counter() - started

    transport.request = request
    return transport, spent


def _catch_up_child(events: int, folder: Path, collect: bool) -> dict:
    """In this (child) process: an edge records ``events`` while offline, then one ``sync_once`` pushes them."""
    import logging

    sys.path.insert(0, str(ROOT))
    logging.disable(logging.WARNING)
    from edge.store import connect
    from edge.sync.worker import sync_once
    from tests.test_sync_support import make_edge, make_hub, node_of, register

    hub = make_hub(folder / "hub")
    node = node_of(make_edge(folder / "edge", register(hub, "store-1"), SYNC_BATCH=SYNC_BATCH))
    recorded = _insert_seconds(node.db(), _rows(events, "E"))
    transport, in_hub = _timed_transport(hub, collect)
    before = _rss()
    with _peak_rss() as peak:
        started = time.perf_counter()
        pushed = _rounds_until_done(node, transport)
        seconds = time.perf_counter() - started
    at_hub = connect(folder / "hub" / "hub.db")["events"].count
    assert pushed == events == at_hub, (pushed, events, at_hub)
    return {"events": events, "record_s": recorded, "sync_s": seconds, "hub_side_s": in_hub[0],
            "rss_before_mb": before / 2**20, "rss_peak_mb": peak[0] / 2**20}


def _rounds_until_done(node, transport) -> int:
    """Run bounded rounds back to back (as the worker does when a round says ``more``); return how many were pushed."""
    from edge.sync.worker import sync_once

    pushed = 0
    while True:
        result = sync_once(node, transport)
        pushed += result["pushed"]
        if not result["more"]:
            return pushed


def catch_up(events: int, folder: Path, collect: bool = False) -> dict:
    """Run one catch-up of ``events`` in a child process; return its figures."""
    out = subprocess.run([sys.executable, __file__, "--catch-up-child", str(events), str(folder), str(int(collect))], cwd=ROOT,
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def catch_ups(folder: Path, events: int) -> dict:
    """The catch-up of ``CATCHUP_SMALL`` events (median of runs) beside ``events`` (default 1M), without and with collection."""
    small = [catch_up(CATCHUP_SMALL, folder / f"small-{r}") for r in range(REPEATS)]
    label = f"{events // 1_000_000}m" if events % 1_000_000 == 0 else f"{events // 1000}k"
    figures = {f"catch_up_{CATCHUP_SMALL // 1000}k_s": statistics.median(s["sync_s"] for s in small),
               f"catch_up_{CATCHUP_SMALL // 1000}k_rss_peak_mb": statistics.median(s["rss_peak_mb"] for s in small)}
    for collect in (False, True):
        big, name = catch_up(events, folder / f"big-{collect}", collect), f"catch_up_{label}" + ("_collecting" if collect else "")
        figures.update({f"{name}_s": big["sync_s"], f"{name}_hub_side_s": big["hub_side_s"],
                        f"{name}_edge_side_s": big["sync_s"] - big["hub_side_s"], f"{name}_record_offline_s": big["record_s"],
                        f"{name}_rss_before_mb": big["rss_before_mb"], f"{name}_rss_peak_mb": big["rss_peak_mb"]})
    return figures


# -- steady load and recovery after a hub restore ---------------------------------------------------
def _writer(store: str, rate: float, seconds: float) -> None:
    """(child) Record events into ``store`` at ``rate`` per second for ``seconds``; print how many."""
    import sqlite3

    sys.path.insert(0, str(ROOT))
    from edge.store import connect
    from plugins.events.routes import record_event

    db, written, started = connect(store), 0, time.monotonic()
    while (elapsed := time.monotonic() - started) < seconds:
        if written < elapsed * rate:
            try:
                record_event(db, "view", {"n": written})
                written += 1
            except sqlite3.OperationalError:  # "database is locked": the write is tried again
                db.conn.rollback()
        else:
            time.sleep(min(0.002, 1 / rate))
    print(written)


def steady(folder: Path, rate: int, seconds: float) -> dict:
    """A round every ``ROUND_EVERY`` s while a child process records ``rate`` events/s for ``seconds``."""
    from tests.test_sync_support import FlaskTransport, make_edge, make_hub, node_of, register
    from edge.sync.worker import sync_once

    hub = make_hub(folder / "hub")
    node = node_of(make_edge(folder / "edge", register(hub, "store-1")))
    transport, rounds, pushed = FlaskTransport(hub), [], 0
    writer = subprocess.Popen([sys.executable, __file__, "--writer", str(node.store.path), str(rate), str(seconds)], cwd=ROOT,
                              stdout=subprocess.PIPE, text=True)
    started = time.perf_counter()
    while writer.poll() is None:
        began = time.perf_counter()
        pushed += sync_once(node, transport)["pushed"]
        rounds.append(time.perf_counter() - began)
        time.sleep(max(0.0, ROUND_EVERY - rounds[-1]))
    window = time.perf_counter() - started
    written = int(writer.communicate()[0].strip() or 0)
    left = written - pushed
    return {f"steady_{rate}_round_ms_median": statistics.median(rounds) * 1000, f"steady_{rate}_rounds": len(rounds),
            f"steady_{rate}_offered_per_s": written / window, f"steady_{rate}_synced_per_s": pushed / window,
            f"steady_{rate}_waiting_at_end": left}


def recovery(folder: Path, events: int, retained: bool) -> dict:
    """Seconds of rounds until a hub put back to an empty backup holds the node's ``events`` again."""
    import shutil

    from edge.store import connect
    from tests.test_sync_support import FlaskTransport, make_edge, make_hub, node_of, register

    retention = {} if retained else {"SYNC_RETAIN_HOURS": 0, "SYNC_RETAIN_CHANGES": 0}
    hub = make_hub(folder / "hub")
    node = node_of(make_edge(folder / "edge", register(hub, "store-1"), SYNC_BATCH=SYNC_BATCH, **retention))
    hub.extensions["storefront_edge_hub"]["store"].db().execute("PRAGMA wal_checkpoint(TRUNCATE)")
    shutil.copy(folder / "hub" / "hub.db", folder / "backup.db")
    _insert_seconds(node.db(), _rows(events, "R"))
    _rounds_until_done(node, FlaskTransport(hub))
    hub.extensions["storefront_edge_hub"]["store"].close()
    for suffix in ("-wal", "-shm"):
        (folder / "hub" / f"hub.db{suffix}").unlink(missing_ok=True)
    shutil.copy(folder / "backup.db", folder / "hub" / "hub.db")
    hub = make_hub(folder / "hub")
    started = time.perf_counter()
    _rounds_until_done(node, FlaskTransport(hub))
    seconds = time.perf_counter() - started
    count = connect(folder / "hub" / "hub.db")["events"].count
    assert count == events, (count, events)
    return {f"hub_restore_recovery_{events // 1000}k_{'retained_log' if retained else 'events_table'}_s": seconds}


def load_and_recovery(folder: Path) -> dict:
    """Steady rounds at each rate, then the recovery after a hub restore both ways."""
    figures = {}
    for rate in STEADY_RATES:
        figures.update(steady(folder / f"steady-{rate}", rate, STEADY_SECONDS))
    for retained in (True, False):
        figures.update(recovery(folder / f"recovery-{retained}", RECOVERY_EVENTS, retained))
    return figures


def main(events: int = CATCHUP_EVENTS) -> dict:
    """Measure everything in one run; print a markdown table; return the figures."""
    import logging

    logging.disable(logging.WARNING)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        figures = {**capture_overhead(folder), **export_apply(folder), **load_and_recovery(folder), **catch_ups(folder, events)}
    figures["table"] = "\n".join(["| figure | value |", "|---|---|"] + [
        f"| {key} | {value:.4g} |" if isinstance(value, float) else f"| {key} | {value} |" for key, value in figures.items()])
    print(figures["table"])
    return figures


if __name__ == "__main__":
    if sys.argv[1:2] == ["--writer"]:
        _writer(sys.argv[2], float(sys.argv[3]), float(sys.argv[4]))
    elif sys.argv[1:2] == ["--catch-up-child"]:
        print(json.dumps(_catch_up_child(int(sys.argv[2]), Path(sys.argv[3]), sys.argv[4] == "1")))
    else:
        main(int(sys.argv[1]) if len(sys.argv) > 1 else CATCHUP_EVENTS)
