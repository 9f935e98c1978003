"""The pool of connections to one PostgreSQL database, and how work runs on it.

A job runs in autocommit mode (`run`) or in one transaction (`transaction`);
either is tried again on another connection when nothing reached the server.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any, Protocol, TypeVar, cast
from urllib.parse import parse_qsl, urlsplit

import asyncpg  # type: ignore[import-untyped]

from herald.errors import StoreUnavailable
from herald.storage.base import SchemaVersion
from herald.storage.postgres.failures import (
    PUBLIC,
    LostBeforeSending,
    as_unavailable,
    unavailable_reason,
)
from herald.storage.postgres.options import PostgresOptions
from herald.storage.postgres.schema import MIGRATIONS, check_not_newer, current_version, migrate

T = TypeVar("T")

ATTEMPTS = 3


class Connection(Protocol):
    """The part of asyncpg's connection the store uses."""

    async def fetch(self, query: str, *args: Any, timeout: float | None = None) -> list[Any]: ...

    async def fetchrow(self, query: str, *args: Any, timeout: float | None = None) -> Any: ...

    async def fetchval(self, query: str, *args: Any, timeout: float | None = None) -> Any: ...

    async def execute(self, query: str, *args: Any, timeout: float | None = None) -> str: ...

    def transaction(self) -> AbstractAsyncContextManager[Any]: ...


Job = Callable[[Connection], Awaitable[T]]


