"""The driver contract every storage backend implements.

Every method that depends on time takes `now` (seconds since the epoch) from
the caller; drivers never read a clock for semantics.
"""

from __future__ import annotations

import abc
import enum
import re
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from herald.model import (
    Claim,
    ClaimRequest,
    MessageQuery,
    NewMessage,
    QueueEntry,
    QueueStats,
    StoredMessage,
)

Prepare = Callable[[dict[str, Any]], list[NewMessage]]
"""Makes the messages of a post from the queue's metadata (the service's rules)."""

Plan = Callable[[dict[str, Any]], ClaimRequest]
"""Makes a claim request from the queue's metadata (the service's rules)."""


class QueueFilter:
    """A queue listing's conditions, applied alike by every driver."""

    def __init__(self, name_pattern: str | None, filters: dict[str, Any] | None) -> None:
        self._pattern = re.compile(name_pattern) if name_pattern else None
        self._filters = filters or {}

    @property
    def selective(self) -> bool:
        """Whether any queue can fail the conditions."""
        return self._pattern is not None or bool(self._filters)

    def accepts_name(self, name: str) -> bool:
        return self._pattern is None or self._pattern.search(name) is not None

    def accepts_metadata(self, metadata: dict[str, Any]) -> bool:
        return all(metadata.get(k) == v for k, v in self._filters.items())


class DeleteOutcome(enum.Enum):
    """What deleting one message, maybe with a claim id, came to."""

    DELETED = "deleted"
    MISSING = "missing"
    CLAIMED = "claimed"  # under a live claim and no claim id was given
    CLAIM_GONE = "claim_gone"  # the given claim id is unknown or expired
    NOT_CLAIMED = "not_claimed"  # a claim id was given, the message is free
    CLAIMED_BY_OTHER = "claimed_by_other"


def delete_verdict(
    live_claim: str | None, given_claim: str | None, given_claim_is_live: bool
) -> DeleteOutcome:
    """Decide a single-message delete from the message's live claim and the caller's."""
    if given_claim is None:
        return DeleteOutcome.CLAIMED if live_claim else DeleteOutcome.DELETED
    if not given_claim_is_live:
        return DeleteOutcome.CLAIM_GONE
    if live_claim is None:
        return DeleteOutcome.NOT_CLAIMED
    if live_claim != given_claim:
        return DeleteOutcome.CLAIMED_BY_OTHER
    return DeleteOutcome.DELETED


