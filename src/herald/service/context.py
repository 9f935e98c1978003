"""What every operation shares: the store, the limits and the clock."""

from __future__ import annotations

import time
from collections.abc import Callable

import msgspec

from herald.model import Limits
from herald.storage.base import Store


class Context(msgspec.Struct, frozen=True):
    """The store the operations act on, the API's limits, and the clock read once per request."""

    store: Store
    limits: Limits
    clock: Callable[[], float] = time.time
