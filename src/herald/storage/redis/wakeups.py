"""Wake-ups for the Redis store: the scripts that make messages available PUBLISH on
the queue's channel (named as its record key), and one subscriber connection per
process listens on the channels of the queues it watches."""

from __future__ import annotations

import asyncio
import contextlib
import logging

import redis.asyncio as aioredis
from redis import exceptions as redis_errors

from herald.storage.base import Wake
from herald.storage.redis.codec import text

log = logging.getLogger("herald")

# How long to wait for Redis to confirm a subscription before watching anyway.
_CONFIRM_TIMEOUT = 5.0
# After the subscriber connection fails, before trying it again.
_RECONNECT_DELAY = 1.0


class Channels:
    """The channels one process listens on, each with the wake of its watcher."""

    def __init__(self) -> None:
        self._pubsub: aioredis.client.PubSub | None = None
        self._reader: asyncio.Task[None] | None = None
        self._wakes: dict[str, Wake] = {}
        self._confirming: dict[str, asyncio.Future[None]] = {}
        # One command at a time on the subscriber connection: calls racing to open it
        # would each take a connection of the pool.
        self._lock = asyncio.Lock()

    async def add(self, client: aioredis.Redis, channel: str, wake: Wake) -> None:
        """Listen on `channel`; returns once Redis has confirmed it."""
        async with self._lock:
            if self._pubsub is None:
                self._pubsub = client.pubsub()
            confirmed = asyncio.get_running_loop().create_future()
            self._confirming[channel] = confirmed
            self._wakes[channel] = wake
            await self._pubsub.subscribe(channel)
            if self._reader is None or self._reader.done():
                self._reader = asyncio.create_task(self._read(self._pubsub))
        # asyncio.timeout, not wait_for: Python 3.11's wait_for can swallow a cancellation
        # that arrives as the confirmation does, and a cancelled long poll must end.
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(_CONFIRM_TIMEOUT):
                await asyncio.shield(confirmed)

    async def remove(self, channel: str) -> None:
        async with self._lock:
            self._wakes.pop(channel, None)
            self._confirming.pop(channel, None)
            if self._pubsub is not None:
                await self._pubsub.unsubscribe(channel)

    async def close(self) -> None:
        self._wakes.clear()
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
            self._reader = None
        if self._pubsub is not None:
            pubsub, self._pubsub = self._pubsub, None
            with contextlib.suppress(redis_errors.RedisError, OSError):
                await pubsub.aclose()  # type: ignore[no-untyped-call]

    async def _read(self, pubsub: aioredis.client.PubSub) -> None:
        while True:
            try:
                event = await pubsub.get_message(timeout=None)
            except (redis_errors.RedisError, OSError) as exc:
                # Wake everyone: they read again, and a missed post is found that way.
                log.warning("the Redis wake-up subscription failed; retrying: %s", exc)
                for wake in list(self._wakes.values()):
                    wake()
                await asyncio.sleep(_RECONNECT_DELAY)
                continue
            if event is None:
                continue
            channel = text(event["channel"])
            if event["type"] == "message":
                heard = self._wakes.get(channel)
                if heard is not None:
                    heard()
            elif event["type"] == "subscribe":
                confirmed = self._confirming.pop(channel, None)
                if confirmed is not None and not confirmed.done():
                    confirmed.set_result(None)
