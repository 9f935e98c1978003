"""The Redis store's settings, and how a store URI carries them."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from herald.storage.kit import redacted

DEFAULT_PREFIX = "herald"
# No ":" in a prefix, so that no prefix can pass for the start of another's keys.
_PREFIX = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
_SECONDS = ("socket_timeout", "connect_timeout")


@dataclass(frozen=True)
class RedisOptions:
    """Herald's own settings; `url` keeps every other query option for redis-py."""

    url: str
    prefix: str = DEFAULT_PREFIX
    socket_timeout: float = 5.0
    connect_timeout: float = 2.0

    def __post_init__(self) -> None:
        if not _PREFIX.match(self.prefix):
            raise ValueError(
                f"invalid Redis key prefix {self.prefix!r}: use 1-64 of A-Z a-z 0-9 _.-"
            )

    @classmethod
    def from_uri(cls, uri: str) -> RedisOptions:
        """Read `redis[s]://[user:pass@]host:port/db?prefix=NAME&socket_timeout=S…`."""
        parts = urlsplit(uri)
        if parts.scheme not in ("redis", "rediss") or not parts.netloc:
            raise ValueError(
                f"malformed Redis store URI {redacted(uri)!r}: expected redis://HOST:PORT/DB"
            )
        ours: dict[str, Any] = {}
        passed: list[tuple[str, str]] = []
        for name, value in parse_qsl(parts.query, keep_blank_values=True):
            if name == "prefix":
                ours["prefix"] = value
            elif name in _SECONDS:
                try:
                    ours[name] = float(value)
                except ValueError:
                    raise ValueError(
                        f"{name} in {redacted(uri)!r} must be a number of seconds"
                    ) from None
            else:
                passed.append((name, value))
        database = parts.path.strip("/")
        if database and not (database.isascii() and database.isdigit()):
            # redis-py would quietly use database 0 for a path it cannot read.
            raise ValueError(
                f"the database in Redis store URI {redacted(uri)!r} must be a number, "
                f"not {database!r}"
            )
        return cls(urlunsplit(parts._replace(query=urlencode(passed))), **ours)

    @property
    def where(self) -> str:
        """host:port/db, for messages: never the password."""
        parts = urlsplit(self.url)
        return f"{parts.hostname or 'localhost'}:{parts.port or 6379}{parts.path or '/0'}"
