"""A thread that owns one SQLite connection and runs jobs for the event loop.

Jobs queued while a batch is running form the next batch, and a batch is one
transaction: concurrent writers share a single commit (group commit), and
nobody's future resolves before the commit holding their write is done.

A job may raise a `HeraldError` only before it writes anything; any other
exception rolls its batch back and the batch runs again without it.

Writers of several processes on one file take turns through a lock file
(`flock`), which wakes the next writer as soon as the lock is free; SQLite's
own busy handler instead sleeps and polls, for up to 100 ms at a time, and
left some requests waiting for seconds. The wait has no deadline: polling to
have one cost a third of the throughput and made p99 six times worse, and a
process that dies (or that uvicorn's supervisor kills when it stops answering)
releases the lock.

A small batch queued while the thread has nothing to do runs on the event loop's
own thread instead, where it would otherwise wait for two hand-overs between
threads (each a wake-up the OS may schedule late on a busy host) for a
transaction that takes tens of microseconds; bigger batches, and any batch while
the thread is busy or another process holds the write lock, go to the thread.
The store turns this off for writes that fsync as they commit.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import queue
import sqlite3
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from herald.errors import HeraldError, StoreUnavailable

T = TypeVar("T")
Job = Callable[[sqlite3.Connection], Any]
_Item = tuple[Job, "asyncio.Future[Any]"]
_Outcome = tuple["asyncio.Future[Any]", Any, BaseException | None]

# The most jobs a batch run on the loop's thread may have: a bigger batch means a busy
# store, where the SQL of one batch is better run beside the loop's work on the next.
HERE_MOST = 4


class SQLiteWorker:
    """Runs jobs on its own connection, one transaction per batch."""

    def __init__(
        self,
        connect: Callable[[], sqlite3.Connection],
        *,
        name: str,
        writer: bool,
        lock_path: str | None = None,
        max_batch: int = 256,
        here: bool = False,
        on_commit: Callable[[int], None] | None = None,
    ) -> None:
        self._connect = connect
        self._writer = writer
        self._lock_path = lock_path
        self._max_batch = max_batch
        self._here = here
        self._on_commit = on_commit
        self._conn: sqlite3.Connection | None = None
        self._lock = -1
        # Batches handed to the thread and not yet run; the connection is the loop's
        # to use only while none is.
        self._handed = 0
        self._state = threading.Lock()
        self._jobs: queue.SimpleQueue[list[_Item] | None] = queue.SimpleQueue()
        self._outbox: list[_Item] = []
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._ready = threading.Event()
        self._startup_error: BaseException | None = None

    def start(self) -> None:
        """Start the thread and wait until its connection is open."""
        self._thread.start()
        self._ready.wait()
        if self._startup_error is not None:
            raise self._startup_error

    def stop(self) -> None:
        """Finish the queued jobs, then close the connection."""
        if self._thread.is_alive():
            self._jobs.put(None)
            self._thread.join()

    async def run(self, job: Callable[[sqlite3.Connection], T]) -> T:
        """Run `job` in the worker's thread and return what it returns."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._outbox.append((job, future))
        if len(self._outbox) == 1:
            # Waking the thread costs a GIL hand-over; jobs submitted during
            # one turn of the event loop share a single wake-up.
            loop.call_soon(self._flush)
        return await future

    def _flush(self) -> None:
        jobs, self._outbox = self._outbox, []
        if self._here and len(jobs) <= HERE_MOST and self._ran_here(jobs):
            return
        with self._state:
            self._handed += 1
        self._jobs.put(jobs)

    def _ran_here(self, jobs: list[_Item]) -> bool:
        """Run the batch on the loop's thread if the worker's thread has nothing to do;
        whether it did. Two hand-overs between threads cost more than a short batch."""
        with self._state:
            # Read under the lock: the thread clears it there before closing it.
            conn = self._conn
            if self._handed or conn is None:
                return False
            self._handed = 1
        try:
            if self._lock >= 0:
                try:
                    fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    # Another process is writing: wait for it in the thread, not here.
                    return False
            try:
                outcomes = self._run_batch(conn, jobs)
            finally:
                if self._lock >= 0:
                    fcntl.flock(self._lock, fcntl.LOCK_UN)
        finally:
            with self._state:
                self._handed -= 1
        _settle(outcomes)
        return True

    def _run(self) -> None:
        lock = -1
        try:
            if self._lock_path is not None:
                lock = os.open(self._lock_path, os.O_CREAT | os.O_RDWR, 0o600)
            conn = self._connect()
        except BaseException as exc:  # reported to start()
            if lock >= 0:
                os.close(lock)
            self._startup_error = exc
            self._ready.set()
            return
        self._conn, self._lock = conn, lock
        self._ready.set()
        try:
            while True:
                first = self._jobs.get()
                if first is None:
                    return
                # The batch is taken once the lock is held, not before: the jobs that
                # came while another process wrote join it, where they would otherwise
                # wait for that process's next turn too.
                if lock >= 0:
                    fcntl.flock(lock, fcntl.LOCK_EX)
                batch = first
                taken = 1
                stopping = False
                while len(batch) < self._max_batch:
                    try:
                        more = self._jobs.get_nowait()
                    except queue.Empty:
                        break
                    if more is None:
                        stopping = True
                        break
                    batch += more
                    taken += 1
                try:
                    outcomes = self._run_batch(conn, batch)
                finally:
                    if lock >= 0:
                        fcntl.flock(lock, fcntl.LOCK_UN)
                    with self._state:
                        self._handed -= taken
                _deliver(outcomes)
                if stopping:
                    return
        finally:
            with self._state:
                self._conn = None
            conn.close()
            if lock >= 0:
                os.close(lock)

    def _run_batch(self, conn: sqlite3.Connection, batch: list[_Item]) -> list[_Outcome]:
        failed: list[_Outcome] = []
        while batch:
            try:
                conn.execute("BEGIN IMMEDIATE" if self._writer else "BEGIN")
            except sqlite3.Error as exc:
                error = _unavailable(exc)
                return failed + [(future, None, error) for _, future in batch]
            outcomes: list[_Outcome] = []
            broken: _Item | None = None
            for item in batch:
                job, future = item
                try:
                    outcomes.append((future, job(conn), None))
                except HeraldError as exc:
                    # Jobs raise domain errors only before they write, so the
                    # rest of the batch can commit without a savepoint each.
                    outcomes.append((future, None, exc))
                except Exception as exc:
                    # Anything else may have left half a write: roll the batch
                    # back, fail this job alone and run the others again.
                    broken = item
                    failed.append((future, None, _translate(exc)))
                    break
            if broken is not None:
                _rollback(conn)
                batch = [other for other in batch if other is not broken]
                continue
            try:
                conn.execute("COMMIT")
            except sqlite3.Error as exc:
                _rollback(conn)
                error = _unavailable(exc)
                return failed + [(future, None, error) for future, _, _ in outcomes]
            if self._on_commit is not None:
                self._on_commit(len(outcomes))
            return failed + outcomes
        return failed


def _deliver(outcomes: list[_Outcome]) -> None:
    by_loop: dict[asyncio.AbstractEventLoop, list[_Outcome]] = {}
    for outcome in outcomes:
        by_loop.setdefault(outcome[0].get_loop(), []).append(outcome)
    for loop, items in by_loop.items():
        with contextlib.suppress(RuntimeError):  # the loop closed while the job ran
            loop.call_soon_threadsafe(_settle, items)


def _settle(outcomes: list[_Outcome]) -> None:
    for future, result, error in outcomes:
        if future.done():
            continue
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(result)


def _rollback(conn: sqlite3.Connection) -> None:
    with contextlib.suppress(sqlite3.Error):
        conn.execute("ROLLBACK")


def _translate(exc: Exception) -> BaseException:
    if isinstance(exc, sqlite3.OperationalError):
        return _unavailable(exc)
    return exc


def _unavailable(exc: BaseException) -> StoreUnavailable:
    return StoreUnavailable(
        f"The storage backend could not complete the request ({exc}). "
        "Please try again in a few seconds."
    )
