"""Redis keeps the queue metadata it last saw; another process's change must still rule."""

from __future__ import annotations

from collections.abc import AsyncIterator

import msgspec
import pytest

import backends
from herald.model import ClaimRequest, NewMessage
from herald.storage.redis import RedisStore

T0 = 1_800_000_000.0


@pytest.fixture
async def two_nodes() -> AsyncIterator[tuple[RedisStore, RedisStore]]:
    async with backends.redis_stores(2) as (a, b):
        yield a, b


def with_ttl_from(metadata: dict) -> list[NewMessage]:
    body = msgspec.Raw(b'"m"')
    return [NewMessage(body, metadata.get("ttl", 300), 0)]


def limit_from(metadata: dict) -> ClaimRequest:
    return ClaimRequest(limit=metadata.get("limit", 1), ttl=60, grace=60)


async def test_posts_and_claims_follow_metadata_changed_elsewhere(
    two_nodes: tuple[RedisStore, RedisStore],
) -> None:
    a, b = two_nodes
    await a.post_messages("p", "q", with_ttl_from, "c", T0)
    assert await a.create_claim("p", "q", limit_from, T0) is not None
    await b.update_queue_metadata("p", "q", lambda m: {**m, "ttl": 120, "limit": 3})
    await a.post_messages("p", "q", with_ttl_from, "c", T0)
    await a.post_messages("p", "q", with_ttl_from, "c", T0)
    await a.post_messages("p", "q", with_ttl_from, "c", T0)
    claimed = await a.create_claim("p", "q", limit_from, T0)
    assert claimed is not None
    assert [m.ttl for m in claimed.messages] == [120, 120, 120]


async def test_a_queue_deleted_elsewhere_is_seen_as_gone(
    two_nodes: tuple[RedisStore, RedisStore],
) -> None:
    a, b = two_nodes
    await a.post_messages("p", "q", with_ttl_from, "c", T0)
    await b.delete_queue("p", "q")
    assert await a.create_claim("p", "q", limit_from, T0) is None
    await b.create_queue("p", "q", {"ttl": 90})
    await a.post_messages("p", "q", with_ttl_from, "c", T0)
    claimed = await a.create_claim("p", "q", limit_from, T0)
    assert claimed is not None and claimed.messages[0].ttl == 90
