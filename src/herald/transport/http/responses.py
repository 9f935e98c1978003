"""Responses, their JSON shapes and the hrefs inside them."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote_plus

import msgspec

from herald.errors import HeraldError
from herald.model import ClaimView, MessageView, StatsView
from herald.transport.http.errors import error_headers, status_and_document

JSON = b"application/json"
_PLAIN = re.compile(r"[A-Za-z0-9_.-]*")
_encode = msgspec.json.Encoder().encode


class Response:
    """A status, headers and a body ready to send."""

    __slots__ = ("body", "headers", "status")

    def __init__(
        self,
        status: int,
        body: bytes = b"",
        headers: list[tuple[bytes, bytes]] | None = None,
        content_type: bytes | None = JSON,
    ) -> None:
        self.status = status
        self.body = body
        self.headers = headers or []
        if content_type is not None:
            self.headers.append((b"content-type", content_type))


def json_response(
    status: int, document: Any, headers: list[tuple[bytes, bytes]] | None = None
) -> Response:
    return Response(status, _encode(document), headers)


def empty(status: int = 204, location: str | None = None) -> Response:
    headers = [(b"location", location.encode())] if location else None
    # A 201 carries a JSON content type even with an empty body, as Zaqar's does.
    return Response(status, b"", headers, JSON if status == 201 else None)


def error_response(
    error: HeraldError, headers: list[tuple[bytes, bytes]] | None = None
) -> Response:
    status, document = status_and_document(error)
    return json_response(status, document, [*(headers or []), *error_headers(error)])


# JSON shapes


class Link(msgspec.Struct):
    rel: str
    href: str


class MessageOut(msgspec.Struct):
    id: str
    href: str
    ttl: int
    age: int
    body: msgspec.Raw


class PoppedOut(msgspec.Struct):
    id: str
    age: int
    ttl: int
    body: msgspec.Raw
    claim_id: str | None
    claim_count: int


class MessagePage(msgspec.Struct):
    messages: list[MessageOut]
    links: list[Link]


class MessageList(msgspec.Struct):
    messages: list[MessageOut]


class PoppedList(msgspec.Struct):
    messages: list[PoppedOut]


class Resources(msgspec.Struct):
    resources: list[str]


class ClaimOut(msgspec.Struct):
    age: int
    ttl: int
    messages: list[MessageOut]
    href: str


class Stamp(msgspec.Struct):
    age: int
    created: str
    href: str


class Counts(msgspec.Struct, omit_defaults=True):
    claimed: int
    free: int
    total: int
    oldest: Stamp | None = None
    newest: Stamp | None = None


class Stats(msgspec.Struct):
    messages: Counts


# Hrefs


# Where queues live; a project's topics live under /v2/topics, with the same shapes.
QUEUES = "/v2/queues"
TOPICS = "/v2/topics"


def queue_href(queue: str, *, root: str = QUEUES) -> str:
    return f"{root}/{queue}"


def message_href(
    queue: str, message_id: str, claim_id: str | None = None, *, root: str = QUEUES
) -> str:
    href = f"{root}/{queue}/messages/{message_id}"
    # Clients read the claim id as the text after the last '=', so keep this shape.
    return f"{href}?claim_id={claim_id}" if claim_id else href


def claim_href(queue: str, claim_id: str) -> str:
    return f"/v2/queues/{queue}/claims/{claim_id}"


def subscriptions_href(root: str, queue: str) -> str:
    return f"{root}/{queue}/subscriptions"


def subscription_href(root: str, queue: str, subscription_id: str) -> str:
    return f"{root}/{queue}/subscriptions/{subscription_id}"


def next_href(path: str, params: dict[str, Any], marker: str) -> str:
    """The link to the next page: the recognised parameters and the new marker."""
    parts = []
    for key, value in params.items():
        if value is None:
            continue
        if isinstance(value, bool):
            value = "true" if value else "false"
        parts.append(f"{_escape(str(key))}={_escape(str(value))}")
    parts.append(f"marker={_escape(marker)}")
    return f"{path}?{'&'.join(parts)}"


def _escape(text: str) -> str:
    # Ids, numbers and booleans need no escaping: skip the slow path for them.
    return text if _PLAIN.fullmatch(text) else quote_plus(text)


def message_out(queue: str, message: MessageView, *, root: str = QUEUES) -> MessageOut:
    return MessageOut(
        message.id,
        message_href(queue, message.id, message.claim_id, root=root),
        message.ttl,
        message.age,
        message.body,
    )


def messages_out(
    queue: str, messages: list[MessageView], *, root: str = QUEUES
) -> list[MessageOut]:
    return [message_out(queue, m, root=root) for m in messages]


def popped_out(messages: list[MessageView]) -> PoppedList:
    return PoppedList(
        [PoppedOut(m.id, m.age, m.ttl, m.body, None, m.claim_count) for m in messages]
    )


def claim_out(queue: str, claim: ClaimView) -> ClaimOut:
    return ClaimOut(
        claim.age, claim.ttl, messages_out(queue, claim.messages), claim_href(queue, claim.id)
    )


def stats_out(queue: str, stats: StatsView, *, root: str = QUEUES) -> Stats:
    def stamp(s: Any) -> Stamp | None:
        href = message_href(queue, s.id, root=root) if s is not None else ""
        return None if s is None else Stamp(s.age, s.created, href)

    return Stats(
        Counts(stats.claimed, stats.free, stats.total, stamp(stats.oldest), stamp(stats.newest))
    )
