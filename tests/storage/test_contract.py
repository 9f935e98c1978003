"""The storage contract: behaviour every driver must show, with time passed in."""

from __future__ import annotations

import asyncio
from typing import Any, NoReturn

import msgspec
import pytest

from herald.errors import InvalidRequest
from herald.model import ClaimRequest, MessageQuery, NewMessage, StoredMessage, Subscription
from herald.storage.base import OUTBOX_WAKEUPS, WAKEUPS, DeleteOutcome, Plan, Store

T0 = 1_800_000_000.0
P = "project-a"
CLIENT = "c0ffee00c0ffee00c0ffee00c0ffee00"
OTHER_CLIENT = "beef0000beef0000beef0000beef0000"


def message(body: object, ttl: int = 300, delay: int = 0) -> NewMessage:
    return NewMessage(msgspec.Raw(msgspec.json.encode(body)), ttl, delay)


async def post(
    store: Store,
    queue: str,
    *bodies: object,
    ttl: int = 300,
    delay: int = 0,
    now: float = T0,
    project: str = P,
    client: str = CLIENT,
) -> list[str]:
    made = [message(b, ttl, delay) for b in bodies]
    return await store.post_messages(project, queue, lambda metadata: made, client, now)


def everything(*, marker: str | None = None, limit: int = 20) -> MessageQuery:
    return MessageQuery(
        marker=marker, limit=limit, echo=True, include_claimed=True, include_delayed=True
    )


def bodies(messages: list[StoredMessage]) -> list[object]:
    return [msgspec.json.decode(m.body) for m in messages]


def claim(
    limit: int = 10, ttl: int = 60, grace: int = 60, max_claim_count: int | None = None
) -> Plan:
    request = ClaimRequest(limit=limit, ttl=ttl, grace=grace, max_claim_count=max_claim_count)
    return lambda metadata: request


# Queues


async def test_an_opened_store_is_at_the_schema_version_its_code_expects(store: Store) -> None:
    # Opening migrates; reading the version afterwards migrates nothing more.
    version = await store.schema_version()
    if version is not None:
        assert version.current == version.latest >= 1
    assert await store.ping()


async def test_create_queue_once(store: Store) -> None:
    assert await store.create_queue(P, "q", {"a": 1}) is True
    assert await store.create_queue(P, "q", {"a": 2}) is False
    assert await store.queue_metadata(P, "q") == {"a": 1}
    assert await store.queue_metadata(P, "missing") is None


async def test_update_queue_metadata_is_all_or_nothing(store: Store) -> None:
    await store.create_queue(P, "q", {"a": 1})
    assert await store.update_queue_metadata(P, "q", lambda m: {**m, "b": 2}) == {"a": 1, "b": 2}

    def refuse(old: dict[str, Any]) -> dict[str, Any]:
        raise ValueError("no")

    with pytest.raises(ValueError):
        await store.update_queue_metadata(P, "q", refuse)
    assert await store.queue_metadata(P, "q") == {"a": 1, "b": 2}
    assert await store.update_queue_metadata(P, "missing", lambda m: m) is None


async def test_queues_are_listed_by_name_after_an_exclusive_marker(store: Store) -> None:
    for name in ["b", "a.dot", "c-1", "a"]:
        await store.create_queue(P, name, {"n": name})
    await store.create_queue("other", "zz", {})
    first = await store.list_queues(P, marker=None, limit=2)
    assert [q.name for q in first] == ["a", "a.dot"]
    rest = await store.list_queues(P, marker="a.dot", limit=10)
    assert [q.name for q in rest] == ["b", "c-1"]
    assert rest[0].metadata == {"n": "b"}
    assert await store.list_queues(P, marker="c-1", limit=10) == []
    assert await store.count_queues(P) == 4
    assert await store.count_queues("nobody") == 0


async def test_queue_listing_by_name_prefix(store: Store) -> None:
    for name in ("red-1", "red-2", "reddish", "blue", "re", "a_b", "axb", "a%b", "a.b"):
        await store.create_queue(P, name, {"n": name})
    named = await store.list_queues(P, marker=None, limit=10, prefix="red")
    assert [q.name for q in named] == ["red-1", "red-2", "reddish"]
    assert named[0].metadata == {"n": "red-1"}
    after = await store.list_queues(P, marker="red-1", limit=1, prefix="red")
    assert [q.name for q in after] == ["red-2"]
    # Characters that are wildcards to SQL's LIKE are plain text in a prefix.
    for prefix, names in (("a_", ["a_b"]), ("a%", ["a%b"]), ("a.", ["a.b"])):
        found = await store.list_queues(P, marker=None, limit=10, prefix=prefix)
        assert [q.name for q in found] == names
    assert await store.list_queues(P, marker=None, limit=10, prefix="green") == []
    assert await store.list_queues(P, marker="reddish", limit=10, prefix="red") == []


