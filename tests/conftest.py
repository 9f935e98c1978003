"""Fixtures every suite may use: a shared in-process server with a fake clock."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from herald.config import load_settings
from support import FakeClock, headers, running_app


@pytest.fixture(scope="session")
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture(scope="session")
def server_url(tmp_path_factory: pytest.TempPathFactory, clock: FakeClock) -> Iterator[str]:
    """One Herald on SQLite for the session; tests keep apart by project."""
    path = tmp_path_factory.mktemp("api") / "herald.sqlite3"
    settings = load_settings(environ={}, overrides={"store": f"sqlite:///{path}"})
    with running_app(settings, clock) as url:
        yield url


@pytest.fixture
def api(server_url: str) -> Iterator[httpx.Client]:
    """A client of the shared server, in a project of its own."""
    with httpx.Client(base_url=server_url, headers=headers(), timeout=30) as client:
        yield client
