"""Wake-ups for the SQLite store: in this process at once, from other processes by polling.

A post or a release in this process wakes its watchers as soon as it commits.
Other processes writing the same file (`--workers`, or two servers) are seen
by a poll that runs only while something is watched: every few milliseconds
it asks `PRAGMA data_version`, which changes when another connection commits
and costs a read of shared memory; only then does it look for the queues that
got messages (by message id, which only grows) or had claims released (the
`releases` table) since the last look.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
from collections.abc import Callable

from herald.storage.base import Wake
from herald.storage.sqlite import queues

log = logging.getLogger("herald")

Key = tuple[str, str]

# Measured in docs/performance.md: the cost of a data_version poll is a few
# microseconds, and this interval keeps a wake-up across processes within 10 ms.
POLL_INTERVAL = 0.004
# How long a release is kept for pollers of other processes to see.
RELEASE_MEMORY = 60.0

_CHANGED = """
    SELECT q.project, q.name FROM messages m JOIN queues q ON q.id = m.queue_id
    WHERE m.id > ?
    UNION
    SELECT q.project, q.name FROM releases r JOIN queues q ON q.id = r.queue_id
    WHERE r.id > ?
"""
_LAST_IDS = """
    SELECT (SELECT coalesce(max(id), 0) FROM messages),
           (SELECT coalesce(max(id), 0) FROM releases)
"""


def next_available(conn: sqlite3.Connection, project: str, queue: str, now: float) -> float | None:
    """When the next delayed message comes due or live claim ends, after `now`."""
    queue_id = queues.find(conn, project, queue)
    if queue_id is None:
        return None
    row = conn.execute(
        "SELECT min(t) FROM ("
        " SELECT min(available) AS t FROM messages"
        "  WHERE queue_id = ? AND available > created AND available > ? AND expires > ?"
        " UNION ALL"
        " SELECT min(expires) FROM claims WHERE queue_id = ? AND expires > ?)",
        (queue_id, now, now, queue_id, now),
    ).fetchone()
    return None if row[0] is None else float(row[0])


def forget_releases(conn: sqlite3.Connection, now: float) -> int:
    """Drop releases old enough that every poller has seen them; how many."""
    return conn.execute("DELETE FROM releases WHERE at < ?", (now - RELEASE_MEMORY,)).rowcount


class Watches:
    """The watched queues of one store, and the poll that sees other processes' writes."""

    def __init__(self, connect: Callable[[], sqlite3.Connection]) -> None:
        self._connect = connect
        self._wakes: dict[Key, Wake] = {}
        self._poll: asyncio.Task[None] | None = None

    def signal(self, project: str, queue: str) -> None:
        """A change of this process committed: wake the queue's watcher, if any."""
        wake = self._wakes.get((project, queue))
        if wake is not None:
            wake()

    def add(self, project: str, queue: str, wake: Wake) -> None:
        self._wakes[(project, queue)] = wake
        if self._poll is None or self._poll.done():
            # Where the poll starts is read now, so that it sees every commit from now on.
            conn = self._connect()
            try:
                version = conn.execute("PRAGMA data_version").fetchone()[0]
                posts, releases = conn.execute(_LAST_IDS).fetchone()
            except BaseException:
                conn.close()
                raise
            self._poll = asyncio.create_task(self._polling(conn, version, posts, releases))

    def remove(self, project: str, queue: str) -> None:
        self._wakes.pop((project, queue), None)

    async def close(self) -> None:
        self._wakes.clear()
        if self._poll is not None:
            self._poll.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._poll
            self._poll = None

    async def _polling(
        self, conn: sqlite3.Connection, version: int, posts: int, releases: int
    ) -> None:
        # The loop's own thread runs these reads: each is microseconds long, and WAL
        # readers never wait for the writer.
        try:
            while self._wakes:
                await asyncio.sleep(POLL_INTERVAL)
                seen = conn.execute("PRAGMA data_version").fetchone()[0]
                if seen == version:
                    continue
                version = seen
                conn.execute("BEGIN")
                try:
                    changed = conn.execute(_CHANGED, (posts, releases)).fetchall()
                    posts, releases = conn.execute(_LAST_IDS).fetchone()
                finally:
                    conn.execute("COMMIT")
                for project, queue in changed:
                    self.signal(project, queue)
        except sqlite3.Error as exc:
            # Waiters still read again at due times and when their waits end.
            log.warning("watching the SQLite file for other processes' posts failed: %s", exc)
        finally:
            conn.close()
