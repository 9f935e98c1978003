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


DRIVERS: dict[str, DriverFactory] = {
    "sqlite": sqlite_store,
    "redis": redis_store,
    "postgres": postgres_store,
}


@pytest.fixture(params=sorted(DRIVERS))
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    async with DRIVERS[request.param](tmp_path) as opened:
        yield opened
