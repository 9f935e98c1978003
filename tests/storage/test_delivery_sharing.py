"""Stores sharing one backend, as API processes and hosts do, lease each delivery once."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import msgspec
import pytest

import backends
from herald.model import NewMessage, Subscription
from herald.storage.base import Store
from herald.storage.postgres import PostgresStore
from herald.storage.sqlite import SQLiteStore

T0 = 1_800_000_000.0


@asynccontextmanager
async def sqlite_pair(tmp_path: Path) -> AsyncIterator[list[Store]]:
    stores = [SQLiteStore(str(tmp_path / "shared.sqlite3")) for _ in range(2)]
    for store in stores:
        await store.open()
    try:
        yield list(stores)
    finally:
        for store in stores:
            await store.close()


@asynccontextmanager
async def redis_pair(tmp_path: Path) -> AsyncIterator[list[Store]]:
    async with backends.redis_stores(2) as stores:
        yield list(stores)


@asynccontextmanager
async def postgres_pair(tmp_path: Path) -> AsyncIterator[list[Store]]:
    async with backends.postgres_store() as (first, uri):
        second = PostgresStore.from_uri(uri)
        await second.open()
        try:
            yield [first, second]
        finally:
            await second.close()


PAIRS = {"sqlite": sqlite_pair, "redis": redis_pair, "postgres": postgres_pair}


@pytest.fixture(params=sorted(PAIRS))
async def pair(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[list[Store]]:
    async with PAIRS[request.param](tmp_path) as stores:
        yield stores


async def test_two_stores_on_one_backend_never_lease_a_delivery_twice(pair: list[Store]) -> None:
    one, other = pair
    sub = Subscription(
        id="a1",
        project="p",
        source="q",
        subscriber="http://example.test/",
        options={},
        ttl=3600,
        renewed=T0,
        expires=T0 + 3600,
    )
    assert await one.create_subscription(sub, T0) == (sub, True)
    made = [NewMessage(msgspec.Raw(msgspec.json.encode(n)), 300, 0) for n in range(60)]
    await other.post_messages("p", "q", lambda metadata: made, "c", T0)
    leases = await asyncio.gather(
        *(store.lease_deliveries(T0, 7, 60) for _ in range(6) for store in pair)
    )
    taken = [d.id for lease in leases for d in lease]
    assert len(taken) == 60 and len(set(taken)) == 60
    assert await one.lease_deliveries(T0 + 59, 100, 60) == []
    assert len(await other.lease_deliveries(T0 + 60, 100, 60)) == 60
