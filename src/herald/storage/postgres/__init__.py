"""The PostgreSQL driver: queues, messages and claims shared by any number of Herald processes."""

from herald.storage.postgres.store import PostgresOptions, PostgresStore

__all__ = ["PostgresOptions", "PostgresStore"]
