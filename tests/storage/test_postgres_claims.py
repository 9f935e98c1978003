"""PostgreSQL claims read on past set-aside messages; moves change nothing when nothing moves."""

from __future__ import annotations

import asyncio
from typing import Any

import msgspec

import backends
from herald.model import ClaimRequest, MessageQuery, NewMessage, StoredMessage
from herald.storage.base import Plan
from herald.storage.postgres import PostgresStore

T0 = 1_800_000_000.0
P = "p"
EVERYTHING = MessageQuery(limit=20, echo=True, include_claimed=True, include_delayed=True)


async def test_a_claim_reads_on_past_more_set_aside_messages_than_its_limit() -> None:
    async with backends.postgres_store() as (store, _):
        ids = await _post(store, "q", "a", "b", "c", "d", "e")
        first = await store.create_claim(P, "q", _plan(limit=3), T0)
        assert first is not None and _bodies(first.messages) == ["a", "b", "c"]
        made = await store.create_claim(P, "q", _plan(limit=2, max_claim_count=1), T0 + 61)
        assert made is not None
        assert _bodies(made.messages) == ["d", "e"]
        assert [m.id for m in made.exhausted] == ids[:3]
        # Set aside is held, not handed out: it does not count as claimed again.
        assert [m.claim_count for m in made.exhausted] == [1, 1, 1]
        assert {m.claim_id for m in made.exhausted} == {made.id}
        assert await store.create_claim(P, "q", _plan(limit=10), T0 + 61) is None
        held = await store.get_claim(P, "q", made.id, T0 + 61)
        assert held is not None and [m.id for m in held.messages] == ids


async def test_a_claim_stops_reading_when_the_queue_runs_out() -> None:
    async with backends.postgres_store() as (store, _):
        await _post(store, "q", "a", "b", "c")
        await store.create_claim(P, "q", _plan(limit=2), T0)
        made = await store.create_claim(P, "q", _plan(limit=2, max_claim_count=1), T0 + 61)
        assert made is not None
        assert _bodies(made.messages) == ["c"] and _bodies(made.exhausted) == ["a", "b"]


async def test_moving_nothing_creates_no_target_queue() -> None:
    async with backends.postgres_store() as (store, _):
        ids = await _post(store, "q", "a")
        made = await store.create_claim(P, "q", _plan(), T0)
        assert made is not None
        assert await store.move_messages(P, "q", made.id, ids, "dead", None, T0 + 61) == 0
        assert await store.queue_metadata(P, "dead") is None
        assert await store.move_messages(P, "q", made.id, ids, "dead", None, T0) == 1
        assert await store.queue_metadata(P, "dead") == {}


async def test_a_marker_reader_of_the_target_never_skips_concurrent_moves() -> None:
    # A move takes the target queue's row lock as a post does, so the ids it
    # draws become visible in order with the posts to that queue.
    async with backends.postgres_store() as (store, _):

        async def move(worker: int) -> None:
            queue = f"source-{worker}"
            await _post(store, queue, *(f"{worker}-{n}" for n in range(10)))
            for _ in range(5):
                made = await store.create_claim(P, queue, _plan(limit=2), T0)
                assert made is not None
                ids = [m.id for m in made.messages]
                assert await store.move_messages(P, queue, made.id, ids, "dlq", None, T0) == 2

        async def post(worker: int) -> None:
            for n in range(10):
                await _post(store, "dlq", f"post-{worker}-{n}")

        async def read(done: asyncio.Event) -> list[StoredMessage]:
            seen: list[StoredMessage] = []
            marker = None
            while True:
                finished = done.is_set()
                query = msgspec.structs.replace(EVERYTHING, marker=marker)
                page = await store.list_messages(P, "dlq", query, T0)
                seen += page
                marker = page[-1].id if page else marker
                if not page and finished:
                    return seen
                await asyncio.sleep(0)

        done = asyncio.Event()
        reader = asyncio.create_task(read(done))
        await asyncio.gather(*(move(w) for w in range(4)), *(post(w) for w in range(4)))
        done.set()
        seen = await reader
        assert (await store.queue_stats(P, "dlq", T0)).total == 80
        assert len(seen) == 80 and len({m.id for m in seen}) == 80


def _plan(limit: int = 10, max_claim_count: int | None = None) -> Plan:
    request = ClaimRequest(limit=limit, ttl=60, grace=60, max_claim_count=max_claim_count)

    def plan(metadata: dict[str, Any]) -> ClaimRequest:
        return request

    return plan


async def _post(store: PostgresStore, queue: str, *bodies: str) -> list[str]:
    made = [NewMessage(msgspec.Raw(msgspec.json.encode(b)), 300, 0) for b in bodies]
    return await store.post_messages(P, queue, lambda _: made, "client", T0)


def _bodies(messages: list[StoredMessage]) -> list[Any]:
    return [msgspec.json.decode(m.body) for m in messages]
