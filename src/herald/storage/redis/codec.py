"""How values travel to the scripts and how their replies become messages."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import msgspec

from herald.model import StoredMessage

# Sorted-set scores, which order a queue's ids, are exact below 2**53.
_MESSAGE_ID = re.compile(r"^[0-9]{1,15}$")


def time_text(value: float) -> str:
    """A time as text that Redis and Lua read back to the very same double."""
    return repr(float(value))


def flag(value: bool) -> str:
    """A yes or no as the scripts read it."""
    return "1" if value else "0"


def text(value: str | bytes | None) -> str:
    """A reply that may come as bytes or text, as text."""
    return value.decode() if isinstance(value, bytes) else value or ""


def is_message_id(candidate: str) -> bool:
    """Whether the text can be the id of a message this store keeps."""
    return _MESSAGE_ID.match(candidate) is not None


def message_ids(ids: Sequence[str]) -> list[str]:
    """The ids that can name a message, each once, in the form the store keeps them."""
    return list(dict.fromkeys(str(int(i)) for i in ids if is_message_id(i)))


def message(row: Sequence[Any]) -> StoredMessage:
    """A message from the reply row the scripts' `view` makes."""
    message_id, body, ttl, created, claim_id, claim_count = row
    return StoredMessage(
        id=message_id.decode(),
        body=msgspec.Raw(body),
        ttl=int(ttl),
        created=float(created),
        claim_id=claim_id.decode() or None,
        claim_count=int(claim_count),
    )
