"""`store_uri`: the real-server suites run once per backend."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from backends import postgres_store_uri, redis_store_uri


@pytest.fixture(params=["sqlite", "redis", "postgres"])
def store_uri(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    name = f"herald_test_{uuid.uuid4().hex[:10]}"
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'herald.sqlite3'}"
    elif request.param == "redis":
        yield from redis_store_uri(name)
    else:
        yield from postgres_store_uri(name)