class Store(abc.ABC):
    """A backend holding queues, messages and claims for every project."""

    @abc.abstractmethod
    async def open(self) -> None:
        """Connect and bring the schema up to date."""

    @abc.abstractmethod
    async def close(self) -> None:
        """Finish pending work and release connections."""

    @abc.abstractmethod
    async def ping(self) -> bool:
        """Tell whether the backend answers."""

    # Queues

    @abc.abstractmethod
    async def create_queue(self, project: str, name: str, metadata: dict[str, Any]) -> bool:
        """Create a queue; False, and no change, when it exists already."""

    @abc.abstractmethod
    async def queue_metadata(self, project: str, name: str) -> dict[str, Any] | None:
        """The queue's stored metadata, or None when there is no such queue."""

    @abc.abstractmethod
    async def update_queue_metadata(
        self, project: str, name: str, change: Callable[[dict[str, Any]], dict[str, Any]]
    ) -> dict[str, Any] | None:
        """Replace an existing queue's metadata by `change(old)`, atomically.

        If `change` raises, nothing changes and the error propagates. None when
        the queue does not exist."""

    @abc.abstractmethod
    async def delete_queue(self, project: str, name: str) -> None:
        """Remove a queue with its messages and claims; no error if missing."""

    @abc.abstractmethod
    async def list_queues(
        self,
        project: str,
        *,
        marker: str | None,
        limit: int,
        name_pattern: str | None = None,
        filters: dict[str, Any] | None = None,
    ) -> list[QueueEntry]:
        """Queues after `marker` by name; `name_pattern` is a regex searched in
        the name and `filters` must equal metadata values."""

    @abc.abstractmethod
    async def count_queues(self, project: str) -> int:
        """How many queues the project has."""

    @abc.abstractmethod
    async def queue_stats(self, project: str, name: str, now: float) -> QueueStats:
        """Counts of unexpired messages, and the oldest and newest of them."""

    @abc.abstractmethod
    async def purge_messages(self, project: str, name: str) -> None:
        """Remove every message and claim of the queue, claimed or not."""

    # Messages

    @abc.abstractmethod
    async def post_messages(
        self,
        project: str,
        queue: str,
        prepare: Prepare,
        client_id: str,
        now: float,
    ) -> list[str]:
        """Store, in order, the messages `prepare(metadata)` makes; their ids.

        `prepare` gets the queue's metadata (`{}` for a queue that does not
        exist yet, which is then created); if it raises, nothing is stored and
        the error propagates. The call returns only once the messages are as
        durable as the backend is configured to make them."""

    @abc.abstractmethod
    async def list_messages(
        self, project: str, queue: str, query: MessageQuery, now: float
    ) -> list[StoredMessage]:
        """Unexpired messages after the marker, oldest first, filtered by the query."""

    @abc.abstractmethod
    async def get_messages(
        self, project: str, queue: str, ids: list[str], now: float
    ) -> list[StoredMessage]:
        """The unexpired messages among `ids`, in the order asked; unknown ids skipped."""

    @abc.abstractmethod
    async def delete_messages(
        self,
        project: str,
        queue: str,
        ids: list[str],
        claim_ids: list[str] | None,
        now: float,
    ) -> None:
        """Delete the given messages; with `claim_ids`, only those held by one of
        those live claims."""

    @abc.abstractmethod
    async def delete_message(
        self, project: str, queue: str, message_id: str, claim_id: str | None, now: float
    ) -> DeleteOutcome:
        """Delete one message if `delete_verdict` allows it, atomically."""

    @abc.abstractmethod
    async def pop_messages(
        self, project: str, queue: str, limit: int, now: float
    ) -> list[StoredMessage]:
        """Remove and return up to `limit` of the oldest claimable messages."""

    # Claims

    @abc.abstractmethod
    async def create_claim(self, project: str, queue: str, plan: Plan, now: float) -> Claim | None:
        """Claim up to `limit` of the oldest claimable messages, oldest first.

        `plan(metadata)` gives the claim's limit, ttl, grace and dead-letter
        rule from the queue's metadata; for a queue that does not exist it is
        not called and the answer is None.

        A claimable message is unexpired, due (its delay has passed) and not
        under a live claim. Each claimed message whose expiry comes before the
        claim's is extended to outlive it by `grace`. With a dead-letter rule,
        a message already claimed `max_claim_count` times moves to the tail of
        the dead-letter queue (created if missing) instead of being claimed.
        None when nothing was claimed."""

    @abc.abstractmethod
    async def get_claim(self, project: str, queue: str, claim_id: str, now: float) -> Claim | None:
        """The live claim with its unexpired messages, or None."""

    @abc.abstractmethod
    async def renew_claim(
        self, project: str, queue: str, claim_id: str, ttl: int, grace: int, now: float
    ) -> bool:
        """Restart a live claim's ttl from `now` with the grace rule; False if gone."""

    @abc.abstractmethod
    async def release_claim(self, project: str, queue: str, claim_id: str, now: float) -> None:
        """End a claim; its messages become claimable at once."""

    # Housekeeping

    @abc.abstractmethod
    async def collect_garbage(self, now: float) -> int:
        """Remove expired messages and claims; how many rows went."""


def open_store(uri: str, *, durability: str = "full") -> Store:
    """Build (but do not open) the driver a store URI names."""
    scheme = urlsplit(uri).scheme
    if scheme == "sqlite":
        from herald.storage.sqlite import SQLiteStore

        return SQLiteStore.from_uri(uri, durability=durability)
    if scheme in ("redis", "rediss"):
        from herald.storage.redis import RedisStore

        return RedisStore.from_uri(uri, durability=durability)
    if scheme in ("postgresql", "postgres"):
        from herald.storage.postgres import PostgresStore

        return PostgresStore.from_uri(uri, durability=durability)
    raise ValueError(
        f"unsupported store URI {uri!r}: expected sqlite:///PATH, "
        "redis://HOST:PORT/DB or postgresql://USER@HOST:PORT/DB"
    )
