"""Claims on Redis set aside what was claimed too often, within a bound per script."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import msgspec
import pytest

import backends
from herald.model import ClaimRequest, MessageQuery, NewMessage
from herald.storage.redis import RedisStore

T0 = 1_800_000_000.0


@pytest.fixture
async def store() -> AsyncIterator[RedisStore]:
    async with backends.redis_stores() as (opened,):
        yield opened


def messages(count: int, ttl: int = 3600) -> list[NewMessage]:
    return [NewMessage(msgspec.Raw(b"0"), ttl, 0) for _ in range(count)]


def claim(limit: int, max_claim_count: int | None = None) -> Any:
    request = ClaimRequest(limit=limit, ttl=60, grace=60, max_claim_count=max_claim_count)
    return lambda metadata: request


async def test_one_claim_sets_aside_a_bounded_number_of_messages(store: RedisStore) -> None:
    await store.post_messages("p", "q", lambda _: messages(1005), "c", T0)
    for now in (T0, T0 + 61):
        first = await store.create_claim("p", "q", claim(1005), now)
        assert first is not None and len(first.messages) == 1005
    made = await store.create_claim("p", "q", claim(1, max_claim_count=2), T0 + 122)
    assert made is not None and made.messages == [] and len(made.exhausted) == 1000
    # The five it did not reach are still claimable, each claimed twice so far.
    rest = await store.create_claim("p", "q", claim(10), T0 + 122)
    assert rest is not None and [m.claim_count for m in rest.messages] == [3] * 5


async def test_a_moved_message_lives_by_its_new_ttl_for_the_collector_too(
    store: RedisStore,
) -> None:
    (posted,) = await store.post_messages("p", "q", lambda _: messages(1, ttl=60), "c", T0)
    made = await store.create_claim("p", "q", claim(1), T0)
    assert made is not None
    assert await store.move_messages("p", "q", made.id, [posted], "dead", 600, T0 + 30) == 1
    # Its old expiry passes without taking the moved copy; the claim alone goes.
    assert await store.collect_garbage(T0 + 200) == 1
    assert await store.get_claim("p", "q", made.id, T0 + 200) is None
    (moved,) = await store.list_messages("p", "dead", MessageQuery(limit=5, echo=True), T0 + 200)
    assert moved.id != posted and moved.ttl == 600
    assert await store.collect_garbage(T0 + 631) == 1
    assert await store.list_messages("p", "dead", MessageQuery(limit=5, echo=True), T0 + 631) == []
