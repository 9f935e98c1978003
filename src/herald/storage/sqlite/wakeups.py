"""Wake-ups for the SQLite store: in this process at once, from other processes through
the file.

A post or a release in this process wakes its watchers as soon as it commits.
Other processes writing the same file (`--workers`, or two servers) are heard
through it, only while something is watched: every commit appends to the
write-ahead log, and inotify tells of that write with no cost while nothing is
written. Then `PRAGMA data_version` (a read of shared memory) says whether
another connection committed, and only then does one query find the queues
that got messages (by message id, which only grows) or had claims released
(the `releases` table) since the last look. A commit becomes visible only
after its last write to the log (and that write's fsync), so after a write the
check repeats for `SETTLE` seconds. Checks come
at most every `MIN_CHECK_INTERVAL`, so a busy file costs a bounded few hundred
checks a second. Where inotify is missing, the same check runs every
`POLL_INTERVAL`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
from collections.abc import Callable
from typing import Any

from herald.storage.base import Wake
from herald.storage.sqlite import queues

try:
    import inotify_simple  # type: ignore[import-untyped]
except ImportError:  # not Linux
    inotify_simple = None

HAVE_INOTIFY = inotify_simple is not None

log = logging.getLogger("herald")

Key = tuple[str, str]

# Both are measured in docs/performance.md (the long polls section).
MIN_CHECK_INTERVAL = 0.002
POLL_INTERVAL = 0.004
# After a write to the log, how long to keep looking for the commit it belongs to.
SETTLE = 0.25
# How long a release is kept for the watchers of other processes to see.
RELEASE_MEMORY = 60.0

# The outbox's watch, under a key no queue has (a queue's name is never empty).
OUTBOX: Key = ("", "")

# NOT INDEXED: otherwise the planner groups by walking messages_by_queue, every message
# of the file (4.7 ms with 200,000 queued, at each check while another process posts or
# claims), instead of seeking past the last id seen (11 µs).
_CHANGED = """
    SELECT q.project, q.name, max(m.id) FROM messages m NOT INDEXED JOIN queues q
    ON q.id = m.queue_id WHERE m.id > ? GROUP BY m.queue_id
    UNION ALL
    SELECT DISTINCT q.project, q.name, NULL FROM releases r JOIN queues q ON q.id = r.queue_id
    WHERE r.id > ?
    UNION ALL
    SELECT '', '', NULL WHERE EXISTS (SELECT 1 FROM deliveries WHERE id > ?)
"""
_LAST_IDS = """
    SELECT (SELECT coalesce(max(id), 0) FROM messages),
           (SELECT coalesce(max(id), 0) FROM releases),
           (SELECT coalesce(max(id), 0) FROM deliveries)
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
    """Drop releases old enough that every watcher has seen them; how many."""
    return conn.execute("DELETE FROM releases WHERE at < ?", (now - RELEASE_MEMORY,)).rowcount


