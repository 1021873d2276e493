"""Store upkeep off the request path: the node's WAL checkpoints and the pruning of old velocity rows, edges and
graph nodes.

A precheck commits about 25 pages to the WAL at 1,000,000 stored events (42 before the ``seen_hour`` prune,
:mod:`plugins.fraud.aging`). SQLite's automatic checkpoint runs inside the commit that leaves the WAL at
``wal_autocheckpoint`` pages (1,000 by default): with ``synchronous=NORMAL`` that commit copies the WAL
into the database and syncs both files, and one payment in 25-80 paid 9-12 ms or more for it (the p99). A WAL only restarts from its beginning when a writer starts while every frame in it is
copied back and no reader still reads from it; a ``PASSIVE`` checkpoint copies the frames that were there
when it began, so under steady traffic the commits landing during it keep it one step behind and the WAL
never restarts (with the automatic checkpoint off, it grew without bound).

Each worker runs one daemon thread (started with its first precheck, stopped by the plugin's ``shutdown``).
Every ``upkeep_seconds``:

- one thread per node (the one holding ``<store>-checkpoint.lock``; another worker's thread takes it over
  when its holder exits) runs a ``PASSIVE`` checkpoint on its own connection: it never blocks a writer
  and copies the bulk of the new frames. When the WAL has reached ``checkpoint_finish_pages``, up to three
  more unpaused rounds shrink what landed meanwhile (the last round's fsync writes back what it copies),
  and then the thread holds the node's writer queue (``writers_paused``) for a last round that copies only
  the frames committed during the one before, so every frame is copied back when the next writer starts,
  and that writer restarts the WAL: it stays bounded, and a payment waits at most for that short tail
  (about one commit in 600), never for the bulk copy. (A ``PASSIVE`` round's answer counts the frames there
  when it began: it cannot tell whether commits landed during it.)
- request connections of a node with a running upkeep thread keep SQLite's automatic checkpoint only as a
  safety valve (``wal_autocheckpoint`` pages, should the checkpointer stall; ``journal_size_limit`` trims
  the file after such a spike);
- once ``prune_every`` payments went by, the thread prunes in short write transactions of a bounded batch
  each (:func:`plugins.fraud.service.prune`).

A reader that keeps a snapshot open (a cursor not read to its end, a transaction left open) holds a
checkpoint back: the round then copies less than the WAL holds even with writers paused. The thread counts
such rounds (``Checkpointer.stats["held_back"]``) and logs a warning while the WAL grows past the safety
valve. Durability is what ``synchronous=NORMAL`` gives with SQLite's own checkpoints (every commit survives a
crash of the node; a power cut may lose the last commits before the WAL's next sync, which each checkpoint
round does): the checkpoint moves, nothing is skipped.

``upkeep_seconds = 0`` turns the thread off: SQLite checkpoints by itself inside commits (at its own 1,000
pages) and the prune runs after the answer that makes it due.
"""

from __future__ import annotations

import fcntl
import logging
import os
import threading
import time

log = logging.getLogger(__name__)
PAGE_BYTES = 4096  # SQLite's default page size: journal_size_limit is in bytes
CATCH_UP_ROUNDS, SMALL_TAIL_PAGES = 3, 64


def tune_connection(db, autocheckpoint_pages: int) -> None:
    """Give a connection (a request's, the upkeep thread's) the safety-valve automatic checkpoint at
    ``autocheckpoint_pages`` and a WAL size limit of as many pages (once per connection)."""
    if getattr(db, "fraud_wal_settings", None) != autocheckpoint_pages:
        db.conn.execute(f"PRAGMA wal_autocheckpoint={int(autocheckpoint_pages)}")
        db.conn.execute(f"PRAGMA journal_size_limit={int(autocheckpoint_pages) * PAGE_BYTES}")
        db.fraud_wal_settings = autocheckpoint_pages


