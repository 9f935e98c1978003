"""Long polls on every driver: the service's `wait` over a real store, on the real clock.

A waiter that is not woken still answers when its wait ends, so each test that
proves a wake-up waits far longer (`LONG`) than it lets the answer take
(`ANSWER_WITHIN`): only a wake-up can make it pass.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import time
from collections.abc import Awaitable, Callable

import pytest

from herald.errors import InvalidParameter
from herald.identity import Caller
from herald.model import ClaimView, Limits
from herald.service import Abandoned, Service, unless_gone
from herald.storage.base import Store

CALLER = Caller(project="waits", client_id="c0ffee00c0ffee00c0ffee00c0ffee00")
OTHER = Caller(project="waits", client_id="beef0000beef0000beef0000beef0000")
LONG = 20.0
ANSWER_WITHIN = 10.0
# Short claims and waits, so that expiry can happen within a test.
LIMITS = Limits(min_claim_ttl=1, min_claim_grace=1, max_wait=20)


def make(store: Store) -> Service:
    return Service(store, LIMITS, time.time)


@pytest.fixture
def service(store: Store) -> Service:
    return make(store)


def post_body(*bodies: object, delay: int = 0) -> bytes:
    return json.dumps({"messages": [{"body": b, "delay": delay} for b in bodies]}).encode()


def bodies_of(claim: ClaimView | None) -> list[object]:
    assert claim is not None
    return [json.loads(bytes(m.body)) for m in claim.messages]


async def until(condition: Callable[[], bool]) -> None:
    """Wait (briefly, by turns of the loop) until the condition holds."""
    deadline = time.monotonic() + ANSWER_WITHIN
    while not condition():
        assert time.monotonic() < deadline, "the condition never came true"
        await asyncio.sleep(0.005)


def claiming(
    service: Service, wait: float = LONG, ttl: int = 60
) -> asyncio.Future[ClaimView | None]:
    body = json.dumps({"ttl": ttl, "grace": 60}).encode()
    return asyncio.ensure_future(service.claims.create(CALLER, "q", 1, body, wait=wait))


async def answer(task: Awaitable[ClaimView | None]) -> ClaimView | None:
    return await asyncio.wait_for(task, ANSWER_WITHIN)


async def test_a_waiting_claim_gets_a_message_posted_through_another_store(
    peers: tuple[Store, Store],
) -> None:
    waiting, posting = make(peers[0]), make(peers[1])
    task = claiming(waiting)
    await until(lambda: waiting.waiters.waiting("waits", "q") == 1)
    await posting.messages.post(OTHER, "q", post_body("hello"))
    assert bodies_of(await answer(task)) == ["hello"]
    assert waiting.waiters.waiting("waits", "q") == 0


async def test_a_post_in_this_process_wakes_its_waiters_without_the_stores_wake_up(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def deaf(project: str, queue: str, wake: Callable[[], None]) -> None:
        """A watch that never calls back: a wake-up lost on its way."""

    monkeypatch.setattr(store, "watch", deaf)
    service = make(store)
    task = claiming(service)
    await until(lambda: service.waiters.waiting("waits", "q") == 1)
    await service.messages.post(OTHER, "q", post_body("hello"))
    assert bodies_of(await answer(task)) == ["hello"]


async def test_a_waiting_listing_gets_a_message_posted_through_another_store(
    peers: tuple[Store, Store],
) -> None:
    waiting, posting = make(peers[0]), make(peers[1])
    readers = [
        asyncio.ensure_future(waiting.messages.listing(CALLER, "q", wait=LONG)) for _ in range(2)
    ]
    await until(lambda: waiting.waiters.waiting("waits", "q") == 2)
    await posting.messages.post(OTHER, "q", post_body("for all"))
    # Readers do not compete: every one of them sees the message.
    for reader in readers:
        found = await asyncio.wait_for(reader, ANSWER_WITHIN)
        assert [json.loads(bytes(m.body)) for m in found] == ["for all"]


async def test_a_wait_that_ends_answers_as_without_waiting(service: Service) -> None:
    assert await service.claims.create(CALLER, "q", 1, b"", wait=0.2) is None
    assert await service.messages.listing(CALLER, "q", wait=0.2) == []
    assert service.waiters.waiting("waits", "q") == 0


async def test_a_message_already_there_is_answered_without_waiting(service: Service) -> None:
    await service.messages.post(OTHER, "q", post_body("ready"))
    assert bodies_of(await answer(claiming(service))) == ["ready"]


async def test_a_cancelled_wait_frees_its_waiter(service: Service) -> None:
    task = claiming(service)
    await until(lambda: service.waiters.waiting("waits", "q") == 1)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert service.waiters.waiting("waits", "q") == 0
    await service.messages.post(OTHER, "q", post_body("kept"))
    # Nobody took it on the cancelled waiter's behalf.
    assert bodies_of(await service.claims.create(CALLER, "q", 1, b"")) == ["kept"]


async def test_a_cancellation_swallowed_by_a_read_still_ends_the_wait(service: Service) -> None:
    # As Python 3.11's wait_for does, inside redis-py, when the cancellation
    # arrives just as the send it guards completes.
    reads = 0

    async def attempt() -> None:
        nonlocal reads
        reads += 1
        if reads == 2:
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.sleep(LONG)
        return None

    task = asyncio.ensure_future(service.waiters.wait("waits", "q", attempt, LONG, claims=True))
    await until(lambda: reads == 2)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await answer(task)
    assert service.waiters.waiting("waits", "q") == 0


async def test_unless_gone_cancels_the_wait_when_the_caller_goes(service: Service) -> None:
    gone: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    task = asyncio.ensure_future(
        unless_gone(service.claims.create(CALLER, "q", 1, b"", wait=LONG), gone)
    )
    await until(lambda: service.waiters.waiting("waits", "q") == 1)
    gone.set_result(None)
    with pytest.raises(Abandoned):
        await answer(task)
    assert service.waiters.waiting("waits", "q") == 0


async def test_unless_gone_hands_back_the_answer_and_its_errors(service: Service) -> None:
    never: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    assert await unless_gone(service.messages.listing(CALLER, "q", wait=0.1), never) == []
    with pytest.raises(InvalidParameter):
        await unless_gone(service.messages.listing(CALLER, "q", wait=-1), never)
    assert not never.done()


async def test_waiting_claimers_are_served_in_the_order_they_came(
    peers: tuple[Store, Store],
) -> None:
    waiting, posting = make(peers[0]), make(peers[1])
    tasks = []
    for n in range(1, 4):
        tasks.append(claiming(waiting))
        await until(lambda n=n: waiting.waiters.waiting("waits", "q") == n)  # type: ignore[misc]
    for n, task in enumerate(tasks, start=1):
        await posting.messages.post(OTHER, "q", post_body(n))
        assert bodies_of(await answer(task)) == [n]


async def test_a_delayed_message_coming_due_wakes_a_waiter(service: Service) -> None:
    await service.messages.post(OTHER, "q", post_body("soon", delay=1))
    assert bodies_of(await answer(claiming(service))) == ["soon"]


async def test_a_delayed_post_while_waiting_wakes_the_waiter_when_due(
    peers: tuple[Store, Store],
) -> None:
    waiting, posting = make(peers[0]), make(peers[1])
    task = claiming(waiting)
    await until(lambda: waiting.waiters.waiting("waits", "q") == 1)
    await posting.messages.post(OTHER, "q", post_body("soon", delay=1))
    assert bodies_of(await answer(task)) == ["soon"]


async def test_a_claim_running_out_wakes_a_waiter(service: Service) -> None:
    await service.messages.post(OTHER, "q", post_body("again"))
    first = await service.claims.create(OTHER, "q", 1, b'{"ttl": 1, "grace": 1}')
    assert bodies_of(first) == ["again"]
    assert bodies_of(await answer(claiming(service))) == ["again"]


async def test_a_released_claim_wakes_a_waiter(peers: tuple[Store, Store]) -> None:
    waiting, releasing = make(peers[0]), make(peers[1])
    await releasing.messages.post(OTHER, "q", post_body("back"))
    held = await releasing.claims.create(OTHER, "q", 1, b'{"ttl": 600, "grace": 60}')
    assert held is not None
    task = claiming(waiting)
    await until(lambda: waiting.waiters.waiting("waits", "q") == 1)
    await releasing.claims.delete(OTHER, "q", held.id)
    assert bodies_of(await answer(task)) == ["back"]


@pytest.mark.parametrize("wait", [-0.001, 20.001, math.nan, math.inf, -math.inf])
async def test_a_wait_outside_zero_to_max_wait_is_refused(service: Service, wait: float) -> None:
    with pytest.raises(InvalidParameter, match='"wait"'):
        await service.claims.create(CALLER, "q", 1, b"", wait=wait)
    with pytest.raises(InvalidParameter, match='"wait"'):
        await service.messages.listing(CALLER, "q", wait=wait)


async def test_a_wait_of_max_wait_is_taken(service: Service) -> None:
    task = claiming(service, wait=20)
    await until(lambda: service.waiters.waiting("waits", "q") == 1)
    await service.messages.post(OTHER, "q", post_body("in time"))
    assert bodies_of(await answer(task)) == ["in time"]


async def test_a_queues_watch_outlives_its_last_waiter_until_closed(service: Service) -> None:
    assert await service.claims.create(CALLER, "q", 1, b"", wait=0.1) is None
    # Kept for the client's next poll, which then needs no new subscription.
    assert service.waiters.watched() == 1
    task = claiming(service)
    await until(lambda: service.waiters.waiting("waits", "q") == 1)
    assert service.waiters.watched() == 1
    await service.messages.post(OTHER, "q", post_body("again"))
    assert bodies_of(await answer(task)) == ["again"]
    await service.waiters.close()
    assert service.waiters.watched() == 0


async def test_many_waiters_on_many_queues_wait_without_failing(service: Service) -> None:
    # More than a connection pool holds (Redis's 100): the watches share the store's
    # one subscriber connection, and the reads wait their turn for the pool.
    waits = [service.claims.create(CALLER, f"q{n}", 1, b"", wait=0.5) for n in range(300)]
    assert await asyncio.gather(*waits) == [None] * 300
