"""Subscriptions: create, list, get, update, delete and confirm the subscribers of a queue."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Callable
from typing import Any, Protocol

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
TRUST_ID = "trust_id"
"""The option under which a trust subscriber's trust is kept: Herald's to set, never shown."""

ConfirmationWanted = Callable[[Subscription, bool], None]
"""Told of a subscription whose subscriber should be asked to confirm (True) or told it
was unsubscribed (False); the delivery engine sends the message."""


class Trustor(Protocol):
    """Lends a caller's authority to Herald for a `trust+` subscriber, as a Keystone trust."""

    async def lend(self, caller: Caller, expires: float) -> str:
        """A new trust from the caller's own credential, expiring at `expires`; its id."""
        ...

    async def revoke(self, caller: Caller, trust_id: str) -> None:
        """Delete the trust if the caller may; a trust left behind expires on its own."""
        ...


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


# Secrets kept in the options: the trust Herald made, and the key deliveries are signed
# with. A GET shows neither; whoever set the signing secret already has it.
_NEVER_SHOWN = frozenset((TRUST_ID, "signing_secret"))


def subscription_view(sub: Subscription, now: float) -> SubscriptionView:
    return SubscriptionView(
        sub.id,
        sub.source,
        sub.subscriber,
        sub.ttl,
        max(0, int(now - sub.renewed)),
        {k: v for k, v in sub.options.items() if k not in _NEVER_SHOWN},
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
        # Set by the composition root under keystone auth: without it, no trust subscribers.
        self.trustor: Trustor | None = None

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
        is_trust = self._check_trust(subscriber)
        if is_trust:
            # First: a token Keystone refuses must leave no queue behind.
            options = {**options, TRUST_ID: await self._lend(caller, now + ttl)}
        # Subscribing creates the queue, as posting does.
        await self._store.create_queue(project, queue, {})
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
        stored, new = await self._store.create_subscription(sub, now)
        if is_trust and not new:
            # The live duplicate keeps its own trust; the one just made is not needed.
            await self._revoke(caller, options)
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
        lent = await self._trust_for_update(caller, queue, subscription_id, subscriber, ttl, now)
        # The trust of the row the change replaced: read in the change itself, so that a
        # concurrent update's trust is the one let go of, never one left in Keystone.
        replaced: list[str | None] = [None]

        def change(old: Subscription) -> Subscription:
            new = old
            if subscriber is not None:
                new = msgspec.structs.replace(new, subscriber=subscriber)
            if ttl is not None:
                new = msgspec.structs.replace(new, ttl=ttl, renewed=now, expires=now + ttl)
            kept = old.options.get(TRUST_ID)
            replaced[0] = kept if isinstance(kept, str) else None
            chosen = dict(old.options if options is None else options)
            chosen.pop(TRUST_ID, None)
            if _is_trust(new.subscriber):
                # Options replaced by the client never drop the trust Herald keeps.
                trust = lent if lent is not None else kept
                if trust is not None:
                    chosen[TRUST_ID] = trust
            return msgspec.structs.replace(new, options=chosen)

        try:
            changed = await self._store.update_subscription(
                project, queue, subscription_id, change, now
            )
            if changed is None:
                raise _missing(subscription_id)
        except errors.HeraldError:
            # Gone, or a conflict with another subscription: the new trust is not needed.
            if lent is not None:
                await self._revoke(caller, {TRUST_ID: lent})
            raise
        # Only once the subscription holds its trust (or, for a plain subscriber, none):
        # deliveries never lack one.
        stored = changed.options.get(TRUST_ID)
        for trust in {replaced[0], lent} - {stored, None}:
            await self._revoke(caller, {TRUST_ID: trust})

    @action("subscription:delete")
    async def delete(self, caller: Caller, queue: str, subscription_id: str) -> None:
        found = None
        if self.trustor is not None:
            found = await self._store.get_subscription(
                caller.project, queue, subscription_id, self._clock()
            )
        await self._store.delete_subscription(caller.project, queue, subscription_id)
        if found is not None:
            await self._revoke(caller, found.options)

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

    def _check_trust(self, subscriber: str) -> bool:
        """Whether the subscriber needs a trust; refused when this server cannot make one."""
        if not _is_trust(subscriber):
            return False
        if self.trustor is None:
            raise errors.InvalidRequest(
                "trust+ subscribers need Keystone: this server does not run with auth = keystone."
            )
        return True

    async def _lend(self, caller: Caller, expires: float) -> str:
        assert self.trustor is not None
        return await self.trustor.lend(caller, expires)

    async def _trust_for_update(
        self,
        caller: Caller,
        queue: str,
        subscription_id: str,
        subscriber: str | None,
        ttl: int | None,
        now: float,
    ) -> str | None:
        """A new trust when the update names a trust subscriber or renews a trust
        subscription's ttl, so that the trust lasts as long as it."""
        if subscriber is None and ttl is None:
            return None
        if subscriber is not None and not self._check_trust(subscriber):
            return None
        old = await self._store.get_subscription(caller.project, queue, subscription_id, now)
        if old is None:
            raise _missing(subscription_id)
        if subscriber is None and not self._check_trust(old.subscriber):
            return None
        expires = now + ttl if ttl is not None else old.expires
        return await self._lend(caller, expires)

    async def _revoke(self, caller: Caller, options: dict[str, Any]) -> None:
        trust_id = options.get(TRUST_ID)
        if self.trustor is not None and isinstance(trust_id, str):
            # A trust left behind costs nothing but a row in Keystone until it expires.
            with contextlib.suppress(errors.HeraldError):
                await self.trustor.revoke(caller, trust_id)

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
        if TRUST_ID in value:
            # A client naming a trust would borrow whoever made it: only Herald sets it.
            raise errors.InvalidRequest(
                "options.trust_id is set by Herald for trust+ subscribers; do not send it."
            )
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


def _is_trust(subscriber: str) -> bool:
    return subscriber.startswith("trust+")


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