class Checkpointer:
    """The node's WAL checkpoints, on a connection of their own (autocommit: it never holds a snapshot)."""

    def __init__(self, db, finish_pages: int, valve_pages: int):
        self.db, self.finish_pages, self.valve_pages = db, finish_pages, valve_pages
        self.stats = {"rounds": 0, "finished_with_writers_paused": 0, "held_back": 0, "max_wal_pages": 0,
                      "longest_pause_ms": 0.0, "paused_ms": 0.0}
        self._warned = False

    def _passive(self) -> tuple[int, int, int]:
        busy, pages, copied = self.db.conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        self.stats["max_wal_pages"] = max(self.stats["max_wal_pages"], pages)
        return busy, pages, copied

    def round(self) -> tuple[int, int, int]:
        """One checkpoint round; ``(busy, WAL pages, pages copied back)`` as ``PRAGMA wal_checkpoint`` answers."""
        self.stats["rounds"] += 1
        busy, pages, copied = self._passive()
        if busy or pages < self.finish_pages:
            return busy, pages, copied
        for _ in range(CATCH_UP_ROUNDS):  # shrink the tail first: the paused round's fsync writes back what it copies
            busy, later, copied = self._passive()
            if busy or later < pages:  # busy, or the WAL restarted meanwhile
                return busy, later, copied
            pages, landed = later, later - pages
            if landed <= SMALL_TAIL_PAGES:
                break
        return self._finish()

    def _finish(self) -> tuple[int, int, int]:
        """Copy the frames committed during the last round with the node's writers paused."""
        from edge.api import writers_paused

        started = time.perf_counter()
        with writers_paused(self.db):
            busy, pages, copied = self._passive()
        paused_ms = (time.perf_counter() - started) * 1000
        self.stats["finished_with_writers_paused"] += 1
        self.stats["longest_pause_ms"] = max(self.stats["longest_pause_ms"], paused_ms)
        self.stats["paused_ms"] += paused_ms
        if not busy and copied < pages:
            self._held_back(pages, copied)
        return busy, pages, copied

    def _held_back(self, pages: int, copied: int) -> None:
        self.stats["held_back"] += 1
        if pages >= self.valve_pages and not self._warned:
            self._warned = True
            log.warning("fraud upkeep: a reader holds the WAL (%d of %d pages copied back with writers paused): "
                        "a cursor not read to its end or a transaction left open; the WAL grows until it ends", copied, pages)


def wal_index(path, attempts: int = 1000) -> dict:
    """What the wal-index (``<store>-shm``) of the store at ``path`` says now: ``frames`` in the WAL,
    ``backfilled`` (copied back by checkpoints) and ``salt`` (it changes at every restart of the WAL).

    The one place that reads the wal-index (https://sqlite.org/walformat.html, in the machine's byte order), for
    the benchmark and the tests, never a decision of the node. Read without a lock, as SQLite's readers do: its
    header is kept twice, and a copy is taken once both agree (a commit may be rewriting them).
    """
    import mmap
    import struct

    with open(f"{path}-shm", "rb") as handle, mmap.mmap(handle.fileno(), 136, access=mmap.ACCESS_READ) as index:
        for _ in range(attempts):
            header, backfilled = index[0:48], struct.unpack_from("=I", index, 96)[0]
            if header == index[48:96]:
                break
        return {"frames": struct.unpack_from("=I", header, 16)[0], "salt": struct.unpack_from("=I", header, 32)[0],
                "backfilled": backfilled}


def _won(path: str):
    """The open lock file when this process holds ``path`` (one checkpointer per node), else ``None``."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd


class Upkeep:
    """One worker's upkeep thread."""

    def __init__(self, path, config, work):
        """``path``: the store file; ``config``: the plugin's :class:`~plugins.fraud.service.FraudConfig` (its
        ``upkeep_seconds``, ``checkpoint_finish_pages`` and ``wal_autocheckpoint``: see :class:`Checkpointer` and the
        module docstring); ``work(db)``: what to do besides the checkpoint at each tick (its own connection)."""
        self.path, self.interval_s, self.work = path, config.upkeep_seconds, work
        self.finish_pages, self.valve_pages = config.checkpoint_finish_pages, config.wal_autocheckpoint
        self.checkpointer: Checkpointer | None = None
        self._lock_fd = None
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, name="fraud-upkeep", daemon=True)

    def start(self) -> "Upkeep":
        """Start the thread; return self."""
        self.thread.start()
        return self

    def tick(self, db) -> None:
        """One round: take the node's checkpointer lock if free, checkpoint if held, then the other work."""
        if self._lock_fd is None:
            self._lock_fd = _won(f"{self.path}-checkpoint.lock")
            if self._lock_fd is not None:
                self.checkpointer = Checkpointer(db, self.finish_pages, self.valve_pages)
        if self.checkpointer is not None:
            self.checkpointer.round()
        self.work(db)

    def _run(self) -> None:
        from edge.api import connect

        db = connect(self.path)
        tune_connection(db, self.valve_pages)  # its prunes do not checkpoint either
        try:
            while not self.stopping.wait(self.interval_s):
                try:
                    self.tick(db)
                except Exception:  # a failed round is tried again at the next tick
                    log.exception("fraud upkeep failed (retried in %.2f s)", self.interval_s)
        finally:
            self.release()
            db.close()

    def release(self) -> None:
        """Give up the node's checkpointer lock (another worker's thread takes it over at its next tick)."""
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd, self.checkpointer = None, None

    def stop(self) -> None:
        """Stop the thread and wait for it (at most a few seconds)."""
        self.stopping.set()
        if self.thread.is_alive() and self.thread is not threading.current_thread():
            self.thread.join(timeout=5)
