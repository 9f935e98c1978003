"""Fixtures of the delivery suite: a real webhook receiver, and servers delivering to it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack

import pytest

from api_support import ServerFactory
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


@pytest.fixture
def delivering(
    tmp_path_factory: pytest.TempPathFactory, engine_clock: FakeClock
) -> Iterator[ServerFactory]:
    """Servers with these settings and a fast-polling engine, on the test's own clock."""
    with ExitStack() as stack:

        def start(**overrides: object) -> str:
            settings = make_settings(tmp_path_factory.mktemp("server"), **FAST, **overrides)
            return stack.enter_context(running_app(settings, engine_clock))

        yield start
