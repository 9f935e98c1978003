"""Checkpoints of the SQLite log run in their own thread, not in the commits."""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

from herald.storage.sqlite import checkpoints
from herald.storage.sqlite.checkpoints import Checkpointer
from herald.storage.sqlite.store import SQLiteStore


def writer(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA wal_autocheckpoint = 0")
    conn.execute("CREATE TABLE IF NOT EXISTS t (v TEXT)")
    return conn


def until(condition: Callable[[], bool], seconds: float = 5.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "the condition never came true"
        time.sleep(0.01)


def test_the_log_is_copied_into_the_file_once_enough_jobs_committed(tmp_path: Path) -> None:
    path = tmp_path / "c.sqlite3"
    conn = writer(path)
    every = 20
    checkpointer = Checkpointer(lambda: sqlite3.connect(path, isolation_level=None), every=every)
    checkpointer.start()
    try:
        before = os.path.getsize(path)
        for i in range(every - 1):
            conn.execute("INSERT INTO t VALUES (?)", ("x" * 2000 + str(i),))
            checkpointer.committed(1)
        time.sleep(0.1)
        # One job short: nothing is copied yet, so the file has not grown.
        assert checkpointer.runs == 0
        assert os.path.getsize(path) == before
        conn.execute("INSERT INTO t VALUES ('last')")
        checkpointer.committed(1)
        until(lambda: checkpointer.runs == 1)
        assert os.path.getsize(path) > before + every * 2000
    finally:
        checkpointer.stop()
        conn.close()


async def test_the_store_runs_a_checkpoint_after_every_so_many_committed_jobs(
    tmp_path: Path,
) -> None:
    store = SQLiteStore(str(tmp_path / "h.sqlite3"), durability="normal")
    await store.open()
    try:
        for i in range(checkpoints.EVERY):
            await store.create_queue("p", f"q{i}", {})
        until(lambda: store._checkpoints.runs >= 1)
    finally:
        await store.close()
