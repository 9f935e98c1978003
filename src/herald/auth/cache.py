"""A bounded cache of credential checks, each kept until a deadline of its own."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class DeadlineCache(Generic[T]):
    """At most `size` values, each forgotten at its deadline (on the monotonic clock).

    When full, the oldest entry goes first: entries live no longer than the
    longest deadline anyway, so recency tracking would buy little and cost
    every hit a write."""

    def __init__(self, size: int, clock: Callable[[], float] = time.monotonic) -> None:
        if size < 1:
            raise ValueError("a cache holds at least one entry")
        self.size = size
        self.clock = clock
        self._entries: dict[bytes, tuple[float, T]] = {}

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: bytes) -> T | None:
        """The value, if it is there and its deadline has not passed."""
        entry = self._entries.get(key)
        if entry is None:
            return None
        if entry[0] <= self.clock():
            del self._entries[key]
            return None
        return entry[1]

    def put(self, key: bytes, value: T, seconds: float, since: float | None = None) -> None:
        """Keep the value for `seconds` from `since` (this cache's clock; now when None).

        A value read from elsewhere is best timed from when the read began:
        the answer is at least that old. Nothing is kept for zero or less."""
        start = self.clock() if since is None else since
        if start + seconds <= self.clock():
            return
        self._entries.pop(key, None)
        while len(self._entries) >= self.size:
            del self._entries[next(iter(self._entries))]
        self._entries[key] = (start + seconds, value)

    def clear(self) -> None:
        self._entries.clear()
