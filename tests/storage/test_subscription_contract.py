"""The subscription and outbox part of the storage contract, on every driver."""

from __future__ import annotations

import asyncio
from typing import NoReturn

import msgspec
import pytest

from herald.errors import Conflict, InvalidRequest
from herald.model import Delivery, NewMessage, Subscription
from herald.storage.base import Store

T0 = 1_800_000_000.0
P = "project-a"
CLIENT = "c0ffee00c0ffee00c0ffee00c0ffee00"
TOPICS = P + "\x1ftopics"


def subscription(
    sub_id: str,
    subscriber: str = "http://example.test/hook",
    *,
    project: str = P,
    source: str = "q",
    ttl: int = 3600,
    renewed: float = T0,
    options: dict[str, object] | None = None,
) -> Subscription:
    return Subscription(
        id=sub_id,
        project=project,
        source=source,
        subscriber=subscriber,
        options={"k": [1, "ü"]} if options is None else options,
        ttl=ttl,
        renewed=renewed,
        expires=renewed + ttl,
    )


async def subscribe(store: Store, *subs: Subscription, now: float = T0) -> None:
    for sub in subs:
        assert await store.create_subscription(sub, now) == (sub, True)


async def post(
    store: Store,
    queue: str,
    *bodies: object,
    ttl: int = 300,
    delay: int = 0,
    now: float = T0,
    project: str = P,
) -> list[str]:
    made = [NewMessage(msgspec.Raw(msgspec.json.encode(b)), ttl, delay) for b in bodies]
    return await store.post_messages(project, queue, lambda metadata: made, CLIENT, now)


async def everything_due(store: Store, now: float = T0 + 10_000) -> list[Delivery]:
    """Every pending delivery (leased for a long time, so call once per state)."""
    return await store.lease_deliveries(now, 10_000, 1.0)


def owed(deliveries: list[Delivery]) -> list[tuple[str, str]]:
    return [(d.subscription_id, d.message_id) for d in deliveries]


# Subscriptions


async def test_a_subscription_reads_back_as_stored(store: Store) -> None:
    sub = subscription("a1", options={"nested": {"x": [1, 2.5, None, True]}})
    await subscribe(store, sub)
    assert await store.get_subscription(P, "q", "a1", T0 + 1) == sub
    confirmed = msgspec.structs.replace(subscription("a2", "mailto:x@example.test"), confirmed=True)
    await subscribe(store, confirmed)
    assert await store.get_subscription(P, "q", "a2", T0) == confirmed
    # Scoped by project and source: the same id elsewhere is no match.
    assert await store.get_subscription(P, "other", "a1", T0) is None
    assert await store.get_subscription("project-b", "q", "a1", T0) is None
    assert await store.get_subscription(P, "q", "missing", T0) is None


async def test_a_live_subscriber_is_subscribed_once_per_source(store: Store) -> None:
    first = subscription("a1")
    await subscribe(store, first)
    again = subscription("b2", ttl=60)
    assert await store.create_subscription(again, T0 + 5) == (first, False)
    assert await store.get_subscription(P, "q", "b2", T0 + 5) is None
    # The same subscriber on another queue or project is another subscription.
    await subscribe(store, subscription("c3", source="other"), subscription("d4", project="pb"))
    # Once expired, it blocks nobody and is gone to reads.
    assert await store.get_subscription(P, "q", "a1", T0 + 3600) is None
    later = subscription("e5", renewed=T0 + 3600)
    assert await store.create_subscription(later, T0 + 3600) == (later, True)
    listed = await store.list_subscriptions(P, "q", marker=None, limit=10, now=T0 + 3600)
    assert listed == [later]


async def test_subscriptions_are_listed_by_id_after_an_exclusive_marker(store: Store) -> None:
    for n, sub_id in enumerate(["c", "a", "e", "b", "d"]):
        await subscribe(store, subscription(sub_id, f"http://h{n}.test/", ttl=100 + n))
    await subscribe(store, subscription("0", "http://other.test/", source="other"))
    first = await store.list_subscriptions(P, "q", marker=None, limit=2, now=T0)
    assert [s.id for s in first] == ["a", "b"]
    assert first[0].subscriber == "http://h1.test/" and first[0].ttl == 101
    rest = await store.list_subscriptions(P, "q", marker="b", limit=10, now=T0)
    assert [s.id for s in rest] == ["c", "d", "e"]
    assert await store.list_subscriptions(P, "q", marker="e", limit=10, now=T0) == []
    # Expired ones are left out, wherever they fall.
    live = await store.list_subscriptions(P, "q", marker=None, limit=10, now=T0 + 102)
    assert [s.id for s in live] == ["b", "d"]
    assert await store.list_subscriptions(P, "nothing", marker=None, limit=10, now=T0) == []


