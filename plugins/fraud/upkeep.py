"""Store upkeep off the request path: WAL checkpoints and the pruning of old velocity rows, edges and graph nodes.

A precheck commits a dozen pages; SQLite's automatic checkpoint runs inside the commit that fills the
WAL past 1,000 pages, so about one payment in 80 paid for copying the WAL into the database and its
fsync (``synchronous=NORMAL`` syncs at checkpoints only) — the p99. Each worker runs one daemon thread
(started with its first precheck, stopped by the plugin's ``shutdown``) that every
``upkeep_seconds`` runs a ``PASSIVE`` checkpoint on its own connection (it never blocks a writer; it
copies most pages before a commit's own checkpoint would, but under steady traffic it seldom finishes
between two transactions, so the WAL is still restarted by the commits' automatic checkpoint: with that
turned off in a trial the WAL grew without bound) and, once ``prune_every`` payments went by, prunes in bounded batches
in its own short write transaction. The period (0.1 s by default) must be short enough that the
WAL cannot grow past SQLite's 1,000-page threshold between two ticks (at 250 payments/s of about a
dozen pages each, 0.5 s would let it: the next commit then checkpoints by itself). ``upkeep_seconds = 0``
turns the thread off: SQLite checkpoints
by itself and the prune runs after the answer that makes it due.
"""

from __future__ import annotations

import logging
import threading

log = logging.getLogger(__name__)


class Upkeep:
    """One worker's upkeep thread."""

    def __init__(self, path, interval_s: float, work):
        """``path``: the store file; ``work(db)``: what to do besides the checkpoint at each tick (its own connection)."""
        self.path, self.interval_s, self.work = path, interval_s, work
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, name="fraud-upkeep", daemon=True)

    def start(self) -> "Upkeep":
        """Start the thread; return self."""
        self.thread.start()
        return self

    def _run(self) -> None:
        from edge.api import connect

        db = connect(self.path)
        try:
            while not self.stopping.wait(self.interval_s):
                try:
                    db.conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                    self.work(db)
                except Exception:  # a failed round is tried again at the next tick
                    log.exception("fraud upkeep failed (retried in %.1f s)", self.interval_s)
        finally:
            db.close()

    def stop(self) -> None:
        """Stop the thread and wait for it (at most a few seconds)."""
        self.stopping.set()
        if self.thread.is_alive() and self.thread is not threading.current_thread():
            self.thread.join(timeout=5)
