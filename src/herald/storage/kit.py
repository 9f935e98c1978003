"""Pieces every driver shares: codecs, id parsing, row mapping, ordering, redaction.

Nothing here is a rule of the API; those live in the service. These are the
small mechanics that would otherwise be written once per driver.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import msgspec

from herald.model import ApiKeyRecord, Delivery, NewMessage, StoredMessage, Subscription

DURABILITIES = ("full", "normal")

encode_json = msgspec.json.Encoder().encode
decode_metadata = msgspec.json.Decoder(dict[str, Any]).decode

MESSAGE_COLUMNS = "id, body, ttl, created, claim_id, claim_expires, claim_count"
"""The columns `messages_from_rows` reads, in its order, for the SQL drivers."""


API_KEY_COLUMNS = "id, secret_hash, project, roles, created, expires, revoked"
"""The columns `api_key_from_row` reads, in its order, for the SQL drivers."""

SUBSCRIPTION_COLUMNS = "id, project, source, subscriber, options, ttl, renewed, expires, confirmed"
"""The columns `subscription_from_row` reads, in its order, for the SQL drivers."""

DELIVERY_COLUMNS = (
    "id, project, source, subscription_id, message_id, body, ttl, posted, attempts, due"
)
"""The columns `delivery_from_row` reads, in its order, for the SQL drivers."""


def check_durability(durability: str) -> str:
    """The durability setting, or a ValueError naming the ones there are."""
    if durability not in DURABILITIES:
        raise ValueError(f"durability must be 'full' or 'normal', not {durability!r}")
    return durability


def row_id(text: str) -> int | None:
    """The integer row id behind a message id, or None for text that cannot be one."""
    # Under 19 digits an id always fits a signed 64-bit column.
    if text.isascii() and text.isdigit() and len(text) < 19:
        return int(text)
    return None


def row_ids(ids: Iterable[str]) -> list[int]:
    """The ids that can name a row, each once, in the order given."""
    return list(dict.fromkeys(i for i in map(row_id, ids) if i is not None))


def messages_from_rows(rows: Iterable[Sequence[Any]], now: float) -> list[StoredMessage]:
    """Rows of `MESSAGE_COLUMNS` as messages; a claim id counts only while it is live."""
    return [
        StoredMessage(
            id=str(row[0]),
            body=msgspec.Raw(row[1]),
            ttl=row[2],
            created=row[3],
            claim_id=str(row[4]) if row[4] is not None and row[5] > now else None,
            claim_count=row[6],
        )
        for row in rows
    ]


def api_key_from_row(row: Sequence[Any], roles: Iterable[str]) -> ApiKeyRecord:
    """A row of `API_KEY_COLUMNS` as a key record, with its roles decoded by the driver."""
    return ApiKeyRecord(
        id=row[0],
        secret_hash=row[1],
        project=row[2],
        roles=tuple(roles),
        created=row[4],
        expires=row[5],
        revoked=row[6],
    )


def in_order_asked(found: Iterable[StoredMessage], asked: Iterable[object]) -> list[StoredMessage]:
    """The messages found, in the order their ids were asked for, each once."""
    by_id = {m.id: m for m in found}
    return [by_id[key] for key in dict.fromkeys(map(str, asked)) if key in by_id]


def redacted(uri: str) -> str:
    """The URI with any password replaced, fit to print or log."""
    parts = urlsplit(uri)
    if parts.password is None:
        return uri
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{parts.username or ''}:***@{host}"))


def prefix_end(prefix: str) -> str | None:
    """The least text after every text that starts with `prefix`, in code-point order
    (which is byte order in UTF-8); None when no text is (an empty prefix)."""
    chars = list(prefix)
    while chars:
        point = ord(chars.pop()) + 1
        if 0xD800 <= point <= 0xDFFF:
            point = 0xE000  # surrogates have no UTF-8 form
        if point <= 0x10FFFF:
            return "".join(chars) + chr(point)
    return None


def subscription_from_row(row: Sequence[Any]) -> Subscription:
    """A row of `SUBSCRIPTION_COLUMNS` as a subscription; options are JSON bytes or text."""
    return Subscription(
        id=row[0],
        project=row[1],
        source=row[2],
        subscriber=row[3],
        options=decode_metadata(row[4]),
        ttl=row[5],
        renewed=row[6],
        expires=row[7],
        confirmed=bool(row[8]),
    )


def subscription_row(sub: Subscription) -> tuple[Any, ...]:
    """The values of `SUBSCRIPTION_COLUMNS` for a subscription, options encoded."""
    return (
        sub.id,
        sub.project,
        sub.source,
        sub.subscriber,
        encode_json(sub.options),
        sub.ttl,
        sub.renewed,
        sub.expires,
        sub.confirmed,
    )


def replacement(old: Subscription, new: Subscription) -> Subscription:
    """What an update stores: `new`, under the id, project and source of `old`."""
    if (new.id, new.project, new.source) == (old.id, old.project, old.source):
        return new
    return msgspec.structs.replace(new, id=old.id, project=old.project, source=old.source)


def delivery_from_row(row: Sequence[Any]) -> Delivery:
    """A row of `DELIVERY_COLUMNS` as a delivery."""
    return Delivery(
        id=str(row[0]),
        project=row[1],
        source=row[2],
        subscription_id=row[3],
        message_id=str(row[4]),
        body=msgspec.Raw(row[5]),
        ttl=row[6],
        posted=row[7],
        attempts=row[8],
        due=row[9],
    )


def owed(
    subscription_ids: Sequence[str],
    message_ids: Sequence[int],
    made: Sequence[NewMessage],
    now: float,
) -> list[tuple[str, int, bytes, int, float]]:
    """The outbox entries of a post: (subscription id, message id, body, ttl, due) for
    each message, and within it each subscription, in that order."""
    return [
        (sub_id, message_id, bytes(m.body), m.ttl, now + m.delay)
        for message_id, m in zip(message_ids, made, strict=True)
        for sub_id in subscription_ids
    ]