async def test_update_replaces_a_live_subscription(store: Store) -> None:
    await subscribe(store, subscription("a1"), subscription("b2", "http://b.test/"))

    def renew(old: Subscription) -> Subscription:
        # Id, project and source are the store's to keep.
        return msgspec.structs.replace(
            old,
            id="elsewhere",
            source="elsewhere",
            subscriber="http://new.test/",
            options={"n": 1},
            ttl=60,
            renewed=T0 + 10,
            expires=T0 + 70,
            confirmed=True,
        )

    updated = await store.update_subscription(P, "q", "a1", renew, T0 + 10)
    expected = Subscription(
        id="a1",
        project=P,
        source="q",
        subscriber="http://new.test/",
        options={"n": 1},
        ttl=60,
        renewed=T0 + 10,
        expires=T0 + 70,
        confirmed=True,
    )
    assert updated == expected
    assert await store.get_subscription(P, "q", "a1", T0 + 10) == expected
    # The old subscriber is free again; the new one is taken.
    fresh = subscription("c3")
    assert await store.create_subscription(fresh, T0 + 10) == (fresh, True)
    assert await store.get_subscription(P, "q", "a1", T0 + 70) is None
    assert await store.update_subscription(P, "q", "a1", renew, T0 + 70) is None
    assert await store.update_subscription(P, "q", "missing", renew, T0) is None
    assert await store.update_subscription(P, "other", "b2", renew, T0) is None


async def test_an_update_onto_another_live_subscriber_conflicts(store: Store) -> None:
    a = subscription("a1", "http://a.test/")
    b = subscription("b2", "http://b.test/", ttl=60)
    await subscribe(store, a, b)

    def take_b(old: Subscription) -> Subscription:
        return msgspec.structs.replace(old, subscriber="http://b.test/", ttl=7)

    with pytest.raises(Conflict):
        await store.update_subscription(P, "q", "a1", take_b, T0)
    assert await store.get_subscription(P, "q", "a1", T0) == a
    assert await store.get_subscription(P, "q", "b2", T0) == b
    # Keeping its own subscriber is no collision; an expired holder is none either.
    same = await store.update_subscription(P, "q", "b2", take_b, T0)
    assert same is not None and same.ttl == 7
    took = await store.update_subscription(P, "q", "a1", take_b, T0 + 61)
    assert took is not None and took.subscriber == "http://b.test/"
    live = await store.list_subscriptions(P, "q", marker=None, limit=10, now=T0 + 61)
    assert live == [took]


async def test_a_herald_error_from_the_change_propagates_and_changes_nothing(
    store: Store,
) -> None:
    a = subscription("a1")
    await subscribe(store, a)
    refusal = InvalidRequest("refused by the rules")

    def refuse(old: Subscription) -> NoReturn:
        raise refusal

    with pytest.raises(InvalidRequest) as raised:
        await store.update_subscription(P, "q", "a1", refuse, T0)
    assert raised.value is refusal
    assert await store.get_subscription(P, "q", "a1", T0) == a


async def test_concurrent_creates_of_one_subscriber_store_one(store: Store) -> None:
    made = await asyncio.gather(
        *(store.create_subscription(subscription(f"s{n:02}"), T0) for n in range(12))
    )
    assert [created for _, created in made].count(True) == 1
    (winner,) = [sub for sub, created in made if created]
    assert all(sub == winner for sub, _ in made)
    assert await store.list_subscriptions(P, "q", marker=None, limit=20, now=T0) == [winner]


async def test_delete_and_purge_take_pending_deliveries_with_them(store: Store) -> None:
    await subscribe(
        store,
        subscription("a1", "http://a.test/"),
        subscription("b2", "http://b.test/"),
        subscription("c3", "http://c.test/"),
        subscription("o1", "http://a.test/", source="other"),
    )
    (m,) = await post(store, "q", "m")
    (o,) = await post(store, "other", "o")
    await store.delete_subscription(P, "q", "a1")
    await store.delete_subscription(P, "q", "a1")
    await store.delete_subscription(P, "q", "missing")
    await store.delete_subscription(P, "other", "b2")
    assert await store.get_subscription(P, "q", "a1", T0) is None
    assert await store.get_subscription(P, "q", "b2", T0) is not None
    assert sorted(owed(await everything_due(store))) == [("b2", m), ("c3", m), ("o1", o)]
    await store.purge_subscriptions(P, "q")
    await store.purge_subscriptions(P, "nothing")
    assert await store.list_subscriptions(P, "q", marker=None, limit=10, now=T0) == []
    assert owed(await everything_due(store, T0 + 20_000)) == [("o1", o)]
    assert await store.count_deliveries(T0) == (1, T0)
    # Messages stay: only subscriptions and what is owed to them went.
    assert len(await store.get_messages(P, "q", [m], T0)) == 1


