"""Push subscriptions: a connection asks for a queue's new messages as they are posted.

A push subscription lives as long as the connection that made it, or its
ttl, whichever ends first; it is not stored. The messages come from the
store by marker, like any reader's, so a subscriber never misses one for
a lost wake-up and never holds a message from anybody else.
"""

from __future__ import annotations

import uuid
from typing import Any

import msgspec

from herald import errors
from herald.identity import Caller
from herald.model import MessageView
from herald.service.access import action
from herald.service.context import Context
from herald.service.messages import Messages
from herald.service.names import check_queue_name

MIN_TTL = 60
DEFAULT_TTL = 3600
MAX_TTL = 365 * 86400


class PushSubscription(msgspec.Struct, kw_only=True):
    """One connection's subscription to a queue, and how far it has read."""

    id: str
    queue: str
    ttl: int
    renewed: float
    marker: str | None

    def expires(self) -> float:
        return self.renewed + self.ttl

    def view(self, now: float) -> dict[str, Any]:
        """Zaqar's subscription fields; the subscriber is the connection itself."""
        return {
            "id": self.id,
            "source": self.queue,
            "subscriber": "websocket",
            "ttl": self.ttl,
            "age": int(now - self.renewed),
            "options": {},
            "confirmed": True,
        }


class Push:
    """The push operations of one service."""

    def __init__(self, context: Context, messages: Messages) -> None:
        self._store = context.store
        self.policy = context.policy
        self._limits = context.limits
        self._clock = context.clock
        self._messages = messages

    @action("subscription:create")
    async def subscribe(self, caller: Caller, queue: str, ttl: int | None) -> PushSubscription:
        """A subscription to the messages posted to the queue from now on."""
        check_queue_name(queue)
        ttl = _check_ttl(ttl)
        now = self._clock()
        # Start after the newest message stored now: the subscriber wants what comes next.
        stats = await self._store.queue_stats(caller.project, queue, now)
        marker = None if stats.newest is None else stats.newest.id
        return PushSubscription(
            id=uuid.uuid4().hex, queue=queue, ttl=ttl, renewed=now, marker=marker
        )

    @action("subscription:update")
    async def renew(self, caller: Caller, subscription: PushSubscription, ttl: int | None) -> None:
        """Give the subscription a new ttl, counted from now."""
        subscription.ttl = _check_ttl(ttl)
        subscription.renewed = self._clock()

    @action("subscription:get")
    async def view(self, caller: Caller, subscription: PushSubscription) -> dict[str, Any]:
        return subscription.view(self._clock())

    @action("subscription:get_all")
    async def views(
        self, caller: Caller, subscriptions: list[PushSubscription]
    ) -> list[dict[str, Any]]:
        now = self._clock()
        return [s.view(now) for s in subscriptions if s.expires() > now]

    @action("subscription:delete")
    async def may_cancel(self, caller: Caller) -> None:
        """Raises unless the caller may end subscriptions."""

    def expired(self, subscription: PushSubscription) -> bool:
        return subscription.expires() <= self._clock()

    async def next_messages(
        self, caller: Caller, subscription: PushSubscription, wait: float
    ) -> list[MessageView]:
        """The messages after the subscription's marker, waiting up to `wait` seconds for one;
        the marker moves past them."""
        found = await self._messages.listing(
            caller,
            subscription.queue,
            marker=subscription.marker,
            limit=self._limits.max_messages_per_page,
            # Every message posted, whoever posted it and whoever has claimed it since.
            echo=True,
            include_claimed=True,
            wait=wait,
        )
        if found:
            subscription.marker = found[-1].id
        return found


def _check_ttl(ttl: int | None) -> int:
    if ttl is None:
        return DEFAULT_TTL
    if not MIN_TTL <= ttl <= MAX_TTL:
        raise errors.InvalidRequest(
            f"The TTL of a subscription must be at least {MIN_TTL} seconds and at most {MAX_TTL}."
        )
    return ttl
