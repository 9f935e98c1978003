"""Redis keeps the queue metadata it last saw; another process's change must still rule."""

from __future__ import annotations

import asyncio
import multiprocessing
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from concurrent.futures import ProcessPoolExecutor
from typing import Any

import msgspec
import pytest

import backends
from herald.errors import ServiceUnavailable
from herald.model import ClaimRequest, MessageQuery, NewMessage
from herald.storage.redis import RedisStore

T0 = 1_800_000_000.0


@pytest.fixture
async def two_nodes() -> AsyncIterator[tuple[RedisStore, RedisStore]]:
    async with backends.redis_stores(2) as (a, b):
        yield a, b


def with_ttl_from(metadata: dict[str, Any]) -> list[NewMessage]:
    body = msgspec.Raw(b'"m"')
    return [NewMessage(body, metadata.get("ttl", 300), 0)]


def limit_from(metadata: dict[str, Any]) -> ClaimRequest:
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


# Patches come from API processes of their own, so that they truly overlap
# with posts and claims; each side is bounded in calls, and the whole in time.
PATCH_PROCESSES = 2
PATCHERS = 16
PATCHES_EACH = 40
POSTERS = 8
MOST_CALLS_EACH = 100


def bump(metadata: dict[str, Any]) -> dict[str, Any]:
    return {**metadata, "version": metadata["version"] + 1}


def stamped(metadata: dict[str, Any]) -> list[NewMessage]:
    # The body is the version the message was prepared from.
    return [NewMessage(msgspec.Raw(b"%d" % metadata["version"]), 300, 0)]


async def repeat(
    call: Callable[[], Awaitable[object]],
    failed: list[str],
    count: int,
    until: asyncio.Future[Any] | None = None,
) -> None:
    """Up to `count` calls one after another, until `until` is done; note each 503."""
    for _ in range(count):
        if until is not None and until.done():
            return
        try:
            await call()
        except ServiceUnavailable as exc:
            failed.append(str(exc))


def patch_from_another_process(prefix: str) -> list[str]:
    """Many concurrent patches from a process of its own; the 503s they met."""

    async def patch() -> list[str]:
        node = RedisStore.from_uri(backends.redis_uri(prefix))
        await node.open()
        failed: list[str] = []

        async def change() -> None:
            await node.update_queue_metadata("p", "q", bump)

        try:
            await asyncio.gather(*(repeat(change, failed, PATCHES_EACH) for _ in range(PATCHERS)))
        finally:
            await node.close()
        return failed

    return asyncio.run(patch())


async def test_posts_and_claims_never_fail_while_many_others_patch_the_metadata(
    two_nodes: tuple[RedisStore, RedisStore],
) -> None:
    posting, claiming = two_nodes
    await posting.create_queue("p", "q", {"version": 0})
    failed: list[str] = []
    posted: list[str] = []

    async def post() -> None:
        posted.extend(await posting.post_messages("p", "q", stamped, "c", T0))

    async def claim() -> None:
        await claiming.create_claim("p", "q", limit_from, T0)

    async def serve_others(until: asyncio.Future[Any]) -> None:
        # A loaded API process: other requests hold the loop between our turns.
        while not until.done():
            time.sleep(0.0005)
            await asyncio.sleep(0)

    loop = asyncio.get_running_loop()
    spawn = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(PATCH_PROCESSES, mp_context=spawn) as elsewhere:
        async with asyncio.timeout(60):
            patching = asyncio.gather(
                *(
                    loop.run_in_executor(elsewhere, patch_from_another_process, posting.keys.prefix)
                    for _ in range(PATCH_PROCESSES)
                )
            )
            while await posting.queue_metadata("p", "q") == {"version": 0}:
                await asyncio.sleep(0.01)
            await asyncio.gather(
                *(repeat(post, failed, MOST_CALLS_EACH, patching) for _ in range(POSTERS)),
                repeat(claim, failed, MOST_CALLS_EACH, patching),
                serve_others(patching),
            )
            for patch_failures in await patching:
                failed += patch_failures

    assert failed == []
    patches = PATCH_PROCESSES * PATCHERS * PATCHES_EACH
    assert await posting.queue_metadata("p", "q") == {"version": patches}
    listed = await posting.list_messages(
        "p", "q", MessageQuery(limit=1000, echo=True, include_claimed=True), T0
    )
    assert posted and sorted(posted, key=int) == [m.id for m in listed]
    # Posts are stored in id order, and each only on the metadata stored then.
    versions = [int(m.body) for m in listed]
    assert versions == sorted(versions)
