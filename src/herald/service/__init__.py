"""The operations of the API and their rules; knows no wire protocol.

Each operation takes the `Caller` it acts for, reads the clock once and
passes that `now` to storage. Transports reach every operation through
`Service`: `service.queues`, `.messages`, `.claims`, `.subscriptions`, `.sharing`, `.push`
and `.health`; `.readiness` answers load balancers' probes, which act for nobody.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import msgspec

from herald.auth.policy import Policy
from herald.auth.signed_urls import Signer
from herald.config import NotificationSettings
from herald.model import Limits
from herald.service.claims import Claims
from herald.service.context import Context
from herald.service.encryption import BodyCipher
from herald.service.events import Events
from herald.service.health import Health
from herald.service.messages import Messages
from herald.service.names import check_queue_name, check_topic_name
from herald.service.outage import StoreWatch
from herald.service.push import Push
from herald.service.queues import Queues
from herald.service.readiness import Readiness
from herald.service.sharing import Sharing
from herald.service.subscriptions import Subscriptions
from herald.service.waiting import Abandoned, Waiters, unless_gone
from herald.storage.base import Store

__all__ = [
    "Abandoned",
    "BodyCipher",
    "Events",
    "QueueDepth",
    "Service",
    "StoreWatch",
    "Waiters",
    "check_queue_name",
    "check_topic_name",
    "unless_gone",
]


class QueueDepth(msgspec.Struct, frozen=True):
    """How many unexpired messages of a queue are free (claimable now), claimed, and
    delayed (not due yet)."""

    project: str
    queue: str
    free: int
    claimed: int
    delayed: int


class Service:
    """Queues, messages and claims for many projects over one store, under one access policy."""

    def __init__(
        self,
        store: Store,
        limits: Limits,
        clock: Callable[[], float] = time.time,
        *,
        policy: Policy | None = None,
        signer: Signer | None = None,
        cipher: BodyCipher | None = None,
        events: Events | None = None,
        ready_cache_seconds: float = 1.0,
        notifications: NotificationSettings | None = None,
    ) -> None:
        events = events or Events()
        self.waiters = Waiters(store, clock, events)
        context = Context(
            store,
            limits,
            clock,
            policy or Policy(),
            cipher or BodyCipher(),
            events=events,
            waiters=self.waiters,
        )
        self.limits = limits
        self.events = events
        self.watch = StoreWatch(events)
        self.queues = Queues(context)
        self.messages = Messages(context)
        self.claims = Claims(context)
        self.subscriptions = Subscriptions(context, notifications or NotificationSettings())
        self.context = context
        self.sharing = Sharing(context, signer or Signer(""))
        self.push = Push(context, self.messages)
        self.health = Health(context, self.queues, self.messages, self.claims)
        self.readiness = Readiness(store, self.watch, cache_seconds=ready_cache_seconds)
        self._store = store
        self._clock = clock

    async def collect_garbage(self) -> int:
        """Remove what has expired; how many records went."""
        gone = await self._store.collect_garbage(self._clock())
        self.events.garbage_collected(gone)
        return gone

    async def depths(self, queues: list[tuple[str, str]]) -> list[QueueDepth]:
        """The free and claimed messages of each (project, queue): one stats read each,
        so the caller bounds the cost by how many it asks about."""
        now = self._clock()
        found = []
        for project, queue in queues:
            stats = await self._store.queue_stats(project, queue, now)
            free = stats.total - stats.claimed - stats.delayed
            found.append(QueueDepth(project, queue, free, stats.claimed, stats.delayed))
        return found
