"""Key records this process has read lately, so that most requests cost no store read.

Each record is trusted for at most `seconds` after it was read; then it is
read again, which is how a revocation reaches every process within that bound.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable

from herald.model import ApiKeyRecord

DEFAULT_SIZE = 10_000


class CheckedKeys:
    """At most `size` records by key id, each kept for at most `seconds` (0: none kept)."""

    def __init__(
        self,
        seconds: float,
        size: int = DEFAULT_SIZE,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.seconds = seconds
        self.size = size
        self._clock = clock
        # Oldest read first: that order is also the order they run out in.
        self._records: OrderedDict[str, tuple[float, ApiKeyRecord]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._records)

    def get(self, key_id: str) -> ApiKeyRecord | None:
        """The record read for this id less than `seconds` ago, or None."""
        entry = self._records.get(key_id)
        if entry is None:
            return None
        read_at, record = entry
        if self._clock() - read_at >= self.seconds:
            del self._records[key_id]
            return None
        return record

    def now(self) -> float:
        """The cache's clock: read it before a store read, and hand it to `put`."""
        return self._clock()

    def put(self, record: ApiKeyRecord, asked_at: float) -> None:
        """Remember a record the store gave for a read that began at `asked_at`.

        Counting from when the read began, not when it answered, keeps the
        bound: the store's answer is at least that old."""
        if self.seconds <= 0 or self.size <= 0:
            return
        self._records.pop(record.id, None)
        self._records[record.id] = (asked_at, record)
        while len(self._records) > self.size:
            self._records.popitem(last=False)