async def test_text_holding_nul_names_no_queue_and_a_marker_keeps_its_place(
    store: Store,
) -> None:
    # No queue is named with NUL, so a marker holding one sorts among the names
    # as the text before it does, and any name holding one finds nothing.
    for name in ("a", "a.b", "ab", "b"):
        await store.create_queue(P, name, {})
    (mid,) = await post(store, "a", "m")
    after = await store.list_queues(P, marker="a\x00z", limit=10)
    assert [q.name for q in after] == ["a.b", "ab", "b"]
    everyone = await store.list_queues(P, marker="\x00", limit=10)
    assert [q.name for q in everyone] == ["a", "a.b", "ab", "b"]
    assert await store.list_queues(P, marker=None, limit=10, prefix="a\x00") == []
    assert await store.list_queues("p\x00", marker=None, limit=10) == []
    assert await store.count_queues("p\x00") == 0
    unknown_claim = "00000000-0000-4000-8000-000000000000"
    for project, queue in ((P, "a\x00"), ("p\x00", "a")):
        assert await store.queue_metadata(project, queue) is None
        assert await store.update_queue_metadata(project, queue, lambda m: m) is None
        assert (await store.queue_stats(project, queue, T0)).total == 0
        assert await store.list_messages(project, queue, everything(), T0) == []
        assert await store.get_messages(project, queue, [mid], T0) == []
        assert await store.delete_message(project, queue, mid, None, T0) is DeleteOutcome.MISSING
        assert await store.pop_messages(project, queue, 5, T0) == []
        assert await store.create_claim(project, queue, claim(), T0) is None
        assert await store.get_claim(project, queue, unknown_claim, T0) is None
        assert await store.renew_claim(project, queue, unknown_claim, 60, 60, T0) is False
        await store.release_claim(project, queue, unknown_claim, T0)
        await store.delete_messages(project, queue, [mid], None, T0)
        await store.purge_messages(project, queue)
        await store.delete_queue(project, queue)
    assert len(await store.get_messages(P, "a", [mid], T0)) == 1
    # Nobody's client id holds NUL: without echo, every message is someone else's.
    query = MessageQuery(limit=10, echo=False, client_id="c\x00")
    assert bodies(await store.list_messages(P, "a", query, T0)) == ["m"]
    assert await store.count_queues(P) == 4


async def test_delete_queue_takes_its_messages(store: Store) -> None:
    await post(store, "q", 1, 2)
    await store.delete_queue(P, "q")
    await store.delete_queue(P, "q")
    assert await store.queue_metadata(P, "q") is None
    assert await store.list_messages(P, "q", everything(), T0) == []
    await post(store, "q", 3)
    assert bodies(await store.list_messages(P, "q", everything(), T0)) == [3]


# Posting and listing


async def test_post_creates_the_queue_and_keeps_order(store: Store) -> None:
    ids = await post(store, "lazy", "a", "b", "c")
    assert len(set(ids)) == 3
    assert await store.queue_metadata(P, "lazy") == {}
    listed = await store.list_messages(P, "lazy", everything(), T0 + 1)
    assert [m.id for m in listed] == ids
    assert bodies(listed) == ["a", "b", "c"]
    assert listed[0].ttl == 300 and listed[0].created == T0
    assert listed[0].claim_id is None and listed[0].claim_count == 0


async def test_post_prepares_messages_from_the_queue_metadata(store: Store) -> None:
    seen: list[dict[str, Any]] = []

    def prepare(metadata: dict[str, Any]) -> list[NewMessage]:
        seen.append(metadata)
        return [message("m", ttl=metadata.get("ttl", 300))]

    await store.post_messages(P, "new", prepare, CLIENT, T0)
    await store.create_queue(P, "set", {"ttl": 120})
    await store.post_messages(P, "set", prepare, CLIENT, T0)
    assert seen == [{}, {"ttl": 120}]
    (m,) = await store.list_messages(P, "set", everything(), T0)
    assert m.ttl == 120


async def test_a_refused_post_stores_nothing(store: Store) -> None:
    def refuse(metadata: dict[str, Any]) -> list[NewMessage]:
        raise ValueError("too big")

    with pytest.raises(ValueError):
        await store.post_messages(P, "q", refuse, CLIENT, T0)
    assert await store.queue_metadata(P, "q") is None
    assert await store.list_messages(P, "q", everything(), T0) == []


async def test_claim_plans_from_the_queue_metadata(store: Store) -> None:
    await store.create_queue(P, "q", {"limit": 2})
    await post(store, "q", 1, 2, 3)
    made = await store.create_claim(
        P, "q", lambda m: ClaimRequest(limit=m["limit"], ttl=60, grace=60), T0
    )
    assert made is not None and bodies(made.messages) == [1, 2]

    def never(metadata: dict[str, Any]) -> ClaimRequest:
        raise AssertionError("planned a claim on a missing queue")

    assert await store.create_claim(P, "missing", never, T0) is None


