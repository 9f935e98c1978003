"""The wake-ups of the storage contract: `next_available` on every driver, and `watch`
on the drivers with the `wakeups` capability, heard in the same store and in another
store on the same backend (another process or host)."""

from __future__ import annotations

import asyncio

import pytest
from test_contract import T0, P, claim, post

from herald.storage.base import WAKEUPS, Store

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
