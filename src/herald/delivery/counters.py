"""Counts of what the delivery engine did, in one object a metrics exporter can read."""

from __future__ import annotations

import msgspec


class DeliveryCounters(msgspec.Struct, kw_only=True):
    """Totals since start, and the last lag (seconds from post to delivery) per subscription."""

    attempts: int = 0
    successes: int = 0
    failures: int = 0
    retries: int = 0
    filtered: int = 0
    unconfirmed: int = 0
    gone: int = 0
    expired: int = 0
    dead_lettered: int = 0
    given_up: int = 0
    lag: dict[str, float] = msgspec.field(default_factory=dict)
