"""Stored records as the service hands them back, with ages from one clock read."""

from __future__ import annotations

from datetime import UTC, datetime

from herald.model import MessageRef, MessageStamp, MessageView, StoredMessage


def view(message: StoredMessage, now: float) -> MessageView:
    return MessageView(
        message.id,
        message.ttl,
        int(now - message.created),
        message.body,
        message.claim_id,
        message.claim_count,
    )


def views(messages: list[StoredMessage], now: float) -> list[MessageView]:
    return [view(m, now) for m in messages]


def stamp(ref: MessageRef | None, now: float) -> MessageStamp | None:
    if ref is None:
        return None
    created = datetime.fromtimestamp(ref.created, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return MessageStamp(ref.id, int(now - ref.created), created)
