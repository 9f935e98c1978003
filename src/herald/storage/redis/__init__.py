"""The Redis driver: every state change is one Lua script, so API nodes never race."""

from herald.storage.redis.keys import Keys
from herald.storage.redis.store import RedisStore

__all__ = ["Keys", "RedisStore"]
