"""The store URI: Herald's own options, split from what goes to asyncpg."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit, urlunsplit

from herald.storage.kit import redacted

SCHEMES = ("postgresql", "postgres")
_SCHEMA_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")


@dataclass(frozen=True)
class PostgresOptions:
    """Herald's own URI parameters; every other one goes to asyncpg untouched."""

    dsn: str
    schema: str = "herald"
    min_size: int = 2
    max_size: int = 10
    connect_timeout: float = 5.0
    command_timeout: float = 30.0
    acquire_timeout: float = 10.0

    @classmethod
    def from_uri(cls, uri: str) -> PostgresOptions:
        """Split `postgresql://user@host:port/db?min_size=…` into options and a DSN."""
        parts = urlsplit(uri)
        if parts.scheme not in SCHEMES:
            raise ValueError(
                f"malformed PostgreSQL store URI {redacted(uri)!r}: expected "
                "postgresql://USER@HOST:PORT/DATABASE"
            )
        query = parse_qsl(parts.query, keep_blank_values=True)
        ours = {k: v for k, v in query if k in _OPTION_PARSERS}
        rest = [(k, v) for k, v in query if k not in _OPTION_PARSERS]
        values: dict[str, Any] = {}
        for key, text in ours.items():
            try:
                values[key] = _OPTION_PARSERS[key](text)
            except ValueError as exc:
                raise ValueError(
                    f"PostgreSQL store URI option {key}={text!r} is invalid: {exc}"
                ) from None
        options = cls(dsn=urlunsplit(parts._replace(query=urlencode(rest))), **values)
        if options.max_size < 1 or options.min_size > options.max_size:
            raise ValueError(
                f"PostgreSQL pool sizes need 0 <= min_size <= max_size and max_size >= 1, "
                f"not min_size={options.min_size}, max_size={options.max_size}"
            )
        return options

    @property
    def target(self) -> str:
        """host:port/database, for messages: never the password."""
        parts = urlsplit(self.dsn)
        host = parts.hostname or "localhost"
        database = unquote(parts.path.lstrip("/")) or "(default database)"
        return f"{host}:{parts.port or 5432}/{database}"


def _count(text: str) -> int:
    value = int(text)
    if value < 0:
        raise ValueError("must not be negative")
    return value


def _seconds(text: str) -> float:
    value = float(text)
    if not 0 < value < 86400:
        raise ValueError("must be a number of seconds above 0")
    return value


def _schema_name(text: str) -> str:
    if not _SCHEMA_NAME.match(text):
        raise ValueError(
            "must be 1 to 63 letters, digits or underscores, not starting with a digit"
        )
    return text


_OPTION_PARSERS: dict[str, Callable[[str], Any]] = {
    "schema": _schema_name,
    "min_size": _count,
    "max_size": _count,
    "connect_timeout": _seconds,
    "command_timeout": _seconds,
    "acquire_timeout": _seconds,
}