async def test_delete_queue_takes_its_subscriptions_and_deliveries(store: Store) -> None:
    await subscribe(store, subscription("a1"), subscription("o1", source="other"))
    await post(store, "q", "m")
    (o,) = await post(store, "other", "o")
    await store.delete_queue(P, "q")
    assert await store.get_subscription(P, "q", "a1", T0) is None
    assert owed(await everything_due(store)) == [("o1", o)]
    # A queue posted to again has no subscriptions from before.
    await post(store, "q", "again")
    assert await store.count_deliveries(T0) == (1, T0)
    assert await store.get_subscription(P, "other", "o1", T0) is not None


async def test_garbage_collection_removes_expired_subscriptions(store: Store) -> None:
    await subscribe(
        store, subscription("a1", "http://a.test/", ttl=60), subscription("b2", ttl=600)
    )
    (m,) = await post(store, "q", "m", ttl=3600)
    await store.collect_garbage(T0 + 30)
    assert len(await store.list_subscriptions(P, "q", marker=None, limit=10, now=T0)) == 2
    await store.collect_garbage(T0 + 100)
    # Gone for good, not merely hidden: an earlier clock no longer sees it.
    kept = await store.list_subscriptions(P, "q", marker=None, limit=10, now=T0)
    assert [s.id for s in kept] == ["b2"]
    assert await store.get_subscription(P, "q", "a1", T0) is None
    assert owed(await everything_due(store)) == [("b2", m)]


async def test_a_shadow_project_id_keeps_its_own_queues_and_subscriptions(store: Store) -> None:
    # The service keeps topics as the queues of a project id no client can send.
    await store.create_queue(TOPICS, "t", {"kind": "topic"})
    await subscribe(store, subscription("a1", project=TOPICS, source="t"))
    (m,) = await post(store, "t", "news", project=TOPICS)
    await post(store, "t", "plain queue", project=P)
    assert await store.queue_metadata(TOPICS, "t") == {"kind": "topic"}
    assert await store.queue_metadata(P, "t") == {}
    assert [q.name for q in await store.list_queues(TOPICS, marker=None, limit=10)] == ["t"]
    assert await store.count_queues(TOPICS) == 1
    assert await store.get_subscription(P, "t", "a1", T0) is None
    assert len(await store.list_subscriptions(TOPICS, "t", marker=None, limit=5, now=T0)) == 1
    (delivery,) = await everything_due(store)
    assert (delivery.project, delivery.source, delivery.message_id) == (TOPICS, "t", m)
    await store.delete_queue(TOPICS, "t")
    assert await store.queue_metadata(P, "t") == {}
    assert await store.count_queues(TOPICS) == 0


# The outbox


async def test_a_post_owes_each_message_to_each_live_subscription(store: Store) -> None:
    await subscribe(
        store,
        subscription("a1", "http://a.test/"),
        subscription("b2", "http://b.test/"),
        subscription("x9", "http://gone.test/", ttl=5),
        subscription("o1", "http://a.test/", source="other"),
    )
    ids = await post(store, "q", {"n": 1}, "two", ttl=120, now=T0 + 5)
    deliveries = await everything_due(store)
    assert sorted(owed(deliveries)) == sorted((s, m) for s in ("a1", "b2") for m in ids)
    first = next(d for d in deliveries if d.message_id == ids[0] and d.subscription_id == "a1")
    assert (first.project, first.source, first.ttl, first.posted) == (P, "q", 120, T0 + 5)
    assert msgspec.json.decode(first.body) == {"n": 1}
    assert first.attempts == 0
    assert len({d.id for d in deliveries}) == 4


async def test_a_post_to_a_queue_without_subscriptions_owes_nothing(store: Store) -> None:
    await subscribe(store, subscription("o1", source="other"), subscription("p1", project="pb"))
    await post(store, "q", "m")
    assert await store.count_deliveries(T0) == (0, None)
    assert await store.lease_deliveries(T0, 10, 30) == []


async def test_a_refused_post_owes_nothing(store: Store) -> None:
    await subscribe(store, subscription("a1"))

    def refuse(metadata: object) -> list[NewMessage]:
        raise InvalidRequest("too big")

    with pytest.raises(InvalidRequest):
        await store.post_messages(P, "q", refuse, CLIENT, T0)
    assert await store.count_deliveries(T0) == (0, None)
    (m,) = await post(store, "q", "kept")
    assert owed(await everything_due(store)) == [("a1", m)]


async def test_a_delayed_message_is_due_when_its_delay_ends(store: Store) -> None:
    await subscribe(store, subscription("a1"))
    (later,) = await post(store, "q", "later", delay=30)
    (now,) = await post(store, "q", "now", now=T0 + 1)
    (due,) = await store.lease_deliveries(T0 + 29, 10, 1000)
    assert due.message_id == now
    (delayed,) = await store.lease_deliveries(T0 + 30, 10, 1000)
    assert delayed.message_id == later and delayed.posted == T0


