"""Subscriptions: create, list, get, update, delete and confirm the subscribers of a queue."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import msgspec

from herald import errors
from herald.config import NotificationSettings
from herald.identity import Caller
from herald.model import Subscription
from herald.service.access import action
from herald.service.context import Context
from herald.service.documents import decode_document
from herald.service.limits import page_limit
from herald.service.names import check_marker
from herald.service.subscribers import HostRule, check_subscriber
from herald.service.topics import is_topic_project
from herald.service.validation import check_subscription_options

# Expiry must stay a date every store and client can show: before the year 10000.
LATEST_EXPIRY = 253402300799.0
_FIELDS = frozenset(("subscriber", "ttl", "options"))

ConfirmationWanted = Callable[[Subscription, bool], None]
"""Told of a subscription whose subscriber should be asked to confirm (True) or told it
was unsubscribed (False); the delivery engine sends the message."""


class SubscriptionView(msgspec.Struct, frozen=True):
    """A subscription as the API shows it, its age from one clock read."""

    id: str
    source: str
    subscriber: str
    ttl: int
    age: int
    options: dict[str, Any]
    confirmed: bool


class Created(msgspec.Struct, frozen=True):
    """The id a create answers with; `new` is False when a live duplicate was found."""

    id: str
    new: bool


def subscription_view(sub: Subscription, now: float) -> SubscriptionView:
    return SubscriptionView(
        sub.id,
        sub.source,
        sub.subscriber,
        sub.ttl,
        max(0, int(now - sub.renewed)),
        sub.options,
        sub.confirmed,
    )


class Subscriptions:
    """The subscription operations of one service."""

    def __init__(self, context: Context, settings: NotificationSettings) -> None:
        self._store = context.store
        self.policy = context.policy
        self._limits = context.limits
        self._clock = context.clock
        self._hosts = HostRule(settings)
        self._require_confirmation = settings.require_confirmation
        # Set by the composition root once the delivery engine exists.
        self.confirmation_wanted: ConfirmationWanted | None = None

    @action("subscription:create")
    async def create(self, caller: Caller, queue: str, body: bytes) -> Created:
        """Subscribe; a live duplicate answers its own id unless it is confirmed (409)."""
        document = _document(body, "No subscription to create.")
        if "subscriber" not in document:
            raise errors.InvalidRequest("Missing parameter subscriber in body.")
        project = caller.project
        subscriber = self._subscriber(document["subscriber"], project, queue)
        ttl = self._ttl(document.get("ttl", self._limits.default_subscription_ttl))
        options = self._options(document.get("options", {}))
        now = self._clock()
        self._check_expiry(now, ttl)
        sub = Subscription(
            id=uuid.uuid4().hex,
            project=project,
            source=queue,
            subscriber=subscriber,
            options=options,
            ttl=ttl,
            renewed=now,
            expires=now + ttl,
        )
        # Subscribing creates the queue, as posting does.
        await self._store.create_queue(project, queue, {})
        stored, new = await self._store.create_subscription(sub, now)
        if not new and stored.confirmed:
            raise errors.Conflict(
                f"Subscription to {subscriber} on queue {queue} already exists "
                f"and is confirmed: {stored.id}."
            )
        if not stored.confirmed:
            self._want_confirmation(stored, True)
        return Created(stored.id, new)

    @action("subscription:get_all")
    async def listing(
        self, caller: Caller, queue: str, *, marker: str | None, limit: int | None
    ) -> list[SubscriptionView]:
        limit = page_limit(self._limits, limit, self._limits.max_subscriptions_per_page)
        check_marker(marker)
        now = self._clock()
        found = await self._store.list_subscriptions(
            caller.project, queue, marker=marker, limit=limit, now=now
        )
        return [subscription_view(s, now) for s in found]

    @action("subscription:get")
    async def get(self, caller: Caller, queue: str, subscription_id: str) -> SubscriptionView:
        now = self._clock()
        found = await self._store.get_subscription(caller.project, queue, subscription_id, now)
        if found is None:
            raise _missing(subscription_id)
        return subscription_view(found, now)

    @action("subscription:update")
    async def update(self, caller: Caller, queue: str, subscription_id: str, body: bytes) -> None:
        """Change any of subscriber, ttl and options; a new ttl counts from now."""
        document = _document(body, "No subscription fields to update.")
        if not _FIELDS & document.keys():
            raise errors.InvalidRequest(
                "A subscription update takes any of subscriber, ttl and options."
            )
        project = caller.project
        subscriber = (
            self._subscriber(document["subscriber"], project, queue)
            if "subscriber" in document
            else None
        )
        ttl = self._ttl(document["ttl"]) if "ttl" in document else None
        options = self._options(document["options"]) if "options" in document else None
        now = self._clock()
        if ttl is not None:
            self._check_expiry(now, ttl)

        def change(old: Subscription) -> Subscription:
            new = old
            if subscriber is not None:
                new = msgspec.structs.replace(new, subscriber=subscriber)
            if options is not None:
                new = msgspec.structs.replace(new, options=options)
            if ttl is not None:
                new = msgspec.structs.replace(new, ttl=ttl, renewed=now, expires=now + ttl)
            return new

        changed = await self._store.update_subscription(
            project, queue, subscription_id, change, now
        )
        if changed is None:
            raise _missing(subscription_id)

    @action("subscription:delete")
    async def delete(self, caller: Caller, queue: str, subscription_id: str) -> None:
        await self._store.delete_subscription(caller.project, queue, subscription_id)

    @action("subscription:confirm")
    async def confirm(self, caller: Caller, queue: str, subscription_id: str, body: bytes) -> None:
        """Mark the subscription confirmed or not, as `{"confirmed": bool}` says."""
        document = _document(body, 'The request body is empty: expected {"confirmed": bool}.')
        confirmed = document.get("confirmed")
        if not isinstance(confirmed, bool):
            raise errors.InvalidRequest("The 'confirmed' should be boolean.")
        now = self._clock()
        changed = await self._store.update_subscription(
            caller.project,
            queue,
            subscription_id,
            lambda old: msgspec.structs.replace(old, confirmed=confirmed),
            now,
        )
        if changed is None:
            raise _missing(subscription_id)
        if not confirmed:
            self._want_confirmation(changed, False)

    def _subscriber(self, value: object, project: str, queue: str) -> str:
        subscriber = check_subscriber(value, self._hosts)
        # A topic's queue subscribers live in the owner's project, never among topics.
        if (
            subscriber.sink == "queue"
            and subscriber.target == queue
            and not is_topic_project(project)
        ):
            # Each delivery would post a message owed to the same subscription, forever.
            raise errors.InvalidRequest("A queue cannot be subscribed to itself.")
        return subscriber.url

    def _ttl(self, value: object) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise errors.InvalidRequest("The TTL of a subscription must be an integer.")
        low = self._limits.min_subscription_ttl
        if value < low:
            raise errors.InvalidRequest(
                f"The TTL for a subscription must be at least {low} seconds long."
            )
        return value

    def _options(self, value: object) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise errors.InvalidRequest("Options must be a dict.")
        check_subscription_options(value)
        return value

    @staticmethod
    def _check_expiry(now: float, ttl: int) -> None:
        if now + ttl > LATEST_EXPIRY:
            raise errors.InvalidRequest(
                "The TTL seconds for a subscription plus current time must be less than "
                "the end of the year 9999."
            )

    def _want_confirmation(self, sub: Subscription, subscribe: bool) -> None:
        if self._require_confirmation and self.confirmation_wanted is not None:
            self.confirmation_wanted(sub, subscribe)


def _document(body: bytes, empty: str) -> dict[str, Any]:
    if not body.strip():
        raise errors.InvalidRequest(empty)
    document = decode_document(body, object)
    if not isinstance(document, dict):
        raise errors.InvalidBody("The request body must be a JSON object.")
    if not document:
        raise errors.InvalidRequest(empty)
    return document


def _missing(subscription_id: str) -> errors.NotFound:
    return errors.NotFound(f"Subscription {subscription_id} does not exist")
