"""Requests that reach a driver together leave for the backend together.

A round trip to Redis or PostgreSQL costs the API process more than the work
the backend does for one small request; sending everything that arrived in
the same turn of the event loop (or, with `exclusive`, while the previous
batch for the same key was out) as one batch pays that cost once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable, Sequence
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
I = TypeVar("I")  # noqa: E741 - the item type, next to K and R
R = TypeVar("R")

Send = Callable[[K, list[I]], Awaitable[Sequence[R | BaseException]]]


class Batcher(Generic[K, I, R]):
    """Collects items per key and hands each batch to `send`.

    `send` answers one result or exception per item, in order; if it raises,
    every item of the batch gets that exception. With `exclusive`, a key has at
    most one batch out at a time, and items that arrive meanwhile form the next.
    """

    def __init__(
        self, send: Send[K, I, R], *, exclusive: bool = False, max_items: int = 256
    ) -> None:
        self._send = send
        self._exclusive = exclusive
        self._max_items = max_items
        self._waiting: dict[K, list[tuple[I, asyncio.Future[R]]]] = {}
        self._out: set[K] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    async def submit(self, key: K, item: I) -> R:
        """Send `item` with whatever else is waiting under `key`; return its result."""
        return await self.enqueue(key, item)

    def enqueue(self, key: K, item: I) -> asyncio.Future[R]:
        """`submit` for a caller that keeps the future rather than awaiting it: no task
        of its own per item. Cancelling the future before its batch leaves withdraws it."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[R] = loop.create_future()
        waiting = self._waiting.get(key)
        if waiting is not None:
            waiting.append((item, future))
        else:
            self._waiting[key] = [(item, future)]
            if key not in self._out:
                # Later submissions of this loop turn join the batch.
                loop.call_soon(self._start, key)
        return future

    def _start(self, key: K) -> None:
        # A caller that went away before its batch left wants nothing done.
        entries = [e for e in self._waiting.pop(key, ()) if not e[1].cancelled()]
        if len(entries) > self._max_items:
            # One failure should not take more requests with it than this, and
            # one statement should not grow without bound.
            entries, self._waiting[key] = entries[: self._max_items], entries[self._max_items :]
            if not self._exclusive:
                asyncio.get_running_loop().call_soon(self._start, key)
        if not entries:
            return
        if self._exclusive:
            self._out.add(key)
        task = asyncio.get_running_loop().create_task(self._deliver(key, entries))
        # The loop holds tasks weakly: keep each until it is done.
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _deliver(self, key: K, entries: list[tuple[I, asyncio.Future[R]]]) -> None:
        try:
            try:
                results = await self._send(key, [item for item, _ in entries])
                if len(results) != len(entries):
                    raise AssertionError(f"{len(results)} results for {len(entries)} items")
            except BaseException as exc:
                for _, future in entries:
                    if not future.done():
                        future.set_exception(exc)
                if not isinstance(exc, Exception):
                    raise
                return
            for (_, future), result in zip(entries, results, strict=True):
                if future.done():
                    continue  # its request went away meanwhile
                if isinstance(result, BaseException):
                    future.set_exception(result)
                else:
                    future.set_result(result)
        finally:
            if self._exclusive:
                self._out.discard(key)
                if key in self._waiting:
                    self._start(key)
