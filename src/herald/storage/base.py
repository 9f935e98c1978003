"""The driver contract every storage backend implements.

Every method that depends on time takes `now` (seconds since the epoch) from
the caller; drivers never read a clock for semantics.

The callbacks a driver is handed (`Prepare`, `Plan`, and the `change` of a
metadata update) are the service's rules. They are pure: a driver may call one
more than once (for example again after a conflict, on fresher metadata), and
when one raises a `HeraldError` the driver stores nothing and lets that error
propagate unchanged.
"""

from __future__ import annotations

import abc
import enum
from collections.abc import Callable, Sequence
from typing import Any

import msgspec

from herald.model import (
    ApiKeyRecord,
    Claim,
    ClaimRequest,
    Delivery,
    MessageQuery,
    NewMessage,
    QueueEntry,
    QueueStats,
    StoredMessage,
    Subscription,
)

Prepare = Callable[[dict[str, Any]], list[NewMessage]]
"""Makes the messages of a post from the queue's metadata (the service's rules)."""

Plan = Callable[[dict[str, Any]], ClaimRequest]
"""Makes a claim request from the queue's metadata (the service's rules)."""

Wake = Callable[[], None]
"""Told, on the event loop, that messages may have become available in a watched queue."""

WAKEUPS = "wakeups"
"""The capability of a store that can `watch` queues: it tells waiters, in any process
on any host, soon after a commit may have made a message available."""

OUTBOX_WAKEUPS = "outbox_wakeups"
"""The capability of a store that can `watch_outbox`: it tells the delivery engine, in any
process on any host, soon after a post that wrote deliveries commits."""


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


class SchemaTooNew(RuntimeError):
    """The store's schema was migrated by a newer Herald than this one."""


class SchemaVersion(msgspec.Struct, frozen=True):
    """A store's schema version as found, and the one this code migrates it to."""

    current: int
    latest: int