async def test_bodies_come_back_byte_for_byte(store: Store) -> None:
    body = {"nested": [1, 2.5, None, True, "ü"], "big": 2**62}
    await post(store, "q", body)
    (m,) = await store.list_messages(P, "q", everything(), T0)
    assert msgspec.json.decode(m.body) == body


async def test_paging_never_repeats(store: Store) -> None:
    ids = await post(store, "q", *range(7))
    seen: list[str] = []
    marker = None
    for _ in range(10):
        page = await store.list_messages(P, "q", everything(marker=marker, limit=1), T0)
        if not page:
            break
        seen += [m.id for m in page]
        marker = page[-1].id
    assert seen == ids


async def test_a_marker_reader_never_skips_concurrent_posts(store: Store) -> None:
    # Ids must become visible in order: a message committed after a reader
    # passed its id would be skipped by every later page.
    async def produce(worker: int) -> list[str]:
        ids: list[str] = []
        for n in range(20):
            ids += await post(store, "q", f"{worker}-{n}", f"{worker}-{n}b")
        return ids

    async def read(done: asyncio.Event) -> list[str]:
        seen: list[str] = []
        marker = None
        while True:
            finished = done.is_set()
            page = await store.list_messages(P, "q", everything(marker=marker), T0)
            seen += [m.id for m in page]
            marker = page[-1].id if page else marker
            if not page and finished:
                return seen
            await asyncio.sleep(0)

    done = asyncio.Event()
    reader = asyncio.create_task(read(done))
    posted = await asyncio.gather(*(produce(w) for w in range(8)))
    done.set()
    seen = await reader
    assert sorted(seen) == sorted(i for ids in posted for i in ids)
    assert len(seen) == len(set(seen))


async def test_concurrent_posts_each_get_their_own_messages(store: Store) -> None:
    # Drivers may send concurrent posts to the backend together; each post
    # must still get back exactly the ids of its own messages, in its order.
    async def produce(queue: str, n: int) -> tuple[str, int, list[str]]:
        size = 1 + n % 3
        ids = await post(store, queue, *(f"{queue}-{n}-{k}" for k in range(size)))
        return queue, n, ids

    posted = await asyncio.gather(*(produce(f"q{n % 3}", n) for n in range(60)))
    for queue, n, ids in posted:
        assert len(ids) == 1 + n % 3
        assert bodies(await store.get_messages(P, queue, ids, T0)) == [
            f"{queue}-{n}-{k}" for k in range(len(ids))
        ]
        assert ids == sorted(ids, key=int)
    everyone = [i for _, _, ids in posted for i in ids]
    assert len(set(everyone)) == len(everyone)


async def test_a_post_refused_by_its_rules_fails_alone_among_concurrent_posts(
    store: Store,
) -> None:
    await store.create_queue(P, "q", {"limit": 1})

    def refuse(metadata: dict[str, Any]) -> list[NewMessage]:
        raise InvalidRequest(f"refused under {metadata}")

    outcomes = await asyncio.gather(
        post(store, "q", "before"),
        store.post_messages(P, "q", refuse, CLIENT, T0),
        post(store, "q", "after"),
        return_exceptions=True,
    )
    assert isinstance(outcomes[1], InvalidRequest)
    assert str(outcomes[1]) == "refused under {'limit': 1}"
    listed = await store.list_messages(P, "q", everything(), T0)
    assert bodies(listed) == ["before", "after"]
    assert isinstance(outcomes[0], list) and isinstance(outcomes[2], list)
    assert [m.id for m in listed] == [*outcomes[0], *outcomes[2]]


async def test_a_herald_error_from_any_callback_propagates_unchanged(store: Store) -> None:
    await store.create_queue(P, "q", {"a": 1})
    await post(store, "q", "kept")
    refusal = InvalidRequest("refused by the rules")

    def refuse(metadata: dict[str, Any]) -> NoReturn:
        raise refusal

    for attempt in (
        store.post_messages(P, "q", refuse, CLIENT, T0),
        store.post_messages(P, "new", refuse, CLIENT, T0),
        store.create_claim(P, "q", refuse, T0),
        store.update_queue_metadata(P, "q", refuse),
    ):
        with pytest.raises(InvalidRequest) as raised:
            await attempt
        assert raised.value is refusal
    assert await store.queue_metadata(P, "q") == {"a": 1}
    assert await store.queue_metadata(P, "new") is None
    (kept,) = await store.list_messages(P, "q", everything(), T0)
    assert kept.claim_id is None and kept.claim_count == 0


async def test_one_post_of_thousands_of_messages(store: Store) -> None:
    ids = await post(store, "q", *range(5000))
    assert len(ids) == 5000 and ids == sorted(ids, key=int)
    assert (await store.queue_stats(P, "q", T0)).total == 5000
    made = await store.create_claim(P, "q", claim(limit=10), T0)
    assert made is not None and bodies(made.messages) == list(range(10))
    assert bodies(await store.get_messages(P, "q", ids[-2:], T0)) == [4998, 4999]


