"""Which Redis failures a client may retry, and how they reach the client."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from redis import exceptions as redis_errors

from herald.errors import StoreUnavailable

# Replies Redis gives while it cannot serve for now (those redis-py has no
# class for are told by their code); any other error reply is a bug.
_TRANSIENT_ERRORS = (
    redis_errors.OutOfMemoryError,
    redis_errors.ReadOnlyError,
    redis_errors.TryAgainError,
    redis_errors.ClusterDownError,
)
_TRANSIENT_CODES = ("MISCONF", "BUSY", "NOREPLICAS")
# What clients are told; the address and Redis's own words are for the log.
_PUBLIC = "The Redis store is unavailable right now; please try again in a few seconds."


@contextmanager
def guard(where: str) -> Iterator[None]:
    """Turn an unreachable or unwilling Redis into a 503 the client may retry."""
    try:
        yield
    except (redis_errors.ConnectionError, redis_errors.TimeoutError, OSError) as exc:
        raise StoreUnavailable(
            f"The Redis store at {where} cannot be reached: {exc}", public=_PUBLIC
        ) from exc
    except redis_errors.ResponseError as exc:
        transient = isinstance(exc, _TRANSIENT_ERRORS)
        if not transient and str(exc).split(" ", 1)[0] not in _TRANSIENT_CODES:
            raise
        raise StoreUnavailable(
            f"The Redis store at {where} refused the request: {exc}", public=_PUBLIC
        ) from exc


def not_open(where: str) -> StoreUnavailable:
    """The error of a request made before the store was opened or after it was closed."""
    return StoreUnavailable(f"The Redis store at {where} is not open.", public=_PUBLIC)
