"""What an API key is: how one is made, read back, and checked against its record.

A key is `<id>.<secret>`: 16 hex digits naming its record, then 256 random
bits in base64url proving the holder. Only the SHA-256 of the whole key is
stored; docs/security.md says why a fast hash is enough for such a secret.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Iterable

from herald.model import ApiKeyRecord

ID_BYTES = 8
SECRET_BYTES = 32
# token_urlsafe(32) gives 43 characters, without padding.
_KEY = re.compile(r"([0-9a-f]{16})\.[A-Za-z0-9_-]{43}")


class NewKey:
    """A key just made: the text to hand its holder once, and the record to store."""

    __slots__ = ("key", "record")

    def __init__(self, key: str, record: ApiKeyRecord) -> None:
        self.key = key
        self.record = record

    def __repr__(self) -> str:
        # Never the key itself: a NewKey may end up in a traceback or a log.
        return f"NewKey(id={self.record.id!r})"


def make_key(
    project: str, roles: Iterable[str], *, now: float, expires: float | None = None
) -> NewKey:
    """A fresh key for `project` with these roles, made now, maybe expiring."""
    key_id = secrets.token_hex(ID_BYTES)
    key = f"{key_id}.{secrets.token_urlsafe(SECRET_BYTES)}"
    record = ApiKeyRecord(
        id=key_id,
        secret_hash=digest(key),
        project=project,
        # Lower case, as role checks compare roles without regard to case.
        roles=tuple(sorted({role.strip().lower() for role in roles if role.strip()})),
        created=now,
        expires=expires,
    )
    return NewKey(key, record)


def key_id_of(text: str) -> str | None:
    """The id of a well-formed key, or None for text that cannot be a key."""
    found = _KEY.fullmatch(text)
    return None if found is None else found.group(1)


def digest(key: str) -> str:
    """The hash stored for a key: SHA-256 of its whole text, in hex."""
    return hashlib.sha256(key.encode("ascii")).hexdigest()


def matches(record: ApiKeyRecord, key: str) -> bool:
    """Whether `key` is the key of `record`, compared in constant time."""
    return hmac.compare_digest(record.secret_hash, digest(key))


def refusal(record: ApiKeyRecord, key: str, now: float) -> str | None:
    """Why `key` does not hold for its record at `now`, or None when it does."""
    if not matches(record, key):
        return "wrong secret"
    if record.revoked is not None:
        return "revoked"
    if record.expires is not None and record.expires <= now:
        return "expired"
    return None
