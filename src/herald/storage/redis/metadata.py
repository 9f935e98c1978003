"""Queue metadata as this process last saw it, so that a post or claim is one command.

A post, a claim or a metadata update is made from the metadata the driver
has, and its script stores it only if that metadata is still the stored one;
otherwise the script stores nothing and answers the current metadata, from
which the driver makes it again. An attempt fails only when another change
lands during its own round trip, so attempts go on as long as Redis answers:
a fixed bound would turn a busy queue's metadata into 503s.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import NamedTuple, TypeVar

from herald.storage.redis.server import Server

Made = TypeVar("Made")
Result = TypeVar("Result")

_MOST_QUEUES = 10_000


class Changed(NamedTuple):
    """A script's refusal: the metadata is no longer the one sent, but this."""

    current: bytes


class QueueMissing(Exception):
    """Raised by a `make` that needs an existing queue and was given none."""


class SeenMetadata:
    """The metadata blob last seen per queue (empty for no queue), and the retry rule."""

    def __init__(self, server: Server) -> None:
        self._server = server
        self._seen: dict[str, bytes] = {}

    async def read(self, base: str) -> bytes:
        """The queue's stored metadata, read now."""
        with self._server.guard():
            blob = await self._server.client.hget(base, "meta")
        return b"" if blob is None else blob.encode() if isinstance(blob, str) else blob

    def remember(self, base: str, blob: bytes) -> None:
        """Note the metadata a script found current."""
        if len(self._seen) >= _MOST_QUEUES:
            self._seen.clear()
        self._seen[base] = blob

    async def attempt(
        self,
        base: str,
        make: Callable[[bytes], Made],
        send: Callable[[Made, bytes], Awaitable[Result | Changed]],
    ) -> Result:
        """`send(make(seen), seen)` until the script takes it; what it answered.

        `make` runs the service's rules: an error it raises on metadata that
        may be stale is decided again on a fresh read, and propagates from
        that. `send` is the script call, never repeated after it failed."""
        seen = self._seen.get(base)
        fresh = seen is None
        if seen is None:
            seen = await self.read(base)
        while True:
            try:
                made = make(seen)
            except Exception:
                if fresh:
                    raise
                seen, fresh = await self.read(base), True
                continue
            outcome = await send(made, seen)
            if not isinstance(outcome, Changed):
                return outcome
            seen, fresh = outcome.current, True
            self.remember(base, seen)
