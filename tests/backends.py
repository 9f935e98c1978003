"""Where the test suites find the Redis and PostgreSQL servers, and what to do without them.

Locally an unreachable backend skips its tests with a hint on how to start
it; with HERALD_REQUIRE_BACKENDS=1 (set by .ci/run) it fails them instead.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Coroutine, Iterator
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import pytest

from herald.errors import ServiceUnavailable
from herald.storage.postgres import PostgresStore
from herald.storage.redis import RedisStore

REDIS_URL = os.environ.get("HERALD_TEST_REDIS", "redis://127.0.0.1:6379/0")
POSTGRES_URL = os.environ.get("HERALD_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")

T = TypeVar("T")


def backend_unreachable(what: str, hint: str) -> None:
    """Skip locally, fail in CI: a silently skipped backend is not a tested one."""
    message = f"{what} is not reachable; {hint}"
    if os.environ.get("HERALD_REQUIRE_BACKENDS") == "1":
        pytest.fail(message)
    pytest.skip(message)


REDIS_HINT = "start one with `redis-server --port 6379 --save ''` or set HERALD_TEST_REDIS"


def redis_store_uri(name: str) -> Iterator[str]:
    """A Redis store URI under a key prefix of its own; removes its keys afterwards."""
    if not redis_answers():
        backend_unreachable(f"Redis at {REDIS_URL}", REDIS_HINT)
    try:
        yield redis_uri(name)
    finally:
        drop_redis_prefix(name)


def redis_uri(prefix: str) -> str:
    """The test Redis's URI with a key prefix of its own."""
    joiner = "&" if "?" in REDIS_URL else "?"
    return f"{REDIS_URL}{joiner}prefix={prefix}"


@asynccontextmanager
async def redis_stores(count: int = 1) -> AsyncIterator[list[RedisStore]]:
    """`count` open Redis stores on one fresh key prefix, as API nodes sharing a
    Redis would be; the prefix's keys are dropped afterwards."""
    prefix = f"herald_test_{uuid.uuid4().hex[:12]}"
    stores = [RedisStore.from_uri(redis_uri(prefix)) for _ in range(count)]
    try:
        for store in stores:
            await store.open()
    except ServiceUnavailable:
        backend_unreachable(f"Redis at {REDIS_URL}", REDIS_HINT)
    try:
        yield stores
    finally:
        for store in stores:
            await store.close()
        drop_redis_prefix(prefix)


def redis_answers() -> bool:
    """Whether the test Redis answers a PING within a second."""
    import redis

    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1, socket_timeout=1)
    try:
        return bool(client.ping())
    except (redis.ConnectionError, redis.TimeoutError):
        return False
    finally:
        client.close()


def drop_redis_prefix(prefix: str) -> int:
    """Delete every key under `prefix` in the test Redis (SCAN, then DEL); how many went."""
    import redis

    from herald.storage.redis import Keys

    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2, socket_timeout=10)
    try:
        gone = 0
        batch: list[bytes] = []
        for key in client.scan_iter(match=Keys(prefix).pattern(), count=1000):
            batch.append(key)
            if len(batch) == 1000:
                gone += client.delete(*batch)
                batch = []
        if batch:
            gone += client.delete(*batch)
        return gone
    finally:
        client.close()


POSTGRES_HINT = (
    "start it with `pg_ctlcluster 15 main start` or point HERALD_TEST_POSTGRES at a server "
    "where this user may create databases"
)


def postgres_store_uri(name: str) -> Iterator[str]:
    """A PostgreSQL store URI on a database of its own; drops it afterwards."""
    if not _in_new_loop(create_postgres_database(name)):
        backend_unreachable(f"PostgreSQL at {POSTGRES_URL}", POSTGRES_HINT)
    try:
        yield postgres_uri(name)
    finally:
        _in_new_loop(drop_postgres_database(name))


def postgres_uri(database: str) -> str:
    """The test server's URI, naming another database on it."""
    from urllib.parse import urlsplit, urlunsplit

    return urlunsplit(urlsplit(POSTGRES_URL)._replace(path="/" + database))


async def create_postgres_database(name: str) -> bool:
    """Create the database `name` on the test server; False if the server does not answer."""
    import asyncpg  # type: ignore[import-untyped]

    try:
        conn = await asyncpg.connect(POSTGRES_URL, timeout=3)
    except (OSError, TimeoutError, asyncpg.PostgresError):
        return False
    try:
        # template0 has no connections, so creating from it never waits for any.
        await conn.execute(f'CREATE DATABASE "{name}" TEMPLATE template0')
    finally:
        await conn.close()
    return True


async def drop_postgres_database(name: str) -> None:
    """Drop the database `name` from the test server, closing whatever still uses it."""
    import asyncpg

    conn = await asyncpg.connect(POSTGRES_URL, timeout=3)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


@asynccontextmanager
async def postgres_store() -> AsyncIterator[tuple[PostgresStore, str]]:
    """An open store on a database of its own, and that database's URI; the
    database is dropped afterwards, even when the test fails."""
    name = f"herald_test_{uuid.uuid4().hex[:12]}"
    if not await create_postgres_database(name):
        backend_unreachable(f"PostgreSQL at {POSTGRES_URL}", POSTGRES_HINT)
    uri = postgres_uri(name)
    store = PostgresStore.from_uri(uri + ("&" if "?" in uri else "?") + "min_size=1")
    try:
        await store.open()
        yield store, uri
    finally:
        await store.close()
        await drop_postgres_database(name)


def _in_new_loop(work: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to completion from synchronous code, even inside a running loop."""
    import asyncio
    import threading

    result: list[T] = []
    failure: list[BaseException] = []

    def run() -> None:
        try:
            result.append(asyncio.run(work))
        except BaseException as exc:
            failure.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    if failure:
        raise failure[0]
    return result[0]
