"""Readiness asks the store at most once per `ready_cache_seconds`, however many probes
come at once; the outage watch logs an outage once as it begins and once as it ends."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from herald.errors import InvalidRequest, NotFound, StoreUnavailable
from herald.model import Limits
from herald.service import Events, Service, StoreWatch
from herald.storage.sqlite.store import SQLiteStore
from support import FakeClock


class CountedPings(SQLiteStore):
    """A real SQLite store that counts its pings and can be told to fail them."""

    def __init__(self, path: str) -> None:
        super().__init__(path)
        self.pings = 0
        self.failing = False

    async def ping(self) -> bool:
        self.pings += 1
        await asyncio.sleep(0.01)  # so that concurrent probes overlap the ping
        return not self.failing and await super().ping()


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[CountedPings]:
    store = CountedPings(str(tmp_path / "herald.sqlite3"))
    await store.open()
    try:
        yield store
    finally:
        await store.close()


async def test_a_storm_of_probes_pings_the_store_once_per_window(store: CountedPings) -> None:
    monotonic = FakeClock(start=100.0)
    service = Service(store, Limits(), ready_cache_seconds=1.0)
    service.readiness._monotonic = monotonic
    answers = await asyncio.gather(*(service.readiness.ready() for _ in range(200)))
    assert answers == [True] * 200
    assert store.pings == 1
    monotonic.advance(0.999)
    assert await service.readiness.ready()
    assert store.pings == 1
    monotonic.advance(0.002)
    store.failing = True
    assert not await service.readiness.ready()
    assert store.pings == 2
    assert service.watch.down


async def test_no_cache_pings_every_time(store: CountedPings) -> None:
    service = Service(store, Limits(), ready_cache_seconds=0)
    for _ in range(3):
        assert await service.readiness.ready()
    assert store.pings == 3


class Outages(Events):
    def __init__(self) -> None:
        self.failures = 0
        self.changes: list[bool] = []

    def store_failed(self) -> None:
        self.failures += 1

    def store_outage(self, down: bool) -> None:
        self.changes.append(down)


def test_an_outage_is_logged_and_counted_once_each_way(caplog: pytest.LogCaptureFixture) -> None:
    events = Outages()
    clock = FakeClock(start=0.0)
    watch = StoreWatch(events, clock)
    watch.answered()
    with caplog.at_level(logging.INFO, logger="herald"):
        for _ in range(10):
            watch.failed(StoreUnavailable("The Redis store at 10.0.0.9:6379/0 cannot be reached"))
        clock.advance(12.5)
        watch.answered()
        watch.answered()
    assert events.failures == 10
    assert events.changes == [True, False]
    assert [r.getMessage() for r in caplog.records] == [
        "store outage began: The Redis store at 10.0.0.9:6379/0 cannot be reached; "
        "answering 503 until the store answers again",
        "store outage ended: the store answers again after 12.5 s",
    ]


def test_a_transport_error_starts_an_outage_only_when_it_says_the_store_is_down() -> None:
    events = Outages()
    watch = StoreWatch(events, FakeClock(start=0.0))
    for error in (NotFound("Queue q does not exist."), InvalidRequest("limit must be 1 to 20.")):
        watch.saw(error)
    assert (events.failures, events.changes, watch.down) == (0, [], False)
    watch.saw(StoreUnavailable("The store cannot be reached"))
    assert (events.failures, events.changes, watch.down) == (1, [True], True)
