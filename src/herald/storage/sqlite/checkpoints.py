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
from collections.abc import Callable

log = logging.getLogger("herald")

# Jobs committed between checkpoints: a job writes a few pages, so a checkpoint copies a
# few hundred, and the writer's own, at `WRITER_EVERY`, finds little left to copy.
EVERY = 50
# The log's length in pages at which the writer's own commit checkpoints what is left.
WRITER_EVERY = 1000


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
        try:
            conn = self._connect()
        except sqlite3.Error as exc:
            # The writer's own checkpoints still keep the log in bounds.
            log.warning("the SQLite checkpoint thread cannot open the file: %s", exc)
            return
        try:
            while True:
                self._due.wait()
                # Cleared before the look at `_stopping`, so that a stop set meanwhile
                # is seen on the next turn rather than lost.
                self._due.clear()
                if self._stopping:
                    return
                try:
                    conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                except sqlite3.Error as exc:
                    # The next one copies what this one could not.
                    log.warning("a checkpoint of the SQLite log failed: %s", exc)
                self.runs += 1
        finally:
            conn.close()