async def test_listing_hides_own_messages_without_echo(store: Store) -> None:
    await post(store, "q", "mine")
    await post(store, "q", "theirs", client=OTHER_CLIENT)
    query = MessageQuery(limit=10, echo=False, client_id=CLIENT)
    assert bodies(await store.list_messages(P, "q", query, T0)) == ["theirs"]
    query = MessageQuery(limit=10, echo=True, client_id=CLIENT)
    assert bodies(await store.list_messages(P, "q", query, T0)) == ["mine", "theirs"]


async def test_listing_hides_claimed_and_delayed_unless_asked(store: Store) -> None:
    await post(store, "q", "claimed", "free")
    await post(store, "q", "delayed", delay=30)
    await store.create_claim(P, "q", claim(limit=1), T0)
    plain = MessageQuery(limit=10, echo=True)
    assert bodies(await store.list_messages(P, "q", plain, T0 + 1)) == ["free"]
    with_claimed = MessageQuery(limit=10, echo=True, include_claimed=True)
    listed = await store.list_messages(P, "q", with_claimed, T0 + 1)
    assert bodies(listed) == ["claimed", "free"]
    assert listed[0].claim_id is not None and listed[1].claim_id is None
    with_delayed = MessageQuery(limit=10, echo=True, include_delayed=True)
    assert bodies(await store.list_messages(P, "q", with_delayed, T0 + 1)) == ["free", "delayed"]
    assert bodies(await store.list_messages(P, "q", plain, T0 + 30)) == ["free", "delayed"]


async def test_include_claimed_pages_with_a_marker(store: Store) -> None:
    ids = await post(store, "q", 1, 2, 3)
    await store.create_claim(P, "q", claim(limit=3), T0)
    page = await store.list_messages(P, "q", everything(marker=ids[0], limit=1), T0)
    assert [m.id for m in page] == [ids[1]]


async def test_expired_messages_are_never_returned(store: Store) -> None:
    ids = await post(store, "q", "short", ttl=60)
    await post(store, "q", "long", ttl=120)
    later = T0 + 60
    assert bodies(await store.list_messages(P, "q", everything(), later)) == ["long"]
    assert await store.get_messages(P, "q", ids, later) == []
    assert await store.pop_messages(P, "q", 5, later - 1) != []


async def test_messages_are_scoped_by_project_and_queue(store: Store) -> None:
    ids = await post(store, "q", "a")
    assert await store.list_messages("other", "q", everything(), T0) == []
    assert await store.get_messages("other", "q", ids, T0) == []
    assert await store.get_messages(P, "another", ids, T0) == []
    assert await store.delete_message("other", "q", ids[0], None, T0) is DeleteOutcome.MISSING
    assert len(await store.get_messages(P, "q", ids, T0)) == 1


async def test_get_messages_in_the_order_asked(store: Store) -> None:
    a, b, c = await post(store, "q", "a", "b", "c")
    found = await store.get_messages(P, "q", [c, "nope", a, "12345678901234567890123", b], T0)
    assert bodies(found) == ["c", "a", "b"]


# Deleting


async def test_bulk_delete_ignores_claims(store: Store) -> None:
    ids = await post(store, "q", 1, 2, 3)
    await store.create_claim(P, "q", claim(limit=1), T0)
    await store.delete_messages(P, "q", [*ids[:2], "junk"], None, T0)
    assert bodies(await store.list_messages(P, "q", everything(), T0)) == [3]


async def test_bulk_delete_with_claim_ids_takes_only_held_messages(store: Store) -> None:
    ids = await post(store, "q", 1, 2, 3)
    held = await store.create_claim(P, "q", claim(limit=2), T0)
    assert held is not None
    await store.delete_messages(P, "q", ids, [held.id], T0)
    assert bodies(await store.list_messages(P, "q", everything(), T0)) == [3]


async def test_single_delete_follows_the_claim_rules(store: Store) -> None:
    free, mine, theirs = await post(store, "q", "free", "mine", "theirs")
    await store.delete_messages(P, "q", [free], None, T0)
    (free,) = await post(store, "q", "free again")
    first = await store.create_claim(P, "q", claim(limit=2), T0)
    assert first is not None and [m.id for m in first.messages] == [mine, theirs]
    second_ids = await post(store, "q", "other")
    second = await store.create_claim(P, "q", claim(limit=10), T0)
    assert second is not None
    assert {m.id for m in second.messages} == {free, second_ids[0]}

    async def delete(mid: str, cid: str | None, now: float = T0) -> DeleteOutcome:
        return await store.delete_message(P, "q", mid, cid, now)

    assert await delete("424242", None) is DeleteOutcome.MISSING
    assert await delete(mine, None) is DeleteOutcome.CLAIMED
    assert await delete(mine, "not-a-claim") is DeleteOutcome.CLAIM_GONE
    assert await delete(mine, second.id) is DeleteOutcome.CLAIMED_BY_OTHER
    assert await delete(mine, first.id) is DeleteOutcome.DELETED
    assert await delete(mine, first.id) is DeleteOutcome.MISSING
    # Once the first claim expires, its id is gone and its messages are free.
    assert await delete(theirs, first.id, T0 + 61) is DeleteOutcome.CLAIM_GONE
    assert await delete(theirs, second.id, T0 + 30) is DeleteOutcome.CLAIMED_BY_OTHER
    await store.release_claim(P, "q", first.id, T0 + 30)
    assert await delete(theirs, second.id, T0 + 30) is DeleteOutcome.NOT_CLAIMED
    assert await delete(theirs, None, T0 + 30) is DeleteOutcome.DELETED


