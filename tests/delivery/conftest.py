"""Fixtures of the delivery suite: a real webhook receiver, and servers delivering to it."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest

from api_support import ServerFactory
from backends import postgres_store_uri, redis_store_uri
from support import FakeClock, make_settings, running_app
from webhook_receiver import Receiver, webhook_receiver

# Engines look at the outbox often, so that tests wait on deliveries, not on polls.
FAST = {"notifications_poll_interval": 0.02, "notifications_webhook_timeout": 5.0}


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with webhook_receiver() as found:
        yield found


@pytest.fixture
def engine_clock() -> FakeClock:
    return FakeClock()


@pytest.fixture(params=["sqlite", "redis", "postgres"])
def store_uri(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """Every delivery test runs on every backend."""
    name = f"herald_test_{uuid.uuid4().hex[:10]}"
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'herald.sqlite3'}"
    elif request.param == "redis":
        yield from redis_store_uri(name)
    else:
        yield from postgres_store_uri(name)


@pytest.fixture
def delivering(tmp_path: Path, store_uri: str, engine_clock: FakeClock) -> Iterator[ServerFactory]:
    """A server on the test's store with these settings and a fast-polling engine, on the
    test's own clock."""
    with ExitStack() as stack:

        def start(**overrides: object) -> str:
            settings = make_settings(tmp_path, **FAST, store=store_uri, **overrides)
            return stack.enter_context(running_app(settings, engine_clock))

        yield start