class _Commits:
    """What other connections committed to the file since the last look."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self._version = conn.execute("PRAGMA data_version").fetchone()[0]
        self._posts, self._releases, self._owed = conn.execute(_LAST_IDS).fetchone()

    def changed_queues(self) -> list[tuple[str, str, int | None]] | None:
        """The queues with new messages (and the last one's id) or releases (None);
        None when nothing was committed."""
        # The loop's own thread runs these reads: each is microseconds long, and WAL
        # readers never wait for the writer.
        version = self.conn.execute("PRAGMA data_version").fetchone()[0]
        if version == self._version:
            return None
        self._version = version
        # Most commits of a busy file are claims and deletes, which add no message,
        # release or delivery: one look at the last ids tells so, without the search.
        if self.conn.execute(_LAST_IDS).fetchone() == (self._posts, self._releases, self._owed):
            return []
        self.conn.execute("BEGIN")
        try:
            last = (self._posts, self._releases, self._owed)
            changed = self.conn.execute(_CHANGED, last).fetchall()
            self._posts, self._releases, self._owed = self.conn.execute(_LAST_IDS).fetchone()
        finally:
            self.conn.execute("COMMIT")
        return [(project, queue, last) for project, queue, last in changed]


class Watches:
    """The watched queues of one store, and what hears the other processes' commits."""

    def __init__(self, path: str, connect: Callable[[], sqlite3.Connection]) -> None:
        self._wal = f"{path}-wal"
        self._connect = connect
        self._wakes: dict[Key, Wake] = {}
        # The last message id this process posted to each watched queue and told of.
        self._told: dict[Key, int] = {}
        self._hearing: asyncio.Task[None] | None = None

    def signal(self, project: str, queue: str, posted: int = 0) -> None:
        """A change committed: wake the queue's watcher, if any. `posted` is the last
        message id this process committed to the queue."""
        key = (project, queue)
        wake = self._wakes.get(key)
        if wake is not None:
            if posted > self._told.get(key, 0):
                self._told[key] = posted
            wake()

    def add(self, project: str, queue: str, wake: Wake) -> None:
        self._wakes[(project, queue)] = wake
        if self._hearing is None or self._hearing.done():
            # Where the looking starts is read now, so that every later commit is seen.
            conn = self._connect()
            try:
                commits = _Commits(conn)
            except BaseException:
                conn.close()
                raise
            self._hearing = asyncio.create_task(self._hear(commits))

    def remove(self, project: str, queue: str) -> None:
        self._wakes.pop((project, queue), None)
        self._told.pop((project, queue), None)

    async def close(self) -> None:
        self._wakes.clear()
        self._told.clear()
        if self._hearing is not None:
            self._hearing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._hearing
            self._hearing = None

    async def _hear(self, commits: _Commits) -> None:
        try:
            if not HAVE_INOTIFY:
                await self._poll(commits)
            else:
                await self._listen(commits)
        except (sqlite3.Error, OSError) as exc:
            # Waiters still read again at due times and when their waits end.
            log.warning("hearing other processes' posts to the SQLite file failed: %s", exc)
        finally:
            commits.conn.close()

    async def _poll(self, commits: _Commits) -> None:
        while self._wakes:
            await asyncio.sleep(POLL_INTERVAL)
            self._wake_all(commits.changed_queues())

    async def _listen(self, commits: _Commits) -> None:
        loop = asyncio.get_running_loop()
        written = asyncio.Event()
        looking_until = 0.0
        with inotify_simple.INotify(nonblocking=True) as inotify:
            inotify.add_watch(self._wal, inotify_simple.flags.MODIFY)
            loop.add_reader(inotify.fileno(), _drain, inotify, written)
            try:
                while self._wakes:
                    if not written.is_set() and loop.time() >= looking_until:
                        with contextlib.suppress(TimeoutError):
                            # Now and then anyway, so that the loop sees the last watch go.
                            await asyncio.wait_for(written.wait(), 1.0)
                    if written.is_set():
                        written.clear()
                        # A commit's last write to the log comes before the commit is
                        # visible (after its fsync): look again until it is.
                        looking_until = loop.time() + SETTLE
                    # A commit seen meanwhile may be another one than the write's (the
                    # file has many writers), so the looking goes on for its full time.
                    self._wake_all(commits.changed_queues())
                    await asyncio.sleep(MIN_CHECK_INTERVAL)
            finally:
                loop.remove_reader(inotify.fileno())

    def _wake_all(self, changed: list[tuple[str, str, int | None]] | None) -> None:
        woken: set[Key] = set()
        for project, queue, last in changed or ():
            key = (project, queue)
            # Ids are handed out under the write lock, so a message another process
            # committed before this one's last post to the queue was committed before
            # that post's wake-up too, whose waiters then saw it: this process's own
            # commits, the most of what it hears, wake nobody twice.
            if key in woken or (last is not None and last <= self._told.get(key, 0)):
                continue
            woken.add(key)
            wake = self._wakes.get(key)
            if wake is not None:
                wake()


def _drain(inotify: Any, written: asyncio.Event) -> None:
    inotify.read(timeout=0)
    written.set()
