"""The node's HTTP edge under slow clients, and events sustained against plain SQLite inserts.

Under gunicorn with 2 workers on loopback, measured by wrk with 50 connections side by side in one run:
- ``/healthz`` and ``POST /v1/events`` with and without 4 slow-body connections held open all along
  (each declares ``Content-Length: 1000``, sends 16 bytes and stalls; one that is answered 408 at its
  read deadline is opened again at once);
- ``/healthz`` while 200 idle kept-alive connections are held (they wait in the poller, not in threads);
- the same ``/healthz`` figures with 1, 2, 4, 8 and 16 threads per worker: the choice of ``serve``'s
  default (8);
- events per second one node sustains with zero errors (every answer 201, every event stored), against
  plain SQLite inserts of the same rows in one process (one transaction per event, WAL,
  ``synchronous=NORMAL``, as the node's store; the median of three rounds, before, beside and after
  the node's figures).
"""

from __future__ import annotations

import contextlib
import datetime
import json
import select
import socket
import sqlite3
import tempfile
import threading
import time
from pathlib import Path

from benchmarks.common import median, wrk
from tests.servers import gunicorn_node

CLIENT, ADMIN = "bench-client-key", "bench-admin-key"
ENV = {"STOREFRONT_EDGE_PLUGINS": "catalog,events", "STOREFRONT_EDGE_CLIENT_KEY": CLIENT,
       "STOREFRONT_EDGE_ADMIN_KEY": ADMIN}
CONNECTIONS, SLOW, IDLE, SECONDS = 50, 4, 200, 5
EVENT = '{"kind": "view", "payload": {"sku": "BENCH-1", "screen": "home"}}'
THREAD_CHOICES = (1, 2, 4, 8, 16)


def _idle_socket(port: int) -> socket.socket:
    """A connection that made one request and now sits idle, kept alive."""
    sock = socket.create_connection(("127.0.0.1", port))
    sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: bench\r\n\r\n")
    sock.settimeout(5)
    sock.recv(4096)
    return sock


def _slow_socket(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port))
    sock.sendall(f"POST /v1/events HTTP/1.1\r\nHost: bench\r\nAuthorization: Bearer {CLIENT}\r\n"
                 "Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"kind\": \"view\",".encode())
    return sock


@contextlib.contextmanager
def held_connections(port: int, count: int = SLOW, opener=_slow_socket):
    """Hold ``count`` connections made by ``opener`` open; reopen each one the node answers (408) or closes."""
    stop, reopened = threading.Event(), [0]
    sockets = [opener(port) for _ in range(count)]

    def keep_open():
        for _ in range(1_000_000):  # bounded; the stop event ends it far sooner
            if stop.is_set():
                return
            readable, _, _ = select.select(sockets, [], [], 0.2)
            for sock in readable:
                sockets.remove(sock)
                sock.close()
                sockets.append(opener(port))
                reopened[0] += 1

    holder = threading.Thread(target=keep_open, daemon=True)
    holder.start()
    time.sleep(0.5)
    try:
        yield reopened
    finally:
        stop.set()
        holder.join(timeout=5)
        for sock in sockets:
            sock.close()


def _post_script(folder: Path) -> str:
    script = folder / "post_event.lua"
    script.write_text(f'wrk.method = "POST"\nwrk.body = {json.dumps(EVENT)}\n'
                      'wrk.headers["Content-Type"] = "application/json"\n')
    return str(script)


def _event_rows(data: Path) -> int:
    with contextlib.closing(sqlite3.connect(data / "store.db")) as db:
        return db.execute("SELECT COUNT(*) FROM events").fetchone()[0]


def _routes(base: str, script: str, data: Path) -> dict:
    headers = {"Authorization": f"Bearer {CLIENT}"}
    figures = {}
    for label, held in (("", False), ("_slow4", True)):
        with held_connections(int(base.rsplit(":", 1)[1])) if held else contextlib.nullcontext([0]) as reopened:
            figures[f"healthz_c50{label}"] = wrk(f"{base}/healthz", CONNECTIONS, SECONDS)
            before = _event_rows(data)
            events = wrk(f"{base}/v1/events", CONNECTIONS, SECONDS, headers=headers, script=script)
            events["stored"] = _event_rows(data) - before
            figures[f"events_c50{label}"] = events
            if held:
                figures["slow_connections_answered_408_and_reopened"] = reopened[0]
    with held_connections(int(base.rsplit(":", 1)[1]), IDLE, _idle_socket):
        figures[f"healthz_c50_idle{IDLE}"] = wrk(f"{base}/healthz", CONNECTIONS, SECONDS)
    return figures


