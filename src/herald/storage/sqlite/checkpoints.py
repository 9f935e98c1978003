"""Checkpoints of the write-ahead log, in a thread of their own.

SQLite checkpoints by itself in whichever commit takes the log past a size, and
that commit then copies the log into the database file and syncs both before it
returns. With small batches committed on the event loop's thread (durability
`normal`) that stopped every request of the process for milliseconds, and set
the p99 of an RPC round trip (docs/performance.md). Here a thread with its own
connection runs a passive checkpoint, which waits for no reader or writer,
after every `EVERY` committed jobs; the writer's own checkpoint, at
`WRITER_EVERY` pages, is left only the pages written since, and is what lets
the log start again from its beginning.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Callable

log = logging.getLogger("herald")

# Jobs committed between checkpoints: a job writes a few pages, so this keeps the log
# near SQLite's own default of 1,000 pages between checkpoints.
EVERY = 50
# The log's length in pages at which the writer's own commit checkpoints what is left.
WRITER_EVERY = 1000
# Passes of one checkpoint, and the pause between them, to find the writer between commits.
CATCH_UP_PASSES = 8
CATCH_UP_PAUSE = 0.001


class Checkpointer:
    """Runs `PRAGMA wal_checkpoint(PASSIVE)` after every `every` committed jobs."""

    def __init__(self, connect: Callable[[], sqlite3.Connection], *, every: int = EVERY) -> None:
        self._connect = connect
        self._every = every
        self._owed = 0
        self._due = threading.Event()
        self._stopping = False
        self._thread = threading.Thread(
            target=self._run, name="herald-sqlite-checkpoints", daemon=True
        )
        self.runs = 0

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        if self._thread.is_alive():
            self._stopping = True
            self._due.set()
            self._thread.join()

    def committed(self, jobs: int) -> None:
        """`jobs` were committed. Called by the writer alone, on one thread at a time."""
        self._owed += jobs
        if self._owed >= self._every:
            self._owed = 0
            self._due.set()

    def _run(self) -> None:
        conn = self._connect()
        try:
            while True:
                self._due.wait()
                if self._stopping:
                    return
                self._due.clear()
                try:
                    self._catch_up(conn)
                except sqlite3.Error as exc:
                    # The next one copies what this one could not.
                    log.warning("a checkpoint of the SQLite log failed: %s", exc)
                self.runs += 1
        finally:
            conn.close()

    def _catch_up(self, conn: sqlite3.Connection) -> None:
        # The log starts again from its beginning only if a writer begins after a
        # checkpoint that copied all of it; commits made meanwhile are copied by the
        # next passes, which are short, until one lands in a pause between commits.
        for _ in range(CATCH_UP_PASSES):
            _, pages, copied = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
            if copied >= pages or self._stopping:
                return
            time.sleep(CATCH_UP_PAUSE)
