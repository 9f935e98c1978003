"""What every operation shares: the store, limits, clock, access policy, body cipher,
event observer and the registry of waiting requests."""

from __future__ import annotations

import time
from collections.abc import Callable

import msgspec

from herald.auth.policy import Policy
from herald.model import Limits
from herald.service.encryption import BodyCipher
from herald.service.events import Events
from herald.service.waiting import Waiters
from herald.storage.base import Store


class Context(msgspec.Struct, frozen=True):
    """The store the operations act on, the API's limits, the clock read once per request,
    the policy every caller is checked against, the cipher of message bodies, who hears
    of what happened, and the one registry of the process's long polls."""

    store: Store
    limits: Limits
    clock: Callable[[], float] = time.time
    policy: Policy = msgspec.field(default_factory=Policy)
    cipher: BodyCipher = msgspec.field(default_factory=BodyCipher)
    events: Events = msgspec.field(default_factory=Events)
    waiters: Waiters | None = None

    def long_polls(self) -> Waiters:
        """The registry of long polls; a context made without one gets its own."""
        return self.waiters or Waiters(self.store, self.clock)
