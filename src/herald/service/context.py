"""What every operation shares: the store, the limits, the clock and the body cipher."""

from __future__ import annotations

import time
from collections.abc import Callable

import msgspec

from herald.model import Limits
from herald.service.encryption import BodyCipher
from herald.storage.base import Store


class Context(msgspec.Struct, frozen=True):
    """The store the operations act on, the API's limits, the clock read once per request,
    and the cipher that seals and opens message bodies."""

    store: Store
    limits: Limits
    clock: Callable[[], float] = time.time
    cipher: BodyCipher = msgspec.field(default_factory=BodyCipher)
