"""Rules the service applies over the store, on every driver: dead letters and listing filters.

The contract suite pins each store primitive; these pin what the service
builds from them, so that no driver can pass the primitives and still break
the behaviour a client sees.
"""

from __future__ import annotations

import json

import pytest

from herald.errors import ServiceUnavailable
from herald.identity import Caller
from herald.model import Limits
from herald.service import Service
from herald.storage.base import Store

T0 = 1_800_000_000.0
CALLER = Caller(project="rules", client_id="c0ffee00c0ffee00c0ffee00c0ffee00")


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def service(store: Store, clock: Clock) -> Service:
    return Service(store, Limits(), clock)


def post_body(*bodies: object, ttl: int = 300) -> bytes:
    return json.dumps({"messages": [{"body": b, "ttl": ttl} for b in bodies]}).encode()


async def test_a_message_claimed_too_often_moves_to_the_dead_letter_queue(
    service: Service, clock: Clock
) -> None:
    metadata = {"_max_claim_count": 2, "_dead_letter_queue": "dead"}
    await service.queues.create(CALLER, "q", json.dumps(metadata).encode())
    await service.messages.post(CALLER, "q", post_body("poison", "good"))
    for _ in range(2):
        claim = await service.claims.create(CALLER, "q", 1, b'{"ttl": 60}')
        assert claim is not None and [m.claim_count for m in claim.messages] != []
        clock.now += 61
    claim = await service.claims.create(CALLER, "q", 1, b'{"ttl": 60}')
    assert claim is not None
    assert [json.loads(bytes(m.body)) for m in claim.messages] == ["good"]
    moved = await service.messages.listing(CALLER, "dead", echo=True)
    assert [json.loads(bytes(m.body)) for m in moved] == ["poison"]
    assert moved[0].claim_id is None and moved[0].claim_count == 0


async def test_a_claim_of_only_exhausted_messages_is_none_and_moves_them(
    service: Service, clock: Clock
) -> None:
    metadata = {"_max_claim_count": 1, "_dead_letter_queue": "dead"}
    await service.queues.create(CALLER, "q", json.dumps(metadata).encode())
    await service.messages.post(CALLER, "q", post_body("a", "b", ttl=500))
    assert await service.claims.create(CALLER, "q", None, b"") is not None
    clock.now += 301
    assert await service.claims.create(CALLER, "q", None, b"") is None
    moved = await service.messages.listing(CALLER, "dead", echo=True)
    assert [json.loads(bytes(m.body)) for m in moved] == ["a", "b"]
    assert moved[0].ttl == 500
    assert await service.messages.listing(CALLER, "q", echo=True, include_claimed=True) == []


async def test_listing_filters_by_name_and_metadata_over_pages(service: Service) -> None:
    for index in range(25):
        colour = "red" if index % 3 == 0 else "blue"
        body = json.dumps({"colour": colour, "n": index}).encode()
        await service.queues.create(CALLER, f"q-{index:02d}", body)
    await service.queues.create(CALLER, "other", b'{"colour": "red"}')

    async def names(
        name: str | None = None, filters: dict[str, object] | None = None, limit: int = 20
    ) -> list[str]:
        page = await service.queues.listing(
            CALLER, marker=None, limit=limit, name=name, with_count=False, filters=filters or {}
        )
        return [q.name for q in page.queues]

    reds = [f"q-{i:02d}" for i in range(25) if i % 3 == 0]
    assert await names(filters={"colour": "red"}) == ["other", *reds]
    assert await names(name="^q-", filters={"colour": "red"}) == reds
    assert await names(name="^q-1") == [f"q-{i}" for i in range(10, 20)]
    assert await names(name="-2.$", limit=3) == ["q-20", "q-21", "q-22"]
    assert await names(name="^oth", filters={"colour": "red"}) == ["other"]
    assert await names(name="^q-", filters={"colour": "green"}) == []


async def test_a_failed_move_leaves_the_claim_of_the_others_standing(
    store: Store, clock: Clock, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The move fails as a store that goes away between two calls would make it fail.
    async def unavailable(*args: object) -> int:
        raise ServiceUnavailable("the store went away")

    service = Service(store, Limits(), clock)
    metadata = {"_max_claim_count": 1, "_dead_letter_queue": "dead"}
    await service.queues.create(CALLER, "q", json.dumps(metadata).encode())
    await service.messages.post(CALLER, "q", post_body("poison"))
    assert await service.claims.create(CALLER, "q", 1, b'{"ttl": 60}') is not None
    clock.now += 61
    await service.messages.post(CALLER, "q", post_body("good"))
    with monkeypatch.context() as patched:
        patched.setattr(store, "move_messages", unavailable)
        claim = await service.claims.create(CALLER, "q", 1, b'{"ttl": 60}')
    assert claim is not None
    assert [json.loads(bytes(m.body)) for m in claim.messages] == ["good"]
    assert "tries again" in caplog.text
    # Once the claim ends, the next claim moves the message after all (and
    # "good" too, claimed once by now).
    clock.now += 61
    assert await service.claims.create(CALLER, "q", 1, b'{"ttl": 60}') is None
    moved = await service.messages.listing(CALLER, "dead", echo=True)
    assert [json.loads(bytes(m.body)) for m in moved] == ["poison", "good"]
