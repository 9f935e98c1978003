"""Fixtures of the HTTP behaviour suite: servers with settings of their own."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack

import pytest

from api_support import ServerFactory
from support import FakeClock, make_settings, running_app


@pytest.fixture(scope="session")
def make_server(
    tmp_path_factory: pytest.TempPathFactory, clock: FakeClock
) -> Iterator[ServerFactory]:
    """The base URL of a real server with these settings overridden, on the session clock.

    Servers are started on first use and shared by the session; tests keep
    apart by project, as on the default server."""
    servers: dict[tuple[tuple[str, object], ...], str] = {}
    with ExitStack() as stack:

        def start(**overrides: object) -> str:
            key = tuple(sorted(overrides.items()))
            if key not in servers:
                directory = tmp_path_factory.mktemp("server")
                settings = make_settings(directory, **overrides)
                servers[key] = stack.enter_context(running_app(settings, clock))
            return servers[key]

        yield start
