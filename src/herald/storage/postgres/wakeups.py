"""Wake-ups for the PostgreSQL store: NOTIFY in the committing transaction, LISTEN on
one connection of its own per process.

A post or a release runs `pg_notify` in its own statement, so the notification
is sent exactly when (and only if) the change commits. Each watched queue has
its own channel, named by a digest of schema, project and queue (channel
names are identifiers, at most 63 bytes); the listening connection hears only
the queues this process has waiters on.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from typing import Any

import asyncpg  # type: ignore[import-untyped]

from herald.storage.base import Wake
from herald.storage.postgres.options import PostgresOptions

log = logging.getLogger("herald")

# After the listening connection is lost, before connecting it again.
_RECONNECT_DELAY = 1.0


def channel(schema: str, project: str, queue: str) -> str:
    """The notification channel of one queue; queue names hold no '/', so it is unambiguous."""
    digest = hashlib.blake2b(f"{schema}/{project}/{queue}".encode(), digest_size=16)
    return "herald_" + digest.hexdigest()


def outbox_channel(schema: str) -> str:
    """The channel a post that wrote deliveries notifies (one per schema)."""
    digest = hashlib.blake2b(f"{schema}/outbox".encode(), digest_size=16)
    return "herald_outbox_" + digest.hexdigest()


class Listener:
    """The channels of one process, on one connection that does nothing but listen."""

    def __init__(self, options: PostgresOptions) -> None:
        self._options = options
        self._conn: Any = None
        self._lock = asyncio.Lock()
        self._wakes: dict[str, Wake] = {}
        self._reconnecting: asyncio.Task[None] | None = None
        self._closed = False

    async def add(self, name: str, wake: Wake) -> None:
        """LISTEN on `name`; returns once the server listens."""
        async with self._lock:
            self._wakes[name] = wake
            conn = await self._connection()
            await conn.add_listener(name, self._heard)

    async def remove(self, name: str) -> None:
        async with self._lock:
            self._wakes.pop(name, None)
            if self._conn is not None and not self._conn.is_closed():
                # A connection lost meanwhile listens to nothing any more anyway.
                with contextlib.suppress(asyncpg.InterfaceError, OSError):
                    await self._conn.remove_listener(name, self._heard)

    async def close(self) -> None:
        self._closed = True
        self._wakes.clear()
        if self._reconnecting is not None:
            self._reconnecting.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reconnecting
        if self._conn is not None:
            conn, self._conn = self._conn, None
            with contextlib.suppress(Exception):
                await asyncio.wait_for(conn.close(), self._options.command_timeout)

    async def _connection(self) -> Any:
        if self._conn is None or self._conn.is_closed():
            self._conn = await asyncpg.connect(
                self._options.dsn,
                timeout=self._options.connect_timeout,
                server_settings={"application_name": "herald-listen"},
            )
            self._conn.add_termination_listener(self._lost)
        return self._conn

    def _heard(self, conn: Any, pid: int, name: str, payload: str) -> None:
        wake = self._wakes.get(name)
        if wake is not None:
            wake()

    def _lost(self, conn: Any) -> None:
        if self._closed or conn is not self._conn:
            return
        log.warning("the PostgreSQL connection listening for wake-ups was lost; reconnecting")
        if self._reconnecting is None or self._reconnecting.done():
            self._reconnecting = asyncio.create_task(self._reconnect())

    async def _reconnect(self) -> None:
        while not self._closed:
            # Whatever was posted meanwhile went unheard: everyone reads again.
            for wake in list(self._wakes.values()):
                wake()
            try:
                async with self._lock:
                    self._conn = None
                    conn = await self._connection()
                    for name in list(self._wakes):
                        await conn.add_listener(name, self._heard)
            except (TimeoutError, OSError, asyncpg.PostgresError) as exc:
                log.warning("cannot listen for wake-ups yet: %s", exc)
                await asyncio.sleep(_RECONNECT_DELAY)
                continue
            for wake in list(self._wakes.values()):
                wake()
            return
