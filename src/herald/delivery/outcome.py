"""What one attempt to hand a message to a subscriber came to."""

from __future__ import annotations

import enum

import msgspec


class Outcome(enum.Enum):
    DELIVERED = "delivered"
    # Worth another try: the endpoint failed (5xx, 429), timed out or could not be reached.
    RETRY = "retry"
    # Never worth another try: the endpoint refused the message (4xx) or cannot be reached
    # by any sender this server has.
    REFUSED = "refused"


class Notification(msgspec.Struct, frozen=True, kw_only=True):
    """A message ready to send: whom to, and what, with the opened body."""

    subscription_id: str
    subscriber: str
    options: dict[str, object]
    project: str
    queue: str
    message_id: str
    body: msgspec.Raw
    ttl: int
