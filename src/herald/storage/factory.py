"""The store a URI names: the one module that knows every driver."""

from __future__ import annotations

from urllib.parse import urlsplit

from herald.storage.base import Store


def open_store(uri: str, *, durability: str = "full") -> Store:
    """Build (but do not open) the driver a store URI names."""
    scheme = urlsplit(uri).scheme
    if scheme == "sqlite":
        from herald.storage.sqlite import SQLiteStore

        return SQLiteStore.from_uri(uri, durability=durability)
    if scheme in ("redis", "rediss"):
        from herald.storage.redis import RedisStore

        return RedisStore.from_uri(uri, durability=durability)
    if scheme in ("postgresql", "postgres"):
        from herald.storage.postgres import PostgresStore

        return PostgresStore.from_uri(uri, durability=durability)
    raise ValueError(
        f"unsupported store URI {uri!r}: expected sqlite:///PATH, "
        "redis://HOST:PORT/DB or postgresql://USER@HOST:PORT/DB"
    )