def _threads(data_root: Path) -> dict:
    figures = {}
    for threads in THREAD_CHOICES:
        data = data_root / f"threads-{threads}"
        with gunicorn_node(data, ENV, ready_status=503, serve_args=("--threads", str(threads))) as (base, _):
            figures[f"threads_{threads}_healthz_c50"] = wrk(f"{base}/healthz", CONNECTIONS, SECONDS)["rps"]
            with held_connections(int(base.rsplit(":", 1)[1])):
                held = wrk(f"{base}/healthz", CONNECTIONS, SECONDS)
            figures[f"threads_{threads}_healthz_c50_slow4"] = held["rps"]
            figures[f"threads_{threads}_healthz_c50_slow4_p99_ms"] = held["p99_ms"]
    return figures


def plain_inserts(path: Path, count: int = 20_000) -> float:
    """Events per second inserted by one process into a fresh SQLite file, one transaction each."""
    from ulid import ULID

    with contextlib.closing(sqlite3.connect(path, isolation_level=None)) as db:
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        db.execute("CREATE TABLE events (id TEXT PRIMARY KEY, kind TEXT NOT NULL, payload TEXT NOT NULL, "
                   "created_at TEXT NOT NULL, origin TEXT)")
        db.execute("CREATE INDEX idx_events_kind_created_at ON events (kind, created_at)")
        started = time.perf_counter()
        for _ in range(count):
            now = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="milliseconds")
            db.execute("BEGIN IMMEDIATE")
            db.execute("INSERT INTO events VALUES (?, ?, ?, ?, ?)", (str(ULID()), "view", EVENT, now, None))
            db.execute("COMMIT")
        return count / (time.perf_counter() - started)


def main() -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        script = _post_script(root)
        plain = [plain_inserts(root / "plain-0.db")]
        with gunicorn_node(root / "node", ENV, ready_status=503) as (base, _):
            figures = _routes(base, script, root / "node")
            plain.append(plain_inserts(root / "plain-1.db"))  # beside the node's figures: this machine is shared
        figures.update(_threads(root))
        plain.append(plain_inserts(root / "plain-2.db"))
        figures["plain_sqlite_inserts_per_s"] = median(plain)
        figures["plain_sqlite_inserts_per_s_rounds"] = [round(p) for p in plain]
    events = figures["events_c50"]
    figures["events_per_s_zero_errors"] = events["rps"] if events["non_2xx"] == 0 and not events["socket_errors"] else 0.0
    figures["events_vs_plain_inserts_ratio"] = figures["events_per_s_zero_errors"] / figures["plain_sqlite_inserts_per_s"]
    figures["healthz_rps_ratio_slow4_vs_none"] = figures["healthz_c50_slow4"]["rps"] / figures["healthz_c50"]["rps"]
    figures["events_rps_ratio_slow4_vs_none"] = figures["events_c50_slow4"]["rps"] / events["rps"]
    figures[f"healthz_rps_ratio_idle{IDLE}_vs_none"] = figures[f"healthz_c50_idle{IDLE}"]["rps"] / figures["healthz_c50"]["rps"]
    figures["table"] = _markdown(figures)
    print(figures["table"])
    return figures


def _row(label: str, held: str, r: dict) -> str:
    return (f"| {label} | {held} | {r['rps']:.0f} | {r['p50_ms']:.2f} | {r['p99_ms']:.2f} | {r['non_2xx']} | "
            f"{r['socket_errors'] or 0} |")


def _markdown(f: dict) -> str:
    rows = ["| route (50 connections) | connections held | req/s | p50 ms | p99 ms | non-2xx | socket errors |",
            "|---|---|---|---|---|---|---|"]
    for key, label in (("healthz", "/healthz"), ("events", "POST /v1/events")):
        for suffix, held in (("", 0), ("_slow4", SLOW)):
            r = f[f"{key}_c50{suffix}"]
            rows.append(_row(label, f"{held} slow-body", r))
    rows.append(_row("/healthz", f"{IDLE} idle kept-alive", f[f"healthz_c50_idle{IDLE}"]))
    rows += ["", "| threads per worker | /healthz req/s | with 4 slow-body connections | p99 ms with them |", "|---|---|---|---|"]
    for t in THREAD_CHOICES:
        rows.append(f"| {t} | {f[f'threads_{t}_healthz_c50']:.0f} | {f[f'threads_{t}_healthz_c50_slow4']:.0f} | "
                    f"{f[f'threads_{t}_healthz_c50_slow4_p99_ms']:.1f} |")
    return "\n".join(rows)


if __name__ == "__main__":
    print(json.dumps(main(), indent=2))