class Database:
    """A pool of sessions set up for Herald, turning lost connections into 503s."""

    def __init__(self, options: PostgresOptions, durability: str) -> None:
        self.options = options
        self.durability = durability
        self._pool: Any = None

    async def open(self) -> None:
        """Open the pool and bring the schema up to date."""
        options = self.options
        settings = {
            # A Herald that stops mid-transaction must not hold row locks for long.
            "idle_in_transaction_session_timeout": f"{int(max(60, 2 * options.command_timeout))}s",
        }
        if "application_name" not in dict(parse_qsl(urlsplit(options.dsn).query)):
            settings["application_name"] = "herald"
        if self.durability == "normal":
            settings["synchronous_commit"] = "off"
        try:
            self._pool = await asyncio.wait_for(
                asyncpg.create_pool(
                    options.dsn,
                    min_size=options.min_size,
                    max_size=options.max_size,
                    timeout=options.connect_timeout,
                    command_timeout=options.command_timeout,
                    server_settings=settings,
                    init=self._init_connection,
                    reset=_keep_session,
                ),
                # The pool opens min_size connections one after another.
                timeout=options.connect_timeout * max(1, options.min_size) + 1,
            )
            async with self._pool.acquire(timeout=options.acquire_timeout) as conn:
                await migrate(conn, options.schema, max(60.0, options.command_timeout))
        except BaseException as exc:
            if self._pool is not None:
                self._pool.terminate()
                self._pool = None
            unreachable = _unreachable(options, exc)
            if unreachable is None:
                raise
            raise unreachable from exc

    async def schema_version(self) -> SchemaVersion:
        """The schema's version, read on a connection of its own, migrating nothing."""
        options = self.options
        try:
            conn = await asyncpg.connect(options.dsn, timeout=options.connect_timeout)
            try:
                current = await current_version(conn, options.schema)
            finally:
                await conn.close()
        except BaseException as exc:
            unreachable = _unreachable(options, exc)
            if unreachable is None:
                raise
            raise unreachable from exc
        check_not_newer(current, options.schema)
        return SchemaVersion(current, len(MIGRATIONS))

    async def _init_connection(self, conn: Any) -> None:
        # durability "full" means a 201 waits for the WAL flush: make sure a
        # server-wide synchronous_commit=off does not quietly weaken that.
        if self.durability == "full" and await conn.fetchval("SHOW synchronous_commit") == "off":
            await conn.execute("SET synchronous_commit = on")

    async def close(self) -> None:
        """Close the pool, or end its connections if closing takes too long."""
        pool, self._pool = self._pool, None
        if pool is None:
            return
        try:
            await asyncio.wait_for(pool.close(), timeout=self.options.command_timeout)
        except (TimeoutError, OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
            pool.terminate()

    async def ping(self) -> bool:
        """Whether the server answers within the connect timeout."""
        try:
            async with self.connection() as conn:
                return bool(await conn.fetchval("SELECT 1", timeout=self.options.connect_timeout))
        except StoreUnavailable:
            return False

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[Connection]:
        """A pooled connection; losing the server on the way becomes StoreUnavailable."""
        pool = self._pool
        if pool is None:
            where = self.options.target
            raise StoreUnavailable(f"The PostgreSQL store at {where} is not open.", public=PUBLIC)
        acquired = False
        try:
            async with pool.acquire(timeout=self.options.acquire_timeout) as conn:
                acquired = True
                try:
                    yield cast(Connection, conn)
                except BaseException as exc:
                    if unavailable_reason(exc) is not None:
                        # Its state is unknown now: let the pool open a fresh one.
                        # (A connection that closed itself is already back there.)
                        with contextlib.suppress(asyncpg.InterfaceError):
                            conn.terminate()
                    raise
        except BaseException as exc:
            unavailable = as_unavailable(exc, self.options, acquired=acquired)
            if unavailable is None:
                raise
            raise unavailable from exc

    async def run(self, job: Job[T]) -> T:
        """One statement (or read) in autocommit mode."""
        for attempt in range(1, ATTEMPTS + 1):
            try:
                async with self.connection() as conn:
                    return await job(conn)
            except LostBeforeSending:
                # A pooled connection the server had dropped while it sat idle:
                # nothing reached the server, so another connection may try.
                if attempt == ATTEMPTS:
                    raise
        raise AssertionError("unreachable")

    async def fetch(self, sql: str, *args: Any) -> list[Any]:
        """The rows of one statement run in autocommit mode."""
        return await self.run(lambda conn: conn.fetch(sql, *args))

    async def fetchrow(self, sql: str, *args: Any) -> Any:
        """The first row of one statement run in autocommit mode, or None."""
        return await self.run(lambda conn: conn.fetchrow(sql, *args))

    async def fetchval(self, sql: str, *args: Any) -> Any:
        """The first value of one statement run in autocommit mode, or None."""
        return await self.run(lambda conn: conn.fetchval(sql, *args))

    async def execute(self, sql: str, *args: Any) -> None:
        """Run one statement in autocommit mode."""
        await self.run(lambda conn: conn.execute(sql, *args))

    async def transaction(self, job: Job[T]) -> T:
        """Run `job` in one transaction; again if it was aborted by a deadlock or
        serialization failure, or never reached the server."""
        for attempt in range(1, ATTEMPTS + 1):
            try:
                async with self.connection() as conn, conn.transaction():
                    return await job(conn)
            except LostBeforeSending:
                if attempt == ATTEMPTS:
                    raise
            except asyncpg.TransactionRollbackError as exc:
                if attempt == ATTEMPTS:
                    raise StoreUnavailable(
                        f"PostgreSQL at {self.options.target} kept aborting the transaction "
                        f"({exc.sqlstate}: {exc}). Retry later.",
                        public=PUBLIC,
                    ) from exc
        raise AssertionError("unreachable")


async def _keep_session(conn: Any) -> None:
    """The pool's reset hook: the store leaves no session state behind, so skip the reset
    query (RESET ALL would also undo the synchronous_commit chosen for the session)."""


def _unreachable(options: PostgresOptions, exc: BaseException) -> StoreUnavailable | None:
    """The 503 a failure to reach the server becomes; None for any other failure."""
    reason = unavailable_reason(exc)
    if reason is None:
        return None
    return StoreUnavailable(
        f"PostgreSQL at {options.target} cannot be reached: {reason}.", public=PUBLIC
    )