async def test_a_claim_id_no_claim_has_deletes_nothing(store: Store) -> None:
    (free,) = await post(store, "q", "free")
    for claim_id in ("not-a-claim", "00000000-0000-4000-8000-000000000000"):
        assert await store.delete_message(P, "q", free, claim_id, T0) is (DeleteOutcome.CLAIM_GONE)
    assert bodies(await store.get_messages(P, "q", [free], T0)) == ["free"]


async def test_pop_takes_the_oldest_claimable(store: Store) -> None:
    await post(store, "q", "claimed", "one", "two")
    await post(store, "q", "delayed", delay=100)
    await post(store, "q", "three")
    await store.create_claim(P, "q", claim(limit=1), T0)
    popped = await store.pop_messages(P, "q", 2, T0)
    assert bodies(popped) == ["one", "two"]
    assert all(m.claim_id is None for m in popped)
    assert bodies(await store.pop_messages(P, "q", 5, T0)) == ["three"]
    assert await store.pop_messages(P, "missing", 5, T0) == []
    assert bodies(await store.list_messages(P, "q", everything(), T0)) == ["claimed", "delayed"]


# Claims


async def test_claim_takes_the_oldest_claimable_messages(store: Store) -> None:
    await post(store, "q", "delayed", delay=10)
    ids = await post(store, "q", 1, 2, 3)
    made = await store.create_claim(P, "q", claim(limit=2), T0)
    assert made is not None
    assert [m.id for m in made.messages] == ids[:2]
    assert all(m.claim_id == made.id and m.claim_count == 1 for m in made.messages)
    assert made.ttl == 60 and made.updated == T0
    again = await store.create_claim(P, "q", claim(limit=5), T0)
    assert again is not None and [m.id for m in again.messages] == ids[2:]
    assert await store.create_claim(P, "q", claim(), T0) is None
    assert await store.create_claim(P, "missing", claim(), T0) is None
    late = await store.create_claim(P, "q", claim(), T0 + 10)
    assert late is not None and bodies(late.messages) == ["delayed"]


async def test_claim_extends_short_lived_messages_by_grace(store: Store) -> None:
    short, long = await post(store, "q", "short", ttl=100) + await post(
        store, "q", "long", ttl=1000
    )
    made = await store.create_claim(P, "q", claim(ttl=300, grace=100), T0 + 50)
    assert made is not None
    ttl = {m.id: m.ttl for m in made.messages}
    assert ttl == {short: 400, long: 1000}
    # The short one now lives until the claim ends plus grace.
    alive = await store.get_messages(P, "q", [short], T0 + 50 + 399)
    assert len(alive) == 1
    assert await store.get_messages(P, "q", [short], T0 + 50 + 400) == []


async def test_expired_claim_frees_its_messages(store: Store) -> None:
    ids = await post(store, "q", 1, 2, ttl=3600)
    first = await store.create_claim(P, "q", claim(ttl=60), T0)
    assert first is not None
    assert await store.create_claim(P, "q", claim(), T0 + 59) is None
    assert await store.get_claim(P, "q", first.id, T0 + 59) is not None
    assert await store.get_claim(P, "q", first.id, T0 + 60) is None
    second = await store.create_claim(P, "q", claim(), T0 + 60)
    assert second is not None and [m.id for m in second.messages] == ids
    assert all(m.claim_count == 2 for m in second.messages)


async def test_messages_of_a_collected_claim_are_claimable(store: Store) -> None:
    ids = await post(store, "q", 1, 2, ttl=3600)
    first = await store.create_claim(P, "q", claim(ttl=60), T0)
    assert first is not None
    await store.collect_garbage(T0 + 61)
    assert await store.delete_message(P, "q", ids[0], first.id, T0 + 61) is (
        DeleteOutcome.CLAIM_GONE
    )
    popped = await store.pop_messages(P, "q", 1, T0 + 62)
    assert [m.id for m in popped] == ids[:1]
    again = await store.create_claim(P, "q", claim(), T0 + 62)
    assert again is not None and [m.id for m in again.messages] == ids[1:]


async def test_get_claim_lists_its_live_messages(store: Store) -> None:
    ids = await post(store, "q", 1, 2)
    made = await store.create_claim(P, "q", claim(ttl=100), T0)
    assert made is not None
    await store.delete_message(P, "q", ids[0], made.id, T0)
    got = await store.get_claim(P, "q", made.id, T0 + 10)
    assert got is not None and [m.id for m in got.messages] == ids[1:]
    assert got.ttl == 100 and got.updated == T0
    assert await store.get_claim(P, "other-queue", made.id, T0) is None
    assert await store.get_claim("other", "q", made.id, T0) is None
    assert await store.get_claim(P, "q", "nope", T0) is None


