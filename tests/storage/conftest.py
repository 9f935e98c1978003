"""The `store` fixture: every contract test runs once per storage driver.

A driver that needs a server adds a factory to DRIVERS; when the server is
unreachable the factory calls `backends.backend_unreachable`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path

import pytest

import backends
from herald.storage.base import Store
from herald.storage.postgres import PostgresStore
from herald.storage.sqlite import SQLiteStore

DriverFactory = Callable[[Path], AbstractAsyncContextManager[Store]]


@asynccontextmanager
async def sqlite_store(tmp_path: Path) -> AsyncIterator[Store]:
    store = SQLiteStore(str(tmp_path / "contract.sqlite3"))
    await store.open()
    try:
        yield store
    finally:
        await store.close()


@asynccontextmanager
async def redis_store(tmp_path: Path) -> AsyncIterator[Store]:
    async with backends.redis_stores() as (store,):
        yield store


@asynccontextmanager
async def postgres_store(tmp_path: Path) -> AsyncIterator[Store]:
    async with backends.postgres_store() as (store, _):
        yield store


@asynccontextmanager
async def sqlite_peers(tmp_path: Path) -> AsyncIterator[tuple[Store, Store]]:
    async with sqlite_store(tmp_path) as one, sqlite_store(tmp_path) as other:
        yield one, other


@asynccontextmanager
async def redis_peers(tmp_path: Path) -> AsyncIterator[tuple[Store, Store]]:
    async with backends.redis_stores(2) as (one, other):
        yield one, other


@asynccontextmanager
async def postgres_peers(tmp_path: Path) -> AsyncIterator[tuple[Store, Store]]:
    async with backends.postgres_store() as (one, uri):
        other = PostgresStore.from_uri(uri + ("&" if "?" in uri else "?") + "min_size=1")
        await other.open()
        try:
            yield one, other
        finally:
            await other.close()


PeersFactory = Callable[[Path], AbstractAsyncContextManager[tuple[Store, Store]]]

# Two stores on one backend, as two API processes or hosts sharing it would have.
PEERS: dict[str, PeersFactory] = {
    "sqlite": sqlite_peers,
    "redis": redis_peers,
    "postgres": postgres_peers,
}

DRIVERS: dict[str, DriverFactory] = {
    "sqlite": sqlite_store,
    "redis": redis_store,
    "postgres": postgres_store,
}


@pytest.fixture(params=sorted(DRIVERS))
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    async with DRIVERS[request.param](tmp_path) as opened:
        yield opened


@pytest.fixture(params=sorted(PEERS))
async def peers(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[tuple[Store, Store]]:
    async with PEERS[request.param](tmp_path) as opened:
        yield opened
