"""The reserved `_` keys of queue metadata: checked when written, read as a typed policy."""

from __future__ import annotations

from typing import Any

import msgspec

from herald import errors
from herald.model import DeadLetter, Limits
from herald.service.names import is_queue_name
from herald.service.retry_policy import parse_retry_policy


class QueuePolicy(msgspec.Struct, frozen=True, kw_only=True, rename=lambda name: f"_{name}"):
    """What a queue's reserved metadata keys ask of the service; None means not set."""

    max_messages_post_size: int | None = None
    default_message_ttl: int | None = None
    default_message_delay: int | None = None
    dead_letter_queue: str | None = None
    dead_letter_queue_messages_ttl: int | None = None
    max_claim_count: int | None = None
    enable_encrypt_messages: bool | None = None
    retry_policy: dict[str, Any] | None = None
    flavor: str | None = None

    def post_size_limit(self, limits: Limits) -> int:
        """The byte cap on one post to the queue."""
        own = self.max_messages_post_size
        cap = limits.max_messages_post_size
        return min(own, cap) if own else cap

    @property
    def dead_letter(self) -> DeadLetter | None:
        """Where messages go after too many claims; both keys must be set."""
        if not self.dead_letter_queue or not self.max_claim_count:
            return None
        return DeadLetter(
            self.dead_letter_queue, self.max_claim_count, self.dead_letter_queue_messages_ttl
        )


# Metadata is checked when written, so reading it back cannot fail on its types.
_read = msgspec.convert
NO_POLICY = QueuePolicy()
# Shown on GET with these values when the queue does not set them.
_SHOWN = (
    "_max_messages_post_size",
    "_default_message_ttl",
    "_default_message_delay",
    "_dead_letter_queue",
    "_dead_letter_queue_messages_ttl",
    "_max_claim_count",
    "_enable_encrypt_messages",
)


def policy_of(metadata: dict[str, Any]) -> QueuePolicy:
    """The typed policy behind a queue's stored metadata."""
    if not metadata:
        return NO_POLICY
    return _read(metadata, QueuePolicy)


def with_defaults(metadata: dict[str, Any], limits: Limits) -> dict[str, Any]:
    """The metadata as GET shows it: unset reserved keys with their defaults."""
    defaults: dict[str, Any] = dict.fromkeys(_SHOWN)
    defaults.update(
        _max_messages_post_size=limits.max_messages_post_size,
        _default_message_ttl=limits.default_message_ttl,
        _default_message_delay=limits.default_message_delay,
        _enable_encrypt_messages=False,
    )
    out = dict(metadata)
    for key, value in defaults.items():
        if not out.get(key):
            out[key] = value
    return out


def is_shown_by_default(key: str) -> bool:
    """Whether GET shows the key when unset, so that PATCH may replace it."""
    return key in _SHOWN


def check_reserved(metadata: dict[str, Any], limits: Limits, *, can_encrypt: bool = False) -> None:
    """Refuse reserved keys whose values the API does not allow; `_enable_encrypt_messages`
    only when `can_encrypt` (the server has a key, or the queue was already encrypted)."""
    _int_in(metadata, "_max_messages_post_size", 1, limits.max_messages_post_size)
    _int_in(metadata, "_default_message_ttl", limits.min_message_ttl, limits.max_message_ttl)
    _int_in(metadata, "_default_message_delay", 0, limits.max_message_delay)
    _int_in(
        metadata, "_dead_letter_queue_messages_ttl", limits.min_message_ttl, limits.max_message_ttl
    )
    _int_in(metadata, "_max_claim_count", 1, 2**31 - 1)
    dlq = metadata.get("_dead_letter_queue")
    if dlq is not None and not (isinstance(dlq, str) and is_queue_name(dlq)):
        raise errors.InvalidRequest(
            "_dead_letter_queue must be a valid queue name: 1 to 64 letters, digits, "
            "underscores, dots or dashes."
        )
    for key, kind, word in (
        ("_enable_encrypt_messages", bool, "a boolean"),
        ("_retry_policy", dict, "an object"),
        ("_flavor", str, "a string"),
    ):
        value = metadata.get(key)
        if value is not None and not isinstance(value, kind):
            raise errors.InvalidRequest(f"{key} must be {word}.")
    parse_retry_policy(metadata.get("_retry_policy"))
    if metadata.get("_enable_encrypt_messages") and not can_encrypt:
        # Accepting the flag without encrypting would be a silent lie.
        raise errors.InvalidRequest(
            "_enable_encrypt_messages needs an encryption key, and this server has none "
            "configured ([encryption] key)."
        )


def _int_in(metadata: dict[str, Any], key: str, low: int, high: int) -> None:
    value = metadata.get(key)
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise errors.InvalidRequest(f"{key} must be an integer from {low} to {high}.")
