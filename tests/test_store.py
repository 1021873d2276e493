"""The local store: WAL, per-thread connections, transactional named migrations."""

from __future__ import annotations

import threading

import pytest
from sqlite_utils import Migrations

from edge.store import Store, connect, migrate


def test_store_is_wal_with_foreign_keys(tmp_path):
    db = connect(tmp_path / "s.db")
    assert db.journal_mode == "wal"
    assert db.execute("PRAGMA foreign_keys").fetchone()[0] == 1


def test_failed_migration_rolls_back_and_stays_pending(tmp_path):
    db = connect(tmp_path / "s.db")
    steps = Migrations("shop")

    @steps()
    def create_items(db):
        db["items"].create({"id": int}, pk="id")

    @steps()
    def broken(db):
        db["half"].create({"id": int}, pk="id")
        raise RuntimeError("fails midway")

    with pytest.raises(RuntimeError):
        migrate(db, [steps])
    assert db["items"].exists() and not db["half"].exists()
    assert [m.name for m in steps.pending(db)] == ["broken"]


def test_migrations_apply_once(tmp_path):
    db = connect(tmp_path / "s.db")
    steps = Migrations("shop")
    steps()(lambda db: db["items"].create({"id": int}, pk="id"))
    assert migrate(db, [steps]) == ["shop:<lambda>"]
    assert migrate(db, [steps]) == []


def test_each_thread_gets_its_own_connection(tmp_path):
    store = Store(tmp_path / "s.db")
    seen = []
    thread = threading.Thread(target=lambda: seen.append(store.db()))
    thread.start()
    thread.join()
    assert seen[0] is not store.db()
    assert store.db() is store.db()


def _boot(data_dir: str, start, results) -> None:
    from edge.app import create_app  # import first, then start together, as forked workers do

    start.wait(timeout=60)
    try:
        create_app({"DATA_DIR": data_dir}, watch=False).extensions["storefront_edge"].close()
        results.put("ok")
    except Exception as exc:  # report what a worker would have died of
        results.put(f"{type(exc).__name__}: {exc}")


def test_workers_booting_at_once_on_a_fresh_data_dir_all_start(tmp_path):
    """gunicorn forks its workers together; each migrates and starts plugins on the same new store.

    Fresh interpreters (spawn) stand in for the workers: forking this test process, which may hold
    other libraries' threads, would be unsafe.
    """
    import multiprocessing

    context = multiprocessing.get_context("spawn")
    for round_ in range(6):
        results, start = context.Queue(), context.Barrier(4)
        workers = [context.Process(target=_boot, args=(str(tmp_path / f"var{round_}"), start, results)) for _ in range(4)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(timeout=120)
        assert [results.get(timeout=5) for _ in workers] == ["ok"] * 4


def test_write_transactions_from_many_threads_and_processes_all_commit(tmp_path):
    """BEGIN IMMEDIATE behind the writer queue: a read-then-write from 8 threads in each of 2 processes
    never fails with 'database is locked', and every row is there once."""
    import multiprocessing

    from edge.store import connect

    path = tmp_path / "burst.db"
    connect(path)["rows"].create({"id": str, "n": int}, pk="id")
    processes = [multiprocessing.get_context("spawn").Process(target=_burst, args=(str(path), tag)) for tag in "ab"]
    for process in processes:
        process.start()
    for process in processes:
        process.join(timeout=120)
    assert [p.exitcode for p in processes] == [0, 0]
    assert connect(path).execute("SELECT COUNT(DISTINCT id), COUNT(*) FROM rows").fetchone() == (1600, 1600)


def _burst(path: str, tag: str) -> None:
    import concurrent.futures

    from edge.store import Store, write_transaction

    store = Store(path)

    def write(i: int) -> None:
        db = store.db()
        with write_transaction(db):
            count = db.execute("SELECT COUNT(*) FROM rows").fetchone()[0]  # a read before the write
            db["rows"].insert({"id": f"{tag}-{i}", "n": count})

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        list(pool.map(write, range(800)))
