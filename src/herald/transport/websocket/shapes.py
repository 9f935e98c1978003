"""The documents of WebSocket replies and notifications, in Zaqar's shapes (no hrefs)."""

from __future__ import annotations

import msgspec

from herald.model import MessageStamp, MessageView, StatsView


class MessageOut(msgspec.Struct):
    id: str
    claim_id: str | None
    ttl: int
    age: int
    body: msgspec.Raw


class MessageList(msgspec.Struct):
    messages: list[MessageOut]


class MessageOne(msgspec.Struct):
    # One message under "messages", not a list: Zaqar's shape for message_get.
    messages: MessageOut


class ClaimCreated(msgspec.Struct):
    claim_id: str | None
    messages: list[MessageOut]


class ClaimOut(msgspec.Struct):
    age: int
    ttl: int
    messages: list[MessageOut]


class Subscribed(msgspec.Struct):
    subscription_id: str
    message: str


class Notification(msgspec.Struct, rename={"message_type": "Message_Type"}):
    """A message pushed to a subscribed socket: the message, its queue and what it is."""

    id: str
    ttl: int
    age: int
    body: msgspec.Raw
    queue_name: str
    message_type: str = "Notification"


class Stamp(msgspec.Struct):
    id: str
    age: int
    created: str


class Counts(msgspec.Struct, omit_defaults=True):
    claimed: int
    free: int
    total: int
    oldest: Stamp | None = None
    newest: Stamp | None = None


class Stats(msgspec.Struct):
    messages: Counts


def messages_out(messages: list[MessageView]) -> list[MessageOut]:
    return [MessageOut(m.id, m.claim_id, m.ttl, m.age, m.body) for m in messages]


def notification(queue: str, message: MessageView) -> Notification:
    return Notification(message.id, message.ttl, message.age, message.body, queue)


def stats_out(stats: StatsView) -> Stats:
    def stamp(s: MessageStamp | None) -> Stamp | None:
        return None if s is None else Stamp(s.id, s.age, s.created)

    return Stats(
        Counts(stats.claimed, stats.free, stats.total, stamp(stats.oldest), stamp(stats.newest))
    )
