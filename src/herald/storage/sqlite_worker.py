"""A thread that owns one SQLite connection and runs jobs for the event loop.

Jobs queued while a batch is running form the next batch, and a batch is one
transaction: concurrent writers share a single commit (group commit), and
nobody's future resolves before the commit holding their write is done.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import sqlite3
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from herald.errors import ServiceUnavailable

T = TypeVar("T")
Job = Callable[[sqlite3.Connection], Any]
_Item = tuple[Job, "asyncio.Future[Any]"]
_Outcome = tuple["asyncio.Future[Any]", Any, BaseException | None]


class SQLiteWorker:
    """Runs jobs on its own connection, one transaction per batch."""

    def __init__(
        self,
        connect: Callable[[], sqlite3.Connection],
        *,
        name: str,
        writer: bool,
        max_batch: int = 256,
    ) -> None:
        self._connect = connect
        self._writer = writer
        self._max_batch = max_batch
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
        self._jobs.put(jobs)

    def _run(self) -> None:
        try:
            conn = self._connect()
        except BaseException as exc:  # reported to start()
            self._startup_error = exc
            self._ready.set()
            return
        self._ready.set()
        try:
            while True:
                first = self._jobs.get()
                if first is None:
                    return
                batch = first
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
                outcomes = self._run_batch(conn, batch)
                _deliver(outcomes)
                if stopping:
                    return
        finally:
            conn.close()

    def _run_batch(self, conn: sqlite3.Connection, batch: list[_Item]) -> list[_Outcome]:
        try:
            conn.execute("BEGIN IMMEDIATE" if self._writer else "BEGIN")
        except sqlite3.Error as exc:
            error = _unavailable(exc)
            return [(future, None, error) for _, future in batch]
        outcomes: list[_Outcome] = []
        for job, future in batch:
            if not conn.in_transaction:
                # A failure aborted the whole transaction: run nothing more in
                # it, so that no job commits on its own and is then reported
                # as failed.
                return [
                    (f, None, _unavailable(RuntimeError("transaction aborted"))) for _, f in batch
                ]
            outcomes.append((future, *self._run_job(conn, job)))
        try:
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            _rollback(conn)
            error = _unavailable(exc)
            return [(future, None, error) for future, _, _ in outcomes]
        return outcomes

    def _run_job(self, conn: sqlite3.Connection, job: Job) -> tuple[Any, BaseException | None]:
        if not self._writer:
            try:
                return job(conn), None
            except Exception as exc:
                return None, _translate(exc)
        # A savepoint per job lets one failing request roll back alone while
        # the rest of the batch still commits.
        conn.execute("SAVEPOINT job")
        try:
            result = job(conn)
        except Exception as exc:
            try:
                conn.execute("ROLLBACK TO job")
                conn.execute("RELEASE job")
            except sqlite3.Error:
                pass  # the transaction is gone; _run_batch notices
            return None, _translate(exc)
        conn.execute("RELEASE job")
        return result, None


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


def _unavailable(exc: BaseException) -> ServiceUnavailable:
    return ServiceUnavailable(
        f"The storage backend could not complete the request ({exc}). "
        "Please try again in a few seconds."
    )
