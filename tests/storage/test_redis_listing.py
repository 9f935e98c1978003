"""Listing queues by name prefix seeks in the project's index instead of walking it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
import redis.asyncio as aioredis

import backends
from herald.storage.redis import RedisStore


@pytest.fixture
async def store() -> AsyncIterator[RedisStore]:
    async with backends.redis_stores() as (opened,):
        yield opened


async def test_a_prefix_listing_reads_only_the_names_it_returns(
    store: RedisStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    for n in range(300):
        await store.create_queue("p", f"a-{n:03}", {})
        await store.create_queue("p", f"c-{n:03}", {})
    for name in ("b-1", "b-2", "b-3"):
        await store.create_queue("p", name, {"name": name})
    read: list[bytes | str] = []
    plain = aioredis.Redis.zrangebylex

    async def counted(self: aioredis.Redis, *args: Any, **kwargs: Any) -> Any:
        names = await plain(self, *args, **kwargs)
        read.extend(names)
        return names

    monkeypatch.setattr(aioredis.Redis, "zrangebylex", counted)
    page = await store.list_queues("p", marker=None, limit=10, prefix="b-")
    assert [(q.name, q.metadata) for q in page] == [(n, {"name": n}) for n in ("b-1", "b-2", "b-3")]
    assert read == [b"b-1", b"b-2", b"b-3"]
    read.clear()
    assert [q.name for q in await store.list_queues("p", marker="a-999", limit=2)] == ["b-1", "b-2"]
    assert [q.name for q in await store.list_queues("p", marker="b-1", limit=1, prefix="b")] == [
        "b-2"
    ]
    assert read == [b"b-1", b"b-2", b"b-2"]


async def test_names_beyond_ascii_sort_and_seek_by_their_bytes(store: RedisStore) -> None:
    names = ["é-1", "é-2", "éa", "e-1", "z", "\U0001f600"]
    for name in names:
        await store.create_queue("p", name, {})
    page = await store.list_queues("p", marker=None, limit=10, prefix="é")
    assert [q.name for q in page] == ["é-1", "é-2", "éa"]
    every = await store.list_queues("p", marker="z", limit=10)
    assert [q.name for q in every] == ["é-1", "é-2", "éa", "\U0001f600"]
