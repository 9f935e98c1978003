"""Which failures mean PostgreSQL is out of reach, and the 503 each comes to."""

from __future__ import annotations

import asyncpg  # type: ignore[import-untyped]

from herald.errors import StoreUnavailable
from herald.storage.postgres.options import PostgresOptions

# Failures that say the server is gone, refusing, shutting down or out of
# resources: a later retry may well succeed, so they become 503s.
SERVER_GONE = (
    asyncpg.PostgresConnectionError,  # class 08
    asyncpg.exceptions.OperatorInterventionError,  # class 57: shutdown, cancel, timeout
    asyncpg.exceptions.InsufficientResourcesError,  # class 53: too many connections, disk
    asyncpg.exceptions.ReadOnlySQLTransactionError,  # a standby after a failover
    asyncpg.exceptions.IdleInTransactionSessionTimeoutError,
)


# What clients are told; the server's address and its own words are for the log.
PUBLIC = "The PostgreSQL store is unavailable right now; please try again in a few seconds."


class LostBeforeSending(StoreUnavailable):
    """The connection was found broken before the operation reached the server."""


def unavailable_reason(exc: BaseException) -> str | None:
    """Why `exc` means the server is out of reach, or None for any other failure."""
    if isinstance(exc, TimeoutError):
        return "it did not answer in time"
    if isinstance(exc, ConnectionRefusedError):
        return "the connection was refused"
    if isinstance(exc, OSError):
        return f"{exc.strerror or exc.__class__.__name__}"
    if isinstance(exc, SERVER_GONE):
        return f"{exc.__class__.__name__} ({getattr(exc, 'sqlstate', '?')}): {exc}"
    if isinstance(exc, asyncpg.InterfaceError) and ("closed" in str(exc) or "closing" in str(exc)):
        return f"the connection was lost ({exc})"
    if isinstance(exc, asyncpg.exceptions.InternalClientError):
        # asyncpg's protocol can be left in this state when the server ends an
        # idle session (pg_terminate_backend, admin shutdown) under it.
        return f"the connection broke ({exc})"
    return None


def failed_before_sending(exc: BaseException) -> bool:
    """Whether asyncpg refused the operation before writing anything to the server."""
    return isinstance(exc, asyncpg.InterfaceError | asyncpg.exceptions.InternalClientError)


def as_unavailable(
    exc: BaseException, options: PostgresOptions, *, acquired: bool
) -> StoreUnavailable | None:
    """The 503 a failure while getting (or, once `acquired`, using) a pooled
    connection comes to; None when it does not mean the server is out of reach."""
    reason = unavailable_reason(exc)
    if reason is None and not acquired and isinstance(exc, asyncpg.PostgresError):
        # Refused while connecting (the database was dropped, the login
        # no longer works): the backend is out of reach, not Herald broken.
        reason = f"{exc.__class__.__name__}: {exc}"
    if reason is None:
        return None
    if not acquired and isinstance(exc, TimeoutError):
        reason = (
            f"no connection became free within {options.acquire_timeout:g} s "
            f"(pool of {options.max_size})"
        )
    unsent = acquired and failed_before_sending(exc)
    return (LostBeforeSending if unsent else StoreUnavailable)(
        f"PostgreSQL at {options.target} is unavailable: {reason}. Retry later.", public=PUBLIC
    )
