"""The embedded default store: one SQLite file in WAL mode.

`store` maps the Store methods onto jobs; `queues`, `messages` and `claims`
hold the jobs, each run inside a transaction of a `worker`; `schema` holds the
tables and their migrations.
"""

from herald.storage.sqlite.store import SQLiteStore

__all__ = ["SQLiteStore"]
