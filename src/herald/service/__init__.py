"""The operations of the API and their rules; knows no wire protocol.

Each operation takes the `Caller` it acts for, reads the clock once and
passes that `now` to storage. Transports reach every operation through
`Service`: `service.queues`, `.messages`, `.claims`, `.subscriptions`, `.sharing` and `.health`.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from herald.auth.policy import Policy
from herald.auth.signed_urls import Signer
from herald.config import NotificationSettings
from herald.model import Limits
from herald.service.claims import Claims
from herald.service.context import Context
from herald.service.encryption import BodyCipher
from herald.service.health import Health
from herald.service.messages import Messages
from herald.service.names import check_queue_name, check_topic_name
from herald.service.queues import Queues
from herald.service.sharing import Sharing
from herald.service.subscriptions import Subscriptions
from herald.storage.base import Store

__all__ = ["BodyCipher", "Service", "check_queue_name", "check_topic_name"]


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
        notifications: NotificationSettings | None = None,
    ) -> None:
        context = Context(store, limits, clock, policy or Policy(), cipher or BodyCipher())
        self.limits = limits
        self.queues = Queues(context)
        self.messages = Messages(context)
        self.claims = Claims(context)
        self.subscriptions = Subscriptions(context, notifications or NotificationSettings())
        self.context = context
        self.sharing = Sharing(context, signer or Signer(""))
        self.health = Health(context, self.queues, self.messages, self.claims)
        self._store = store
        self._clock = clock

    async def collect_garbage(self) -> int:
        """Remove what has expired; how many records went."""
        return await self._store.collect_garbage(self._clock())
