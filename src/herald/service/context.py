"""What every operation shares: the store, the limits, the clock and the access policy."""

from __future__ import annotations

import time
from collections.abc import Callable

import msgspec

from herald.auth.policy import Policy
from herald.model import Limits
from herald.storage.base import Store


class Context(msgspec.Struct, frozen=True):
    """The store the operations act on, the API's limits, the clock read once per request,
    and the policy every operation's caller is checked against."""

    store: Store
    limits: Limits
    clock: Callable[[], float] = time.time
    policy: Policy = msgspec.field(default_factory=Policy)