async def test_renewing_a_claim_restarts_it_with_grace(store: Store) -> None:
    (mid,) = await post(store, "q", "m", ttl=120)
    made = await store.create_claim(P, "q", claim(ttl=60, grace=60), T0)
    assert made is not None and made.messages[0].ttl == 120
    assert await store.renew_claim(P, "q", made.id, 300, 100, T0 + 50) is True
    got = await store.get_claim(P, "q", made.id, T0 + 340)
    assert got is not None and got.ttl == 300 and got.updated == T0 + 50
    assert got.messages[0].ttl == 400
    assert await store.renew_claim(P, "q", made.id, 60, 60, T0 + 350) is False
    assert await store.renew_claim(P, "q", "nope", 60, 60, T0) is False
    assert await store.get_messages(P, "q", [mid], T0 + 50 + 399) != []


async def test_released_claim_frees_its_messages_at_once(store: Store) -> None:
    ids = await post(store, "q", 1, 2)
    made = await store.create_claim(P, "q", claim(), T0)
    assert made is not None
    await store.release_claim(P, "q", made.id, T0 + 1)
    await store.release_claim(P, "q", made.id, T0 + 1)
    assert await store.get_claim(P, "q", made.id, T0 + 1) is None
    again = await store.create_claim(P, "q", claim(), T0 + 1)
    assert again is not None and [m.id for m in again.messages] == ids


async def test_concurrent_claims_never_share_a_message(store: Store) -> None:
    await post(store, "q", *range(200))
    claims = await asyncio.gather(
        *(store.create_claim(P, "q", claim(limit=7), T0) for _ in range(40))
    )
    taken = [m.id for c in claims if c is not None for m in c.messages]
    assert len(taken) == 200 and len(set(taken)) == 200


async def test_concurrent_deletes_of_one_message_delete_it_once(store: Store) -> None:
    ids = await post(store, "q", "once", "other")
    made = await store.create_claim(P, "q", claim(limit=1), T0)
    assert made is not None
    # Concurrent reads first, so that a pooled driver has connections for all.
    await asyncio.gather(*(store.queue_metadata(P, "q") for _ in range(16)))
    outcomes = await asyncio.gather(
        *(store.delete_message(P, "q", ids[0], made.id, T0) for _ in range(8)),
        *(store.delete_message(P, "q", ids[1], None, T0) for _ in range(8)),
    )
    assert outcomes.count(DeleteOutcome.DELETED) == 2
    assert outcomes.count(DeleteOutcome.MISSING) == 14
    assert await store.get_messages(P, "q", ids, T0) == []


async def test_claim_sets_aside_messages_claimed_too_often(store: Store) -> None:
    ids = await post(store, "q", "poison", "good")
    for attempt in range(2):
        now = T0 + attempt * 100
        made = await store.create_claim(P, "q", claim(limit=1, max_claim_count=2), now)
        assert made is not None and [m.id for m in made.messages] == ids[:1]
        assert made.exhausted == []
    # Third attempt: the poison message is set aside and the next one claimed instead.
    made = await store.create_claim(P, "q", claim(limit=1, max_claim_count=2), T0 + 200)
    assert made is not None and bodies(made.messages) == ["good"]
    assert [m.id for m in made.exhausted] == ids[:1]
    # Set aside is claimed: nobody else takes it meanwhile.
    other = await store.create_claim(P, "q", claim(limit=5), T0 + 200)
    assert other is None


async def test_move_messages_to_the_tail_of_another_queue(store: Store) -> None:
    (old,) = await post(store, "dlq", "already there")
    ids = await post(store, "q", "poison", "other", ttl=300, now=T0 + 1)
    made = await store.create_claim(P, "q", claim(limit=1), T0 + 10)
    assert made is not None
    # Only what the claim holds moves: "other" is not under it.
    assert await store.move_messages(P, "q", made.id, ids, "dlq", 7200, T0 + 20) == 1
    moved = await store.list_messages(P, "dlq", everything(), T0 + 20)
    assert bodies(moved) == ["already there", "poison"]
    assert moved[0].id == old
    assert moved[1].ttl == 7200 and moved[1].claim_id is None and moved[1].claim_count == 0
    assert moved[1].created == T0 + 1
    assert await store.get_messages(P, "q", ids[:1], T0 + 20) == []
    assert bodies(await store.list_messages(P, "q", everything(), T0 + 20)) == ["other"]
    # A message no longer under the claim stays where it is.
    assert await store.move_messages(P, "q", made.id, ids, "dlq", None, T0 + 20) == 0


