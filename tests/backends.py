"""Where the test suites find the Redis and PostgreSQL servers, and what to do without them.

Locally an unreachable backend skips its tests with a hint on how to start
it; with HERALD_REQUIRE_BACKENDS=1 (set by .ci/run) it fails them instead.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

REDIS_URL = os.environ.get("HERALD_TEST_REDIS", "redis://127.0.0.1:6379/0")
POSTGRES_URL = os.environ.get("HERALD_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")


def backend_unreachable(what: str, hint: str) -> None:
    """Skip locally, fail in CI: a silently skipped backend is not a tested one."""
    message = f"{what} is not reachable; {hint}"
    if os.environ.get("HERALD_REQUIRE_BACKENDS") == "1":
        pytest.fail(message)
    pytest.skip(message)


def redis_store_uri(name: str) -> Iterator[str]:
    """A Redis store URI under a key prefix of its own; removes its keys afterwards."""
    backend_unreachable("the Redis driver", "it is not written yet")
    yield ""


def postgres_store_uri(name: str) -> Iterator[str]:
    """A PostgreSQL store URI on a database of its own; drops it afterwards."""
    backend_unreachable("the PostgreSQL driver", "it is not written yet")
    yield ""
