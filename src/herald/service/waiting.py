"""Long polls: waiting for messages without polling the store.

One `Waiters` registry serves every waiting request of a process. It keeps one
line per queue that has waiters and one store watch per line, so a thousand
idle waiters cost memory and nothing else. A wake-up is a hint: a waiter woken
reads the store again, and a hint that never comes costs latency (the waiter
still reads again when a known delay or claim runs out, or when its wait
ends), never a message.

Claimers compete, so they are served in arrival order: only the first claimer
of a line is woken, and it wakes the next as it leaves. Readers (listings) do
not compete, so all of them are woken.

A transport stops a wait by cancelling the task that awaits the operation;
`unless_gone` does that when the client goes away.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

from herald.service.events import Events
from herald.storage.base import WAKEUPS, Store

log = logging.getLogger("herald")

T = TypeVar("T")
Key = tuple[str, str]

# Past a due time by this much, so that the store's clock has certainly reached it.
_DUE_SLACK = 0.001
# How long a queue's watch outlives its last waiter: a client polling again at once
# (the usual loop) then finds it in place instead of subscribing anew each time.
LINGER = 5.0


def _unless_cancelled() -> None:
    """Raise the cancellation this task was sent if a library swallowed it.

    Python 3.11's `wait_for`, which redis-py runs around every send, returns
    normally when a cancellation arrives just as its operation finishes; the
    task still counts the request, and a wait must not outlive it."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


class Abandoned(Exception):
    """The caller went away before the operation finished; nobody is left to answer."""


async def unless_gone(operation: Coroutine[Any, Any, T], gone: Awaitable[object]) -> T:
    """Run `operation`, cancelling it and raising `Abandoned` if `gone` finishes first.

    `gone` may be a coroutine (run for this operation alone, and stopped after it)
    or a future a transport shares between operations (left as it is)."""
    work = asyncio.ensure_future(operation)
    shared = isinstance(gone, asyncio.Future)
    watcher = asyncio.ensure_future(gone)
    try:
        await asyncio.wait((work, watcher), return_when=asyncio.FIRST_COMPLETED)
    finally:
        if not work.done():
            work.cancel()
        if not shared:
            watcher.cancel()
    if not work.done() or work.cancelled():
        with contextlib.suppress(asyncio.CancelledError):
            await work
        raise Abandoned
    return work.result()


class _Waiter:
    __slots__ = ("woken",)

    def __init__(self) -> None:
        self.woken = asyncio.Event()


class _Line:
    """The waiters of one queue, and the watch that wakes them."""

    __slots__ = ("claimers", "heard", "readers", "retiring", "watched")

    def __init__(self) -> None:
        self.claimers: deque[_Waiter] = deque()
        self.readers: set[_Waiter] = set()
        self.watched: asyncio.Task[bool] | None = None
        self.retiring: asyncio.TimerHandle | None = None
        self.heard = 0

    def watching(self) -> bool:
        """Whether the store watches the queue for this line now."""
        watched = self.watched
        return (
            watched is not None and watched.done() and not watched.cancelled() and watched.result()
        )

    def wake(self) -> None:
        self.heard += 1
        if self.claimers:
            self.claimers[0].woken.set()
        for reader in self.readers:
            reader.woken.set()

    def empty(self) -> bool:
        return not self.claimers and not self.readers


