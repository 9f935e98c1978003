"""Script calls of one loop turn share a pipeline, and survive Redis losing its scripts."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import msgspec
import pytest
import redis

import backends
from herald.model import MessageQuery, NewMessage
from herald.storage.redis import RedisStore

T0 = 1_800_000_000.0


@pytest.fixture
async def store() -> AsyncIterator[RedisStore]:
    async with backends.redis_stores() as (opened,):
        yield opened


def one(text: str) -> list[NewMessage]:
    return [NewMessage(msgspec.Raw(msgspec.json.encode(text)), 300, 0)]


async def test_posts_of_one_turn_succeed_after_redis_forgot_its_scripts(
    store: RedisStore,
) -> None:
    await store.post_messages("p", "q", lambda _: one("first"), "c", T0)
    with redis.Redis.from_url(backends.REDIS_URL) as admin:
        admin.script_flush()
    # Sent together, so the pipeline meets NOSCRIPT for every one of them.
    posted = await asyncio.gather(
        *(store.post_messages("p", "q", lambda _, n=n: one(f"m{n}"), "c", T0) for n in range(20))
    )
    listed = await store.list_messages("p", "q", MessageQuery(limit=30, echo=True), T0)
    assert [msgspec.json.decode(m.body) for m in listed] == ["first"] + [f"m{n}" for n in range(20)]
    assert [m.id for m in listed[1:]] == [ids[0] for ids in posted]
