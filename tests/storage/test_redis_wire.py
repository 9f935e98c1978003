"""How commands reach Redis: packed by hiredis, pipelined per loop turn."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import msgspec
import pytest
import redis
from redis.asyncio.connection import AbstractConnection, Connection

import backends
from herald.model import MessageQuery, NewMessage
from herald.storage.base import Prepare
from herald.storage.redis import RedisStore
from herald.storage.redis.wire import connect

T0 = 1_800_000_000.0
NOT_A_VALUE: Any = None  # what redis-py cannot send


@pytest.fixture
async def store() -> AsyncIterator[RedisStore]:
    async with backends.redis_stores() as (opened,):
        yield opened


def one(text: str) -> list[NewMessage]:
    return [NewMessage(msgspec.Raw(msgspec.json.encode(text)), 300, 0)]


def just(text: str) -> Prepare:
    return lambda metadata: one(text)


def packing_connection() -> AbstractConnection:
    """A connection as the driver's pool makes them."""
    pool = connect(backends.REDIS_URL).connection_pool
    made: AbstractConnection = pool.make_connection()  # type: ignore[no-untyped-call]
    return made


async def test_posts_of_one_turn_succeed_after_redis_forgot_its_scripts(
    store: RedisStore,
) -> None:
    await store.post_messages("p", "q", just("first"), "c", T0)
    with redis.Redis.from_url(backends.REDIS_URL) as admin:
        admin.script_flush()
    # Sent together, so the pipeline meets NOSCRIPT for every one of them.
    posted = await asyncio.gather(
        *(store.post_messages("p", "q", just(f"m{n}"), "c", T0) for n in range(20))
    )
    listed = await store.list_messages("p", "q", MessageQuery(limit=30, echo=True), T0)
    assert [msgspec.json.decode(m.body) for m in listed] == ["first"] + [f"m{n}" for n in range(20)]
    assert [m.id for m in listed[1:]] == [ids[0] for ids in posted]


@pytest.mark.parametrize(
    "command",
    [
        ("EVALSHA", "a" * 40, 2, "herald:q:p:q", "herald:m:", "1800000000.5", 3, b'{"b": 1}'),
        ("SET", "é", b"\x00\xff" * 40_000),  # large enough for redis-py to split it
        ("CONFIG GET", "append*"),
        (b"SCRIPT LOAD", "return 1"),
    ],
)
def test_hiredis_packs_the_bytes_redis_py_would(command: tuple[Any, ...]) -> None:
    ours = packing_connection()
    assert type(ours) is not Connection
    assert b"".join(ours.pack_command(*command)) == b"".join(Connection().pack_command(*command))


def test_packing_refuses_what_redis_py_refuses() -> None:
    ours = packing_connection()
    with pytest.raises(redis.DataError):
        ours.pack_command("SET", "k", NOT_A_VALUE)