class Waiters:
    """Every waiting request of one process, by queue."""

    def __init__(
        self, store: Store, clock: Callable[[], float], events: Events | None = None
    ) -> None:
        self._store = store
        self._clock = clock
        self._events = events or Events()
        self._lines: dict[Key, _Line] = {}
        # An unwatch still under way, which the next watch of that queue waits for.
        self._leaving: dict[Key, asyncio.Task[None]] = {}

    def watched(self) -> int:
        """How many queues have a line (with waiters, or lingering after them)."""
        return len(self._lines)

    def posted(self, project: str, queue: str) -> None:
        """This process committed messages to the queue: its waiters read again now,
        not once the store's wake-up has come back round (through PostgreSQL's
        listening connection, or Redis's)."""
        line = self._lines.get((project, queue))
        if line is not None:
            line.wake()

    def waiting(self, project: str, queue: str) -> int:
        """How many requests wait on the queue now."""
        line = self._lines.get((project, queue))
        return 0 if line is None else len(line.claimers) + len(line.readers)

    async def wait(
        self,
        project: str,
        queue: str,
        attempt: Callable[[], Awaitable[T | None]],
        seconds: float,
        *,
        claims: bool,
    ) -> T | None:
        """`attempt()` now and, while it gives nothing, again whenever messages may
        have become available, until it gives something (which is returned) or
        `seconds` pass (None).

        `claims` says the attempts compete for messages, and are served in turn."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        key = (project, queue)
        before = self._lines.get(key)
        # A watch already in place covers the first read: if it hears nothing from
        # before that read until the waiter has joined, there is no need to read again.
        heard = before.heard if before is not None and before.watching() else None
        found = await attempt()
        if found is not None:
            return found
        line = self._lines.get(key)
        if line is None:
            line = self._lines[key] = _Line()
            if WAKEUPS in self._store.capabilities:
                line.watched = asyncio.ensure_future(self._watch(key, line))
        elif line.retiring is not None:
            line.retiring.cancel()
            line.retiring = None
        waiter = _Waiter()
        if claims:
            line.claimers.append(waiter)
        else:
            line.readers.add(waiter)
        self._events.long_poll_began()
        outcome = "abandoned"
        try:
            if line.watched is not None:
                # Watching before reading: a post between the read and the watch is not missed.
                await asyncio.shield(line.watched)
            read = not (line is before and line.heard == heard)
            while True:
                if read:
                    waiter.woken.clear()
                    found = await attempt()
                    if found is not None:
                        outcome = "woken"
                        return found
                read = True
                _unless_cancelled()
                remaining = deadline - loop.time()
                if remaining <= 0:
                    outcome = "timed_out"
                    return None
                if not claims or line.claimers[0] is waiter:
                    remaining = min(remaining, await self._until_due(project, queue))
                    _unless_cancelled()
                try:
                    # Not wait_for, which on Python 3.11 can swallow a cancellation that
                    # arrives as the wake-up does: a cancelled wait must end.
                    async with asyncio.timeout(remaining):
                        await waiter.woken.wait()
                except TimeoutError:
                    # The wait is over: nothing was heard, so nothing is read again.
                    if loop.time() >= deadline:
                        outcome = "timed_out"
                        return None
        finally:
            self._events.long_poll_ended(outcome)
            self._leave(key, line, waiter)

    async def _until_due(self, project: str, queue: str) -> float:
        now = self._clock()
        due = await self._store.next_available(project, queue, now)
        return float("inf") if due is None else max(0.0, due - now) + _DUE_SLACK

    def _leave(self, key: Key, line: _Line, waiter: _Waiter) -> None:
        if waiter in line.readers:
            line.readers.discard(waiter)
        else:
            first = line.claimers[0] is waiter
            line.claimers.remove(waiter)
            # The next claimer now heads the line: it reads, and learns any due time.
            if first and line.claimers:
                line.claimers[0].woken.set()
        if line.empty():
            loop = asyncio.get_running_loop()
            line.retiring = loop.call_later(LINGER, self._retire, key, line)

    def _retire(self, key: Key, line: _Line) -> None:
        line.retiring = None
        if not line.empty() or self._lines.get(key) is not line:
            return
        del self._lines[key]
        if line.watched is not None:
            self._leaving[key] = asyncio.ensure_future(self._unwatch(key, line.watched))

    async def close(self) -> None:
        """Stop every watch now (the store is about to close)."""
        for key, line in list(self._lines.items()):
            if line.retiring is not None:
                line.retiring.cancel()
            if line.empty():
                self._retire(key, line)
        leaving = list(self._leaving.values())
        if leaving:
            await asyncio.gather(*leaving, return_exceptions=True)

    async def _watch(self, key: Key, line: _Line) -> bool:
        leaving = self._leaving.get(key)
        if leaving is not None:
            await asyncio.shield(leaving)
        try:
            await self._store.watch(key[0], key[1], line.wake)
        except Exception as exc:
            # Waiters still read again at due times and when their wait ends.
            log.warning("cannot watch queue %s for wake-ups: %s", key[1], exc)
            return False
        return True

    async def _unwatch(self, key: Key, watched: asyncio.Task[bool]) -> None:
        try:
            if await asyncio.shield(watched):
                await self._store.unwatch(*key)
        except Exception as exc:
            log.warning("cannot stop watching queue %s: %s", key[1], exc)
        finally:
            if self._leaving.get(key) is asyncio.current_task():
                del self._leaving[key]
