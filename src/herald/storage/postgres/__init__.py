"""The PostgreSQL driver: queues, messages and claims shared by any number of Herald processes."""

from herald.storage.postgres.options import PostgresOptions
from herald.storage.postgres.store import PostgresStore

__all__ = ["PostgresOptions", "PostgresStore"]