# Leases


async def test_leases_go_by_due_then_id_and_exclude_others_until_they_lapse(
    store: Store,
) -> None:
    await subscribe(store, subscription("a1"))
    # More than nine, so that ids ordered as text would show.
    ids = await post(store, "q", *range(12))
    (delayed,) = await post(store, "q", "d", delay=5, now=T0 - 10)
    first = await store.lease_deliveries(T0, 2, 30)
    assert [d.message_id for d in first] == [delayed, ids[0]]
    assert all(d.due == T0 + 30 for d in first)
    second = await store.lease_deliveries(T0 + 1, 20, 30)
    assert [d.message_id for d in second] == ids[1:]
    assert await store.lease_deliveries(T0 + 29, 10, 30) == []
    # A lease that lapses hands the deliveries out again; due alike, they go
    # in the order they were written.
    again = await store.lease_deliveries(T0 + 30, 10, 30)
    assert [d.message_id for d in again] == [ids[0], delayed]
    assert [d.id for d in again] == [first[1].id, first[0].id]
    assert (await store.count_deliveries(T0 + 30))[0] == 13


async def test_concurrent_leasers_never_share_a_delivery(store: Store) -> None:
    await subscribe(store, subscription("a1"), subscription("b2", "http://b.test/"))
    await post(store, "q", *range(50))
    leases = await asyncio.gather(*(store.lease_deliveries(T0, 7, 60) for _ in range(20)))
    taken = [d.id for lease in leases for d in lease]
    assert len(taken) == 100 and len(set(taken)) == 100


async def test_retry_records_attempts_and_finish_removes(store: Store) -> None:
    await subscribe(store, subscription("a1"))
    ids = await post(store, "q", "a", "b")
    a, b = await store.lease_deliveries(T0, 10, 30)
    await store.retry_delivery(a.id, 1, T0 + 100)
    await store.finish_delivery(b.id)
    await store.finish_delivery(b.id)
    await store.retry_delivery(b.id, 3, T0)
    await store.finish_delivery("no-such-delivery")
    await store.retry_delivery("no-such-delivery", 1, T0)
    assert await store.lease_deliveries(T0 + 99, 10, 30) == []
    (retried,) = await store.lease_deliveries(T0 + 100, 10, 30)
    assert retried.id == a.id and retried.message_id == ids[0]
    assert (retried.attempts, retried.due) == (1, T0 + 130)
    assert await store.count_deliveries(T0 + 100) == (1, T0)
    await store.finish_delivery(a.id)
    assert await store.count_deliveries(T0 + 100) == (0, None)


async def test_finish_deliveries_removes_them_all_in_one_call(store: Store) -> None:
    await subscribe(store, subscription("a1"), subscription("b2", "http://b.test/"))
    await post(store, "q", "a", "b", "c")
    leased = await store.lease_deliveries(T0, 10, 30)
    assert len(leased) == 6
    kept = leased.pop()
    # Ids already gone, or that cannot name a delivery, are no error.
    await store.finish_deliveries([leased[0].id, *(d.id for d in leased), "no-such-delivery"])
    await store.finish_deliveries([])
    assert await store.count_deliveries(T0) == (1, T0)
    (again,) = await store.lease_deliveries(T0 + 30, 10, 30)
    assert again.id == kept.id


async def test_count_tells_how_many_are_pending_and_the_oldest_post(store: Store) -> None:
    assert await store.count_deliveries(T0) == (0, None)
    await subscribe(store, subscription("a1"), subscription("b2", "http://b.test/"))
    await post(store, "q", "old", now=T0 + 2.5)
    await post(store, "q", "new", now=T0 + 7)
    assert await store.count_deliveries(T0 + 8) == (4, T0 + 2.5)
    leased = await store.lease_deliveries(T0 + 8, 2, 60)
    # Leased ones are still pending.
    assert await store.count_deliveries(T0 + 8) == (4, T0 + 2.5)
    for d in leased:
        await store.finish_delivery(d.id)
    assert await store.count_deliveries(T0 + 8) == (2, T0 + 7)


async def test_purging_messages_leaves_what_their_posts_owe(store: Store) -> None:
    await subscribe(store, subscription("a1"))
    (m,) = await post(store, "q", "kept in the outbox")
    await store.purge_messages(P, "q")
    assert await store.get_messages(P, "q", [m], T0) == []
    (delivery,) = await everything_due(store)
    assert delivery.message_id == m
    assert msgspec.json.decode(delivery.body) == "kept in the outbox"
    assert await store.get_subscription(P, "q", "a1", T0) is not None
