"""The Redis server as the store reaches it: connections, scripts, and failures as 503s."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from contextlib import AbstractContextManager
from typing import Any

import redis.asyncio as aioredis
from redis import exceptions as redis_errors
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.commands.core import AsyncScript

from herald.errors import ServiceUnavailable
from herald.storage.redis import lua
from herald.storage.redis.codec import text
from herald.storage.redis.failures import guard, not_open
from herald.storage.redis.keys import Keys
from herald.storage.redis.options import RedisOptions
from herald.storage.redis.wire import Arg, ScriptPipeline, connect

log = logging.getLogger("herald")


class Server:
    """One Redis database, reached through a pool and a per-loop-turn script pipeline."""

    def __init__(self, options: RedisOptions, keys: Keys) -> None:
        self.options = options
        self.keys = keys
        self.where = options.where
        self._client: aioredis.Redis | None = None
        self._scripts: dict[str, AsyncScript] = {}
        self._pipeline: ScriptPipeline | None = None

    @property
    def client(self) -> aioredis.Redis:
        """The open client, for the plain commands that are no script."""
        if self._client is None:
            raise not_open(self.where)
        return self._client

    def guard(self) -> AbstractContextManager[None]:
        """Turn an unreachable or unwilling Redis into a 503 the client may retry."""
        return guard(self.where)

    async def open(self) -> None:
        """Connect, ping, and load every script."""
        # No retries inside redis-py: a retried script could run twice, and a
        # failing request should fail fast rather than hang; the pool still
        # replaces dead connections when it hands them out.
        client = connect(
            self.options.url,
            socket_timeout=self.options.socket_timeout,
            socket_connect_timeout=self.options.connect_timeout,
            retry=Retry(NoBackoff(), 0),
        )
        try:
            with self.guard():
                await client.ping()
                scripts = await lua.register(client)
                await self._report_persistence(client)
        except BaseException:
            await client.aclose()
            raise
        self._client = client
        self._scripts = scripts
        self._pipeline = ScriptPipeline(client)

    async def _report_persistence(self, client: aioredis.Redis) -> None:
        """Log what a 201 will mean, as far as the server lets us see its settings."""
        try:
            reply = await client.config_get("append*")
        except redis_errors.ResponseError:
            return  # CONFIG is often disabled on managed servers
        config = {text(k): text(v) for k, v in reply.items()}
        aof = config.get("appendonly") == "yes"
        fsync = config.get("appendfsync", "")
        if not aof:
            setting = "appendonly no"
        elif fsync != "always":
            setting = f"appendfsync {fsync or '?'}"
        else:
            return
        log.warning(
            "Redis at %s runs with %s: acknowledged messages may be lost if it stops "
            "abruptly (see docs/storage-redis.md)",
            self.where,
            setting,
        )

    async def close(self) -> None:
        """Release the connections; calls made afterwards fail as 503."""
        if self._client is not None:
            client, self._client = self._client, None
            self._pipeline = None
            await client.aclose()

    async def ping(self) -> bool:
        """Whether Redis answers."""
        try:
            with self.guard():
                return bool(await self.client.ping())
        except ServiceUnavailable:
            return False

    async def run(
        self,
        script: str,
        base: str | None,
        now: float,
        args: Sequence[Arg] = (),
        second_queue: str | None = None,
    ) -> Any:
        """Run one script on a queue (and maybe a second one), or on the store alone
        when `base` is None, in the layout it expects."""
        if self._pipeline is None:
            raise not_open(self.where)
        names = lua.keys_for(self.keys, base, second_queue)
        argv = lua.argv_for(self.keys, now, args)
        with self.guard():
            return await self._pipeline.call(self._scripts[script], names, argv)