async def test_move_messages_into_a_new_queue_keeps_their_ttl(store: Store) -> None:
    await post(store, "q", "a", "b", ttl=500)
    first = await store.create_claim(P, "q", claim(max_claim_count=1), T0)
    assert first is not None and first.exhausted == []
    made = await store.create_claim(P, "q", claim(max_claim_count=1), T0 + 61)
    assert made is not None and made.messages == [] and len(made.exhausted) == 2
    ids = [m.id for m in made.exhausted]
    assert await store.move_messages(P, "q", made.id, ids, "dead", None, T0 + 61) == 2
    assert await store.queue_metadata(P, "dead") == {}
    moved = await store.list_messages(P, "dead", everything(), T0 + 61)
    assert bodies(moved) == ["a", "b"] and moved[0].ttl == 500
    assert moved[0].claim_count == 0


async def test_messages_set_aside_keep_their_own_ttl(store: Store) -> None:
    # Nobody was handed them: the grace rule, which keeps a worker's message
    # alive until its claim ends, does not apply, and neither does the count.
    await post(store, "q", "a", ttl=100)
    assert await store.create_claim(P, "q", claim(ttl=60, max_claim_count=1), T0) is not None
    made = await store.create_claim(P, "q", claim(ttl=300, max_claim_count=1), T0 + 61)
    assert made is not None and made.messages == []
    (held,) = made.exhausted
    assert (held.ttl, held.claim_count) == (100, 1)
    assert await store.move_messages(P, "q", made.id, [held.id], "dead", None, T0 + 62) == 1
    (moved,) = await store.list_messages(P, "dead", everything(), T0 + 62)
    assert moved.ttl == 100


async def test_move_messages_of_an_expired_claim_moves_nothing(store: Store) -> None:
    ids = await post(store, "q", "a")
    made = await store.create_claim(P, "q", claim(ttl=60), T0)
    assert made is not None
    assert await store.move_messages(P, "q", made.id, ids, "dead", None, T0 + 61) == 0
    assert await store.move_messages(P, "q", "not-a-claim", ids, "dead", None, T0) == 0
    assert await store.list_messages(P, "dead", everything(), T0) == []
    assert len(await store.get_messages(P, "q", ids, T0 + 61)) == 1


# Stats, purge, garbage


async def test_stats_count_live_messages(store: Store) -> None:
    assert (await store.queue_stats(P, "missing", T0)).total == 0
    ids = await post(store, "q", 1, 2, 3, ttl=100)
    await post(store, "q", "delayed", delay=50, ttl=100, now=T0 + 10)
    await store.create_claim(P, "q", claim(limit=2, ttl=60), T0 + 10)
    stats = await store.queue_stats(P, "q", T0 + 20)
    assert (stats.total, stats.claimed, stats.delayed) == (4, 2, 1)
    assert stats.oldest is not None and stats.oldest.id == ids[0]
    assert stats.oldest.created == T0
    assert stats.newest is not None and stats.newest.created == T0 + 10
    assert (await store.queue_stats(P, "q", T0 + 59.5)).delayed == 1
    # Due at T0 + 60: from then on the message is free, claimable by anyone.
    assert (await store.queue_stats(P, "q", T0 + 60)).delayed == 0
    later = await store.queue_stats(P, "q", T0 + 100)
    assert (later.total, later.claimed, later.delayed) == (1, 0, 0)


async def test_purge_removes_claimed_messages_too(store: Store) -> None:
    await post(store, "q", 1, 2)
    made = await store.create_claim(P, "q", claim(limit=1), T0)
    assert made is not None
    await store.purge_messages(P, "q")
    assert await store.list_messages(P, "q", everything(), T0) == []
    assert await store.get_claim(P, "q", made.id, T0) is None
    assert await store.queue_metadata(P, "q") == {}


async def test_garbage_collection_removes_expired_messages(store: Store) -> None:
    await post(store, "q", *range(5), ttl=60)
    await post(store, "q", "keeps", ttl=600)
    await store.create_claim(P, "q", claim(limit=1, ttl=60, grace=60), T0)
    assert await store.collect_garbage(T0 + 30) == 0
    gone = await store.collect_garbage(T0 + 200)
    assert gone >= 5
    assert bodies(await store.list_messages(P, "q", everything(), T0 + 200)) == ["keeps"]
    assert await store.ping() is True


# Wake-ups: `next_available` on every driver; `watch` on the drivers with the
# `wakeups` capability, heard in the same store and in another store on the
# same backend (another process or host).


# Long enough for any backend on a loaded machine; a wake-up comes in milliseconds.
HEARD_WITHIN = 10.0


def needs_wakeups(store: Store) -> None:
    if WAKEUPS not in store.capabilities:
        pytest.skip(f"{type(store).__name__} has no {WAKEUPS!r} capability")


class Ear:
    """A wake that counts the calls and lets a test wait for the next one."""

    def __init__(self) -> None:
        self.calls = 0
        self._heard = asyncio.Event()

    def __call__(self) -> None:
        self.calls += 1
        self._heard.set()

    async def next(self) -> None:
        await asyncio.wait_for(self._heard.wait(), HEARD_WITHIN)
        self._heard.clear()


