"""Plain typed structs shared by the service and the storage drivers."""

from __future__ import annotations

import re
from typing import Any

import msgspec

QUEUE_NAME = re.compile(r"^[a-zA-Z0-9_.-]{1,64}$")
PROJECT_ID_MAX_LEN = 256
# A wait longer than this would outlast the idle timeouts of most proxies in front.
MAX_WAIT_CEILING = 300


class Limits(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Defaults and bounds of the API; every one is configurable."""

    min_message_ttl: int = 60
    min_claim_ttl: int = 60
    min_claim_grace: int = 60
    default_message_ttl: int = 3600
    default_message_delay: int = 0
    default_claim_ttl: int = 300
    default_claim_grace: int = 60
    max_queues_per_page: int = 20
    max_messages_per_page: int = 20
    max_messages_per_claim_or_pop: int = 20
    max_queue_metadata: int = 65536
    max_messages_post_size: int = 262144
    max_message_ttl: int = 1209600
    max_message_delay: int = 900
    max_claim_ttl: int = 43200
    max_claim_grace: int = 43200
    default_page_size: int = 10
    message_delete_with_claim_id: bool = False
    # The longest a listing or a claim may wait for messages (`wait`), in seconds.
    max_wait: int = 20
    min_subscription_ttl: int = 60
    default_subscription_ttl: int = 3600
    max_subscriptions_per_page: int = 20

    def __post_init__(self) -> None:
        if not 0 <= self.max_wait <= MAX_WAIT_CEILING:
            raise ValueError(f"max_wait must be from 0 to {MAX_WAIT_CEILING}, not {self.max_wait}")
        # Limits that no request could meet would start a server that refuses everything.
        for name in _AT_LEAST_ONE:
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, not {getattr(self, name)}")
        for low, default, high in _ORDERED:
            values = [getattr(self, n) for n in (low, default, high) if n]
            if values != sorted(values) or values[0] < 0:
                shown = " <= ".join(f"{n} ({getattr(self, n)})" for n in (low, default, high) if n)
                raise ValueError(f"limits must satisfy 0 <= {shown}")


_AT_LEAST_ONE = (
    "min_message_ttl",
    "min_claim_ttl",
    "min_claim_grace",
    "max_queues_per_page",
    "max_messages_per_page",
    "max_messages_per_claim_or_pop",
    "max_queue_metadata",
    "max_messages_post_size",
    "default_page_size",
    "min_subscription_ttl",
    "max_subscriptions_per_page",
)
_ORDERED = (
    ("min_message_ttl", "default_message_ttl", "max_message_ttl"),
    ("", "default_message_delay", "max_message_delay"),
    ("min_claim_ttl", "default_claim_ttl", "max_claim_ttl"),
    ("min_claim_grace", "default_claim_grace", "max_claim_grace"),
    ("min_subscription_ttl", "default_subscription_ttl", ""),
)


class NewMessage(msgspec.Struct, frozen=True):
    """A message ready to store: body as raw JSON, ttl and delay resolved."""

    body: msgspec.Raw
    ttl: int
    delay: int


class StoredMessage(msgspec.Struct, frozen=True):
    """A message as read back; `claim_id` is set only while its claim is live."""

    id: str
    body: msgspec.Raw
    ttl: int
    created: float
    claim_id: str | None
    claim_count: int


class MessageQuery(msgspec.Struct, frozen=True, kw_only=True):
    """What a listing asks for; `client_id` is hidden unless `echo`."""

    marker: str | None = None
    limit: int = 10
    echo: bool = False
    client_id: str = ""
    include_claimed: bool = False
    include_delayed: bool = False


class DeadLetter(msgspec.Struct, frozen=True):
    """Where a message goes once it has been claimed `max_claim_count` times."""

    queue: str
    max_claim_count: int
    ttl: int | None


class ClaimRequest(msgspec.Struct, frozen=True, kw_only=True):
    """What a claim takes; messages claimed `max_claim_count` times are set aside."""

    limit: int
    ttl: int
    grace: int
    max_claim_count: int | None = None


class Claim(msgspec.Struct, frozen=True):
    """A live claim: `updated` is when it was created or last renewed.

    `exhausted` holds the messages the claim took because they had been
    claimed too often; they are the service's to move, not the caller's."""

    id: str
    ttl: int
    updated: float
    messages: list[StoredMessage]
    exhausted: list[StoredMessage] = msgspec.field(default_factory=list)


class MessageRef(msgspec.Struct, frozen=True):
    id: str
    created: float


class QueueStats(msgspec.Struct, frozen=True):
    """Counts of a queue's unexpired messages: all, claimed, and delayed (not yet due)."""

    claimed: int
    total: int
    oldest: MessageRef | None = None
    newest: MessageRef | None = None
    delayed: int = 0


class QueueEntry(msgspec.Struct, frozen=True):
    name: str
    metadata: dict[str, Any]


class ApiKeyRecord(msgspec.Struct, frozen=True, kw_only=True):
    """An API key as stored: never the key itself, only its id and a hash of it.

    Times are seconds since the epoch; `expires` and `revoked` are None while
    they do not apply."""

    id: str
    secret_hash: str
    project: str
    roles: tuple[str, ...] = ()
    created: float
    expires: float | None = None
    revoked: float | None = None


class Subscription(msgspec.Struct, frozen=True, kw_only=True):
    """A subscriber attached to a queue; it lives `ttl` seconds from `renewed`.

    The store keeps `options` as opaque JSON and applies none of its rules."""

    id: str
    project: str
    source: str
    subscriber: str
    options: dict[str, Any]
    ttl: int
    renewed: float
    expires: float
    confirmed: bool = False


class Delivery(msgspec.Struct, frozen=True, kw_only=True):
    """One message owed to one subscription: an entry of the store's outbox.

    `id` orders the entries of one store in the order they were written;
    `due` is when it may next be attempted (the end of a lease while leased)."""

    id: str
    project: str
    source: str
    subscription_id: str
    message_id: str
    body: msgspec.Raw
    ttl: int
    posted: float
    attempts: int
    due: float


# Inputs decoded from request bodies.


class MessageIn(msgspec.Struct, frozen=True):
    body: msgspec.Raw
    ttl: int | msgspec.UnsetType = msgspec.UNSET
    delay: int | msgspec.UnsetType = msgspec.UNSET


class PostBody(msgspec.Struct, frozen=True):
    messages: list[MessageIn]


class ClaimBody(msgspec.Struct, frozen=True):
    ttl: int | msgspec.UnsetType = msgspec.UNSET
    grace: int | msgspec.UnsetType = msgspec.UNSET


class PurgeBody(msgspec.Struct, frozen=True):
    resource_types: list[str]


# Views: what the service hands back, with ages computed from one clock read.


class MessageView(msgspec.Struct, frozen=True):
    id: str
    ttl: int
    age: int
    body: msgspec.Raw
    claim_id: str | None
    claim_count: int


class ClaimView(msgspec.Struct, frozen=True):
    id: str
    ttl: int
    age: int
    messages: list[MessageView]


class MessageStamp(msgspec.Struct, frozen=True):
    id: str
    age: int
    created: str


class StatsView(msgspec.Struct, frozen=True):
    claimed: int
    free: int
    total: int
    oldest: MessageStamp | None
    newest: MessageStamp | None


class QueuePage(msgspec.Struct, frozen=True):
    queues: list[QueueEntry]
    count: int | None
