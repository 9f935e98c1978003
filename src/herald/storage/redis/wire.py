"""How commands reach Redis: packed by hiredis, and pipelined per loop turn.

redis-py's asyncio client spends more per command than Redis spends running
one of our scripts: it packs arguments in Python (about 10x hiredis's time
for a post) and pays a pool hand-out and bookkeeping per call. The classes
here keep redis-py's connections, parsing and errors, and cut those costs.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

import hiredis
import redis.asyncio as aioredis
from redis import exceptions as redis_errors
from redis.asyncio.connection import (
    AbstractConnection,
    BlockingConnectionPool,
    Connection,
    SSLConnection,
    UnixDomainSocketConnection,
    parse_url,
)
from redis.commands.core import AsyncScript
from redis.typing import EncodableT

from herald.storage.batching import Batcher

Arg = str | bytes | int


class _HiredisPacking(AbstractConnection):
    """Packs commands with hiredis's C encoder instead of redis-py's Python one."""

    def pack_command(self, *args: EncodableT) -> list[bytes]:
        first = args[0]
        # A command name in several words ("CONFIG GET") goes out word by word.
        if (isinstance(first, str) and " " in first) or (
            isinstance(first, bytes) and b" " in first
        ):
            args = (*first.split(), *args[1:])
        try:
            return [hiredis.pack_command(cast(Any, args))]
        except TypeError as exc:
            raise redis_errors.DataError(str(exc)) from None


class _PackedConnection(_HiredisPacking, Connection):
    pass


class _PackedSSLConnection(_HiredisPacking, SSLConnection):
    pass


class _PackedUnixConnection(_HiredisPacking, UnixDomainSocketConnection):
    pass


_PACKED: dict[type[AbstractConnection], type[AbstractConnection]] = {
    Connection: _PackedConnection,
    SSLConnection: _PackedSSLConnection,
    UnixDomainSocketConnection: _PackedUnixConnection,
}


def connect(url: str, **options: Any) -> aioredis.Redis:
    """A client for `url` (as `Redis.from_url` reads it) whose connections pack with hiredis.

    hiredis sends text as UTF-8, whatever an `encoding` option says."""
    settings = {**options, **parse_url(url)}
    plain = settings.pop("connection_class", Connection)
    # A burst of more calls than the pool holds (a thousand long polls starting
    # together) waits its turn for a connection instead of failing at once; past
    # the socket timeout it fails as any unreachable Redis does.
    settings.setdefault("max_connections", 100)  # redis-py's default for its other pool
    pool = BlockingConnectionPool(
        connection_class=_PACKED.get(plain, plain),
        timeout=settings.get("socket_timeout") or 5.0,
        **settings,
    )
    return aioredis.Redis.from_pool(pool)


_Call = tuple[AsyncScript, Sequence[str], Sequence[Arg]]


class ScriptPipeline:
    """Batches `EVALSHA` calls per loop turn; each caller still gets its own reply."""

    def __init__(self, client: aioredis.Redis) -> None:
        self._client = client
        self._batcher: Batcher[None, _Call, Any] = Batcher(self._send)

    async def call(self, script: AsyncScript, keys: Sequence[str], args: Sequence[Arg]) -> Any:
        """Run `script` with `keys` and `args` and return its reply."""
        return await self._batcher.submit(None, (script, keys, args))

    async def _send(self, _: None, calls: list[_Call]) -> list[Any]:
        if len(calls) == 1:
            script, keys, args = calls[0]
            try:
                return [await script(keys=keys, args=args)]
            except redis_errors.ResponseError as exc:
                return [exc]
        pipe = self._client.pipeline(transaction=False)
        for script, keys, args in calls:
            pipe.execute_command("EVALSHA", script.sha, len(keys), *keys, *args)
        replies = list(await pipe.execute(raise_on_error=False))
        for i, reply in enumerate(replies):
            if isinstance(reply, redis_errors.NoScriptError):
                # Redis lost its script cache (a restart, SCRIPT FLUSH): the
                # script did not run, so calling it again (it reloads) is safe.
                script, keys, args = calls[i]
                try:
                    replies[i] = await script(keys=keys, args=args)
                except redis_errors.ResponseError as exc:
                    replies[i] = exc
        return replies