async def test_next_available_is_the_next_due_time_of_a_delayed_message_or_claim(
    store: Store,
) -> None:
    assert await store.next_available(P, "missing", T0) is None
    await post(store, "q", "now")
    assert await store.next_available(P, "q", T0) is None
    await post(store, "q", "later", delay=90)
    assert await store.next_available(P, "q", T0) == T0 + 90
    made = await store.create_claim(P, "q", claim(limit=1, ttl=60), T0)
    assert made is not None
    assert await store.next_available(P, "q", T0) == T0 + 60
    # Once a time has passed it is no longer next.
    assert await store.next_available(P, "q", T0 + 60) == T0 + 90
    assert await store.next_available(P, "q", T0 + 90) is None
    await store.release_claim(P, "q", made.id, T0)
    assert await store.next_available(P, "q", T0) == T0 + 90


async def test_next_available_is_scoped_by_project_and_queue(store: Store) -> None:
    await post(store, "q", "later", delay=90)
    assert await store.next_available(P, "other", T0) is None
    assert await store.next_available("project-b", "q", T0) is None


async def test_a_watch_hears_posts_and_releases_of_its_own_store(store: Store) -> None:
    needs_wakeups(store)
    ear = Ear()
    await store.watch(P, "q", ear)
    try:
        await post(store, "q", 1)
        await ear.next()
        made = await store.create_claim(P, "q", claim(limit=1), T0)
        assert made is not None
        await store.release_claim(P, "q", made.id, T0)
        await ear.next()
    finally:
        await store.unwatch(P, "q")


async def test_a_watch_hears_posts_and_releases_of_another_store(
    peers: tuple[Store, Store],
) -> None:
    watching, writing = peers
    needs_wakeups(watching)
    ear = Ear()
    await watching.watch(P, "q", ear)
    try:
        await post(writing, "q", 1)
        await ear.next()
        made = await writing.create_claim(P, "q", claim(limit=1), T0)
        assert made is not None
        await writing.release_claim(P, "q", made.id, T0)
        await ear.next()
    finally:
        await watching.unwatch(P, "q")


async def test_a_watch_hears_messages_moved_into_its_queue(peers: tuple[Store, Store]) -> None:
    watching, writing = peers
    needs_wakeups(watching)
    await post(writing, "q", "poison")
    made = await writing.create_claim(P, "q", claim(limit=1), T0)
    assert made is not None
    ear = Ear()
    await watching.watch(P, "dead", ear)
    try:
        ids = [m.id for m in made.messages]
        assert await writing.move_messages(P, "q", made.id, ids, "dead", None, T0) == 1
        await ear.next()
    finally:
        await watching.unwatch(P, "dead")


async def test_watches_of_many_queues_each_hear_their_own(peers: tuple[Store, Store]) -> None:
    watching, writing = peers
    needs_wakeups(watching)
    ears = {name: Ear() for name in ("a", "b", "c")}
    for name, ear in ears.items():
        await watching.watch(P, name, ear)
    try:
        await post(writing, "b", 1)
        await ears["b"].next()
        # Whatever else was heard (a hint may come twice), "b" was, and a later
        # post to "c" reaches "c" after "b" stopped watching.
        await watching.unwatch(P, "b")
        await post(writing, "c", 1)
        await ears["c"].next()
    finally:
        for name in ("a", "c"):
            await watching.unwatch(P, name)


async def test_unwatch_of_a_queue_never_watched_is_no_error(store: Store) -> None:
    needs_wakeups(store)
    await store.unwatch(P, "never")


def needs_outbox_wakeups(store: Store) -> None:
    if OUTBOX_WAKEUPS not in store.capabilities:
        pytest.skip(f"{type(store).__name__} has no {OUTBOX_WAKEUPS!r} capability")


async def subscribe(store: Store, queue: str) -> None:
    sub = Subscription(
        id=f"sub-{queue}",
        project=P,
        source=queue,
        subscriber="http://hooks.example/in",
        options={},
        ttl=3600,
        renewed=T0,
        expires=T0 + 3600,
    )
    assert await store.create_subscription(sub, T0) == (sub, True)


async def test_an_outbox_watch_hears_posts_that_owe_deliveries_in_any_store(
    peers: tuple[Store, Store],
) -> None:
    watching, writing = peers
    needs_outbox_wakeups(watching)
    await subscribe(writing, "q")
    ear = Ear()
    await watching.watch_outbox(ear)
    try:
        await post(writing, "q", 1)
        await ear.next()
        await post(watching, "q", 2)
        await ear.next()
        # What woke the engine is there to lease.
        assert len(await watching.lease_deliveries(T0, 10, 30)) == 2
    finally:
        await watching.unwatch_outbox()


async def test_unwatch_outbox_never_watched_is_no_error(store: Store) -> None:
    needs_outbox_wakeups(store)
    await store.unwatch_outbox()
