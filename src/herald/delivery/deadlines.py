"""One timer for many deadlines that are all the same length from their start.

`asyncio.timeout` arms a timer of the loop per use; for a webhook POST that
answers in a fraction of a millisecond, that is a large share of the sender's
work (deliveries from one process rose by about a tenth with this in its place,
docs/performance.md). Deadlines of one length expire in the order they were
set, so a queue in that order and a single timer for its head do the same job.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
from collections.abc import Iterator
from contextlib import contextmanager


class _Ticket:
    __slots__ = ("deadline", "done", "expired", "task")

    def __init__(self, task: asyncio.Task[object], deadline: float) -> None:
        self.task: asyncio.Task[object] | None = task
        self.deadline = deadline
        self.done = False
        self.expired = False


class Deadlines:
    """Cancels a task whose `within` block runs longer than `seconds`, which then
    raises `TimeoutError` as `asyncio.timeout` would."""

    def __init__(self, seconds: float) -> None:
        self._seconds = seconds
        self._pending: collections.deque[_Ticket] = collections.deque()
        self._timer: asyncio.TimerHandle | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def seconds(self) -> float:
        return self._seconds

    @contextmanager
    def within(self) -> Iterator[None]:
        """Bound the block to `seconds`; only for blocks run directly by a task."""
        task = asyncio.current_task()
        if task is None:
            raise RuntimeError("a deadline needs a running task")
        loop = task.get_loop()
        if self._loop is not loop:
            # What was armed on another loop (closed since, as in tests) never fires here.
            self._forget()
            self._loop = loop
        ticket = _Ticket(task, loop.time() + self._seconds)
        self._pending.append(ticket)
        if self._timer is None:
            self._timer = loop.call_at(ticket.deadline, self._expire, loop)
        cancelling = task.cancelling()
        try:
            yield
        except asyncio.CancelledError:
            if ticket.expired:
                ticket.expired = False
                # Ours alone if nobody else asked for the task to stop meanwhile.
                if task.uncancel() <= cancelling:
                    raise TimeoutError from None
            raise
        finally:
            if ticket.expired:
                # The block swallowed the cancellation it was sent: take back the request.
                task.uncancel()
            ticket.done = True
            ticket.task = None
            # Exchanges mostly end in the order they began: the head is let go of at once,
            # and with it every finished ticket behind it.
            pending = self._pending
            while pending and pending[0].done:
                pending.popleft()

    def _forget(self) -> None:
        if self._timer is not None:
            with contextlib.suppress(RuntimeError):  # its loop is closed
                self._timer.cancel()
            self._timer = None
        self._pending.clear()

    def _expire(self, loop: asyncio.AbstractEventLoop) -> None:
        self._timer = None
        now = loop.time()
        pending = self._pending
        while pending:
            ticket = pending[0]
            if ticket.done:
                pending.popleft()
            elif ticket.deadline <= now:
                pending.popleft()
                ticket.expired = True
                if ticket.task is not None:
                    ticket.task.cancel()
            else:
                self._timer = loop.call_at(ticket.deadline, self._expire, loop)
                return
