"""The SQLite worker's batches: one transaction, and a failing job fails alone."""

from __future__ import annotations

import asyncio
import fcntl
import os
import sqlite3
import threading
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from herald.errors import InvalidRequest
from herald.storage.sqlite.store import SQLiteStore
from herald.storage.sqlite.worker import SQLiteWorker


@pytest.fixture
async def worker(tmp_path: Path) -> AsyncIterator[SQLiteWorker]:
    path = tmp_path / "w.sqlite3"

    def connect() -> sqlite3.Connection:
        conn = sqlite3.connect(path, isolation_level=None)
        conn.execute("CREATE TABLE IF NOT EXISTS t (v TEXT)")
        return conn

    running = SQLiteWorker(connect, name="test-writer", writer=True)
    running.start()
    yield running
    running.stop()


def insert(value: str, then: BaseException | None = None):  # type: ignore[no-untyped-def]
    def job(conn: sqlite3.Connection) -> str:
        conn.execute("INSERT INTO t VALUES (?)", (value,))
        if then is not None:
            raise then
        return value

    return job


def refuse_first(conn: sqlite3.Connection) -> str:
    raise InvalidRequest("refused before writing")


async def values(worker: SQLiteWorker) -> list[str]:
    rows = await worker.run(lambda c: c.execute("SELECT v FROM t ORDER BY v").fetchall())
    return [r[0] for r in rows]


async def test_a_job_failing_after_its_write_is_rolled_back_alone(worker: SQLiteWorker) -> None:
    results = await asyncio.gather(
        worker.run(insert("a")),
        worker.run(insert("b", then=RuntimeError("bug after a write"))),
        worker.run(refuse_first),
        worker.run(insert("c")),
        return_exceptions=True,
    )
    assert results[0] == "a" and results[3] == "c"
    assert isinstance(results[1], RuntimeError)
    assert isinstance(results[2], InvalidRequest)
    assert await values(worker) == ["a", "c"]


async def test_jobs_of_one_turn_share_a_transaction(worker: SQLiteWorker) -> None:
    seen = await asyncio.gather(*(worker.run(lambda c: c.in_transaction) for _ in range(5)))
    assert all(seen)
    await asyncio.gather(*(worker.run(insert(str(i))) for i in range(50)))
    assert len(await values(worker)) == 50


async def test_writers_on_one_file_take_turns_through_the_lock_file(tmp_path: Path) -> None:
    # Another process's writer holds the lock: a write must wait for it, not
    # fail, and go ahead as soon as it is free.
    path = tmp_path / "w.sqlite3"
    lock_path = f"{path}-writer-lock"

    def connect() -> sqlite3.Connection:
        conn = sqlite3.connect(path, isolation_level=None)
        conn.execute("CREATE TABLE IF NOT EXISTS t (v TEXT)")
        return conn

    other = os.open(lock_path, os.O_CREAT | os.O_RDWR)
    writer = SQLiteWorker(connect, name="test-writer", writer=True, lock_path=lock_path)
    writer.start()
    try:
        fcntl.flock(other, fcntl.LOCK_EX)
        waiting = asyncio.ensure_future(writer.run(insert("after")))
        await asyncio.sleep(0.3)
        assert not waiting.done()
        fcntl.flock(other, fcntl.LOCK_UN)
        assert await asyncio.wait_for(waiting, 10) == "after"
        # Between batches the lock is free for others again.
        fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)
    finally:
        # Released first, so that a failing test cannot leave the writer waiting.
        fcntl.flock(other, fcntl.LOCK_UN)
        os.close(other)
        writer.stop()


@pytest.mark.parametrize(("durability", "on_loop"), [("full", False), ("normal", True)])
async def test_only_writes_that_do_not_fsync_run_on_the_loops_thread(
    tmp_path: Path, durability: str, on_loop: bool
) -> None:
    store = SQLiteStore(str(tmp_path / "h.sqlite3"), durability=durability)
    await store.open()
    try:
        # Once with the thread idle after start-up: a small batch may then run here.
        await store.create_queue("p", "q", {})
        ran = await store._writer.run(lambda _: threading.current_thread())
        assert (ran is threading.current_thread()) is on_loop
    finally:
        await store.close()