class Store(abc.ABC):
    """A backend holding queues, messages and claims for every project."""

    durability: str | None = None
    """The durability Herald asks of the backend; None where the backend's own settings decide."""

    capabilities: frozenset[str] = frozenset()
    """What this driver can do beyond the contract every driver keeps (`WAKEUPS`, ...)."""

    @abc.abstractmethod
    async def open(self) -> None:
        """Connect and bring the schema up to date."""

    async def schema_version(self) -> SchemaVersion | None:
        """The schema version found, read without opening the store (which migrates);
        None for a backend whose layout carries no version. Fails if unreachable."""
        return None

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
        """Remove a queue with its messages, claims, subscriptions and their pending
        deliveries; no error if missing."""

    @abc.abstractmethod
    async def list_queues(
        self,
        project: str,
        *,
        marker: str | None,
        limit: int,
        prefix: str = "",
    ) -> list[QueueEntry]:
        """Up to `limit` queues whose names come after `marker` and start with
        `prefix`, by name; a store with an index on names seeks, never scans."""

    @abc.abstractmethod
    async def count_queues(self, project: str) -> int:
        """How many queues the project has."""

    @abc.abstractmethod
    async def queue_stats(self, project: str, name: str, now: float) -> QueueStats:
        """Counts of unexpired messages (all, claimed, delayed: not due by `now`), and the
        oldest and newest of them."""

    @abc.abstractmethod
    async def purge_messages(self, project: str, name: str) -> None:
        """Remove every message and claim of the queue, claimed or not; deliveries its
        posts already owe stay in the outbox."""

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
        durable as the backend is configured to make them.

        In the same commit it writes the outbox: one `Delivery` per message and
        live subscription of the queue at `now`, with no attempts yet and due
        when the message is (at `now`, or when its delay ends)."""

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

        `plan(metadata)` gives the claim's limit, ttl, grace and maximum claim
        count from the queue's metadata; for a queue that does not exist it is
        not called and the answer is None.

        A claimable message is unexpired, due (its delay has passed) and not
        under a live claim. Each claimed message whose expiry comes before the
        claim's is extended to outlive it by `grace`. With a maximum claim
        count, a claimable message already claimed that many times does not
        count towards `limit`: the claim takes it too, in `Claim.exhausted`,
        for the service to move elsewhere. None when nothing was claimed."""

    @abc.abstractmethod
    async def move_messages(
        self,
        project: str,
        queue: str,
        claim_id: str,
        ids: list[str],
        target: str,
        ttl: int | None,
        now: float,
    ) -> int:
        """Move the messages among `ids` that the live claim `claim_id` holds to
        the tail of the project's queue `target` (created if missing), atomically;
        how many moved.

        A moved message keeps its body, client id and creation time, arrives
        unclaimed, due and never claimed, and lives `ttl` seconds from `now`
        (its own ttl when None)."""

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

    @abc.abstractmethod
    async def next_available(self, project: str, queue: str, now: float) -> float | None:
        """The earliest time after `now` at which a message of the queue that is not
        claimable now (delayed, or under a live claim) may become so; None if none will.

        Waiters sleep until then when nothing told them sooner; an early answer only
        costs them a read."""

    # Wake-ups: hints that a queue changed, never the data

    async def watch(self, project: str, queue: str, wake: Wake) -> None:
        """With `WAKEUPS`: from when this returns until `unwatch`, call `wake()` soon
        after any process commits a change that may make a message of the queue
        available (a post, a move into it, a released claim).

        One watch per queue at a time; a lost or extra call costs latency, never a
        message, because waiters read the store again."""
        raise NotImplementedError(f"{type(self).__name__} cannot watch queues")

    async def unwatch(self, project: str, queue: str) -> None:
        """Stop the watch of the queue; nothing happens if there is none."""
        raise NotImplementedError(f"{type(self).__name__} cannot watch queues")

    async def watch_outbox(self, wake: Wake) -> None:
        """With `OUTBOX_WAKEUPS`: from when this returns until `unwatch_outbox`, call
        `wake()` soon after any process commits a post that wrote deliveries.

        One outbox watch at a time; a lost or extra call costs latency, never a
        delivery, because the engine polls the outbox as well."""
        raise NotImplementedError(f"{type(self).__name__} cannot watch the outbox")

    async def unwatch_outbox(self) -> None:
        """Stop the outbox watch; nothing happens if there is none."""
        raise NotImplementedError(f"{type(self).__name__} cannot watch the outbox")

    # API keys: a handful of records every API process must see alike

    @abc.abstractmethod
    async def put_key(self, record: ApiKeyRecord) -> bool:
        """Store a new key; False, and no change, when a key has that id already."""

    @abc.abstractmethod
    async def get_key(self, key_id: str) -> ApiKeyRecord | None:
        """The key with this id, revoked or expired ones too, or None."""

    @abc.abstractmethod
    async def list_keys(self, project: str | None) -> list[ApiKeyRecord]:
        """The keys of `project` (of every project when None), oldest first, ties by id."""

    @abc.abstractmethod
    async def revoke_key(self, key_id: str, now: float) -> ApiKeyRecord | None:
        """Mark the key revoked at `now` unless it already is; the key as it now stands,
        or None when there is no such key. A revocation is never undone."""

    # Subscriptions: each scoped by (project, source queue). One whose
    # `expires <= now` is gone to every read and blocks no new one.

    @abc.abstractmethod
    async def create_subscription(self, sub: Subscription, now: float) -> tuple[Subscription, bool]:
        """Store `sub` and answer (sub, True), atomically; or, when a live one has
        the same project, source and subscriber, answer (that one, False) and
        store nothing."""

    @abc.abstractmethod
    async def get_subscription(
        self, project: str, source: str, subscription_id: str, now: float
    ) -> Subscription | None:
        """The live subscription with this id, or None."""

    @abc.abstractmethod
    async def list_subscriptions(
        self, project: str, source: str, *, marker: str | None, limit: int, now: float
    ) -> list[Subscription]:
        """Up to `limit` live subscriptions whose ids come after `marker`, by id."""

    @abc.abstractmethod
    async def update_subscription(
        self,
        project: str,
        source: str,
        subscription_id: str,
        change: Callable[[Subscription], Subscription],
        now: float,
    ) -> Subscription | None:
        """Replace a live subscription by `change(old)`, atomically; the new one.

        Its id, project and source stay as they were. None when it is missing or
        expired; `Conflict`, and no change, when the new subscriber is another
        live subscription's of the same source."""

    @abc.abstractmethod
    async def delete_subscription(self, project: str, source: str, subscription_id: str) -> None:
        """Remove a subscription and its pending deliveries; no error if missing."""

    @abc.abstractmethod
    async def purge_subscriptions(self, project: str, source: str) -> None:
        """Remove every subscription of the source queue and their pending deliveries."""

    # Deliveries: the outbox `post_messages` writes. The store applies no rule
    # to them; whoever works them reads the subscription and decides.

    @abc.abstractmethod
    async def lease_deliveries(self, now: float, limit: int, lease: float) -> list[Delivery]:
        """Take up to `limit` deliveries due at `now`, by (due, id), atomically, and
        make them due again only at `now + lease`, which their `due` then shows.

        However many processes share the store, a delivery is leased to one
        caller at a time; one that is never retried nor finished comes back
        when its lease lapses."""

    @abc.abstractmethod
    async def retry_delivery(self, delivery_id: str, attempts: int, due: float) -> None:
        """Record that `attempts` attempts were made and when to try next; no error
        if missing."""

    @abc.abstractmethod
    async def finish_delivery(self, delivery_id: str) -> None:
        """Remove a delivery from the outbox; no error if missing."""

    @abc.abstractmethod
    async def finish_deliveries(self, delivery_ids: Sequence[str]) -> None:
        """Remove these deliveries from the outbox in one write; no error for one missing."""

    @abc.abstractmethod
    async def count_deliveries(self, now: float) -> tuple[int, float | None]:
        """How many deliveries are pending, leased ones included, and when the
        oldest of them was posted (None when there are none); cheap."""

    # Housekeeping

    @abc.abstractmethod
    async def collect_garbage(self, now: float) -> int:
        """Remove expired messages, claims and subscriptions (with the pending
        deliveries of those subscriptions); how many went."""
