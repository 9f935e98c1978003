"""Subscriber URIs: which schemes a subscription may name, and what each must hold."""

from __future__ import annotations

from urllib.parse import urlsplit

from herald import errors
from herald.service.names import is_queue_name

SUBSCRIBER_TYPES = ("http", "https", "mailto", "trust+http", "trust+https", "queue")
"""Every scheme Herald can deliver to; the `subscriber_types` setting picks among them."""

WEBHOOK_SCHEMES = frozenset(("http", "https", "trust+http", "trust+https"))
QUEUE_SCHEME = "queue"


def scheme_of(subscriber: str) -> str:
    """The scheme of a subscriber URI, lower-cased as URI schemes compare."""
    return subscriber.split(":", 1)[0].lower() if ":" in subscriber else ""


def check_subscriber(subscriber: object, allowed: tuple[str, ...], source: str | None) -> str:
    """The subscriber URI, if its scheme is allowed and the rest is deliverable; a 400 if not.

    `source` is the queue a `queue:` subscriber may not name (None for a topic,
    whose targets live in another namespace)."""
    if not isinstance(subscriber, str) or not subscriber:
        raise errors.InvalidRequest("The subscriber must be a non-empty string (a URI).")
    if len(subscriber) > 2048 or not subscriber.isprintable() or not subscriber.isascii():
        raise errors.InvalidRequest(
            "The subscriber must be a URI of at most 2048 printable ASCII characters."
        )
    scheme = scheme_of(subscriber)
    if scheme not in allowed:
        raise errors.InvalidRequest(
            f"The subscriber type of subscription must be supported in the list {list(allowed)}."
        )
    rest = subscriber.split(":", 1)[1]
    if scheme in WEBHOOK_SCHEMES:
        parts = urlsplit(subscriber.removeprefix("trust+"))
        if not parts.hostname:
            raise errors.InvalidRequest(f"The subscriber {subscriber} names no host to post to.")
    elif scheme == "mailto":
        address = rest.split("?", 1)[0]
        if "@" not in address:
            raise errors.InvalidRequest(f"The subscriber {subscriber} names no e-mail address.")
    elif scheme == QUEUE_SCHEME:
        if not is_queue_name(rest):
            raise errors.InvalidRequest(
                "A queue subscriber is queue:NAME, NAME a valid queue name of the same project."
            )
        if rest == source:
            # Each delivery would post a message that is delivered again, forever.
            raise errors.InvalidRequest("A queue cannot be subscribed to itself.")
    return subscriber
