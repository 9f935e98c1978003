"""The SQLite store: which worker runs each operation's job.

Writes go through one worker thread that commits them in groups; reads go
through another connection so they never wait behind an fsync. Every
operation is one job, so that it is one transaction.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import uuid
from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import unquote, urlsplit

from herald.model import (
    ApiKeyRecord,
    Claim,
    Delivery,
    MessageQuery,
    QueueEntry,
    QueueStats,
    StoredMessage,
    Subscription,
)
from herald.storage.base import (
    OUTBOX_WAKEUPS,
    WAKEUPS,
    DeleteOutcome,
    Plan,
    Prepare,
    SchemaVersion,
    Store,
    Wake,
)
from herald.storage.kit import check_durability, encode_json
from herald.storage.sqlite import (
    apikeys,
    checkpoints,
    claims,
    deliveries,
    messages,
    queues,
    subscriptions,
    wakeups,
)
from herald.storage.sqlite.schema import MIGRATIONS, check_not_newer, migrate, schema_version
from herald.storage.sqlite.sql import BATCH
from herald.storage.sqlite.worker import SQLiteWorker


class SQLiteStore(Store):
    """Queues, messages, claims, subscriptions and the outbox in one SQLite database file."""

    capabilities = frozenset({WAKEUPS, OUTBOX_WAKEUPS})

    def __init__(self, path: str, *, durability: str = "full") -> None:
        self.path = path
        self.durability = check_durability(durability)
        self._synchronous = self.durability.upper()
        self._checkpoints = checkpoints.Checkpointer(self._connect)
        self._writer = SQLiteWorker(
            self._connect_writer,
            name="herald-sqlite-writer",
            writer=True,
            lock_path=f"{path}-writer-lock",
            # A commit under `full` waits for an fsync, which must not hold up the loop.
            here=self.durability != "full",
            on_commit=self._checkpoints.committed,
        )
        self._reader = SQLiteWorker(
            self._connect, name="herald-sqlite-reader", writer=False, here=True
        )
        self._watches = wakeups.Watches(path, self._connect)

    @classmethod
    def from_uri(cls, uri: str, *, durability: str = "full") -> SQLiteStore:
        """Build from `sqlite:///relative/path` or `sqlite:////absolute/path`."""
        parts = urlsplit(uri)
        if parts.scheme != "sqlite" or parts.netloc or not parts.path.startswith("/"):
            raise ValueError(f"malformed SQLite store URI {uri!r}: expected sqlite:///PATH")
        path = unquote(parts.path[1:])
        if not path:
            raise ValueError(f"SQLite store URI {uri!r} names no file")
        return cls(path, durability=durability)

    def __repr__(self) -> str:
        return f"SQLiteStore({self.path!r}, durability={self.durability!r})"

    # Connections

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA busy_timeout = 10000")
        conn.execute(f"PRAGMA synchronous = {self._synchronous}")
        return conn

    def _connect_writer(self) -> sqlite3.Connection:
        conn = self._connect()
        try:
            conn.execute("PRAGMA journal_mode = WAL")
            # The checkpoint thread copies the log into the file; a commit checkpoints only
            # what it left, once the log is this long (pages; SQLite's default, pinned
            # here), so that the log restarts.
            conn.execute(f"PRAGMA wal_autocheckpoint = {checkpoints.WRITER_EVERY}")
            migrate(conn)
        except BaseException:
            conn.close()
            raise
        return conn

    async def open(self) -> None:
        directory = os.path.dirname(os.path.abspath(self.path))
        os.makedirs(directory, exist_ok=True)
        self._writer.start()
        self._reader.start()
        self._checkpoints.start()

    async def schema_version(self) -> SchemaVersion:
        current = await asyncio.to_thread(schema_version, self.path)
        check_not_newer(current)
        return SchemaVersion(current, len(MIGRATIONS))

    async def close(self) -> None:
        await self._watches.close()
        self._reader.stop()
        self._writer.stop()
        self._checkpoints.stop()

    async def ping(self) -> bool:
        try:
            return bool(await self._reader.run(lambda c: c.execute("SELECT 1").fetchone()))
        except Exception:
            return False

    # Queues

    async def create_queue(self, project: str, name: str, metadata: dict[str, Any]) -> bool:
        blob = encode_json(metadata)
        return await self._writer.run(lambda c: queues.create(c, project, name, blob))

    async def queue_metadata(self, project: str, name: str) -> dict[str, Any] | None:
        return await self._reader.run(lambda c: queues.metadata(c, project, name))

    async def update_queue_metadata(
        self, project: str, name: str, change: Callable[[dict[str, Any]], dict[str, Any]]
    ) -> dict[str, Any] | None:
        return await self._writer.run(lambda c: queues.update_metadata(c, project, name, change))

    async def delete_queue(self, project: str, name: str) -> None:
        await self._writer.run(lambda c: queues.delete(c, project, name))

    async def list_queues(
        self,
        project: str,
        *,
        marker: str | None,
        limit: int,
        prefix: str = "",
    ) -> list[QueueEntry]:
        return await self._reader.run(lambda c: queues.page(c, project, marker, limit, prefix))

    async def count_queues(self, project: str) -> int:
        return await self._reader.run(lambda c: queues.count(c, project))

    async def queue_stats(self, project: str, name: str, now: float) -> QueueStats:
        return await self._reader.run(lambda c: queues.stats(c, project, name, now))

    async def purge_messages(self, project: str, name: str) -> None:
        def job(conn: sqlite3.Connection) -> None:
            queue_id = queues.find(conn, project, name)
            if queue_id is not None:
                queues.purge(conn, queue_id)

        await self._writer.run(job)

    # Messages

    async def post_messages(
        self,
        project: str,
        queue: str,
        prepare: Prepare,
        client_id: str,
        now: float,
    ) -> list[str]:
        # Told before the post is queued as well as after it commits: a waiting claimer
        # woken now queues its claim behind the post in the same turn of the loop, so the
        # one writer runs both in one transaction, and the claim sees the post's rows.
        self._watches.signal(project, queue)
        ids, owes = await self._writer.run(
            lambda c: messages.post(c, project, queue, prepare, client_id, now)
        )
        self._watches.signal(project, queue, int(ids[-1]) if ids else 0)
        if owes:
            self._watches.signal(*wakeups.OUTBOX)
        return ids

    async def list_messages(
        self, project: str, queue: str, query: MessageQuery, now: float
    ) -> list[StoredMessage]:
        return await self._reader.run(lambda c: messages.page(c, project, queue, query, now))

    async def get_messages(
        self, project: str, queue: str, ids: list[str], now: float
    ) -> list[StoredMessage]:
        return await self._reader.run(lambda c: messages.get(c, project, queue, ids, now))

    async def delete_messages(
        self,
        project: str,
        queue: str,
        ids: list[str],
        claim_ids: list[str] | None,
        now: float,
    ) -> None:
        await self._writer.run(
            lambda c: messages.delete_many(c, project, queue, ids, claim_ids, now)
        )

    async def delete_message(
        self, project: str, queue: str, message_id: str, claim_id: str | None, now: float
    ) -> DeleteOutcome:
        return await self._writer.run(
            lambda c: messages.delete_one(c, project, queue, message_id, claim_id, now)
        )

    async def pop_messages(
        self, project: str, queue: str, limit: int, now: float
    ) -> list[StoredMessage]:
        return await self._writer.run(lambda c: messages.pop(c, project, queue, limit, now))

    # Claims

    async def create_claim(self, project: str, queue: str, plan: Plan, now: float) -> Claim | None:
        claim_id = str(uuid.uuid4())
        return await self._writer.run(
            lambda c: claims.create(c, project, queue, plan, claim_id, now)
        )

    async def move_messages(
        self,
        project: str,
        queue: str,
        claim_id: str,
        ids: list[str],
        target: str,
        ttl: int | None,
        now: float,
    ) -> int:
        moved = await self._writer.run(
            lambda c: claims.move(c, project, queue, claim_id, ids, target, ttl, now)
        )
        if moved:
            self._watches.signal(project, target)
        return moved

    async def get_claim(self, project: str, queue: str, claim_id: str, now: float) -> Claim | None:
        return await self._reader.run(lambda c: claims.get(c, project, queue, claim_id, now))

    async def renew_claim(
        self, project: str, queue: str, claim_id: str, ttl: int, grace: int, now: float
    ) -> bool:
        return await self._writer.run(
            lambda c: claims.renew(c, project, queue, claim_id, ttl, grace, now)
        )

    async def release_claim(self, project: str, queue: str, claim_id: str, now: float) -> None:
        if await self._writer.run(lambda c: claims.release(c, project, queue, claim_id, now)):
            self._watches.signal(project, queue)

    async def next_available(self, project: str, queue: str, now: float) -> float | None:
        return await self._reader.run(lambda c: wakeups.next_available(c, project, queue, now))

    # Wake-ups

    async def watch(self, project: str, queue: str, wake: Wake) -> None:
        self._watches.add(project, queue, wake)

    async def watch_outbox(self, wake: Wake) -> None:
        self._watches.add(*wakeups.OUTBOX, wake)

    async def unwatch_outbox(self) -> None:
        self._watches.remove(*wakeups.OUTBOX)

    async def unwatch(self, project: str, queue: str) -> None:
        self._watches.remove(project, queue)

    # API keys

    async def put_key(self, record: ApiKeyRecord) -> bool:
        return await self._writer.run(lambda c: apikeys.put(c, record))

    async def get_key(self, key_id: str) -> ApiKeyRecord | None:
        return await self._reader.run(lambda c: apikeys.get(c, key_id))

    async def list_keys(self, project: str | None) -> list[ApiKeyRecord]:
        return await self._reader.run(lambda c: apikeys.listing(c, project))

    async def revoke_key(self, key_id: str, now: float) -> ApiKeyRecord | None:
        return await self._writer.run(lambda c: apikeys.revoke(c, key_id, now))

    # Subscriptions

    async def create_subscription(self, sub: Subscription, now: float) -> tuple[Subscription, bool]:
        return await self._writer.run(lambda c: subscriptions.create(c, sub, now))

    async def get_subscription(
        self, project: str, source: str, subscription_id: str, now: float
    ) -> Subscription | None:
        return await self._reader.run(
            lambda c: subscriptions.get(c, project, source, subscription_id, now)
        )

    async def list_subscriptions(
        self, project: str, source: str, *, marker: str | None, limit: int, now: float
    ) -> list[Subscription]:
        return await self._reader.run(
            lambda c: subscriptions.page(c, project, source, marker, limit, now)
        )

    async def update_subscription(
        self,
        project: str,
        source: str,
        subscription_id: str,
        change: Callable[[Subscription], Subscription],
        now: float,
    ) -> Subscription | None:
        return await self._writer.run(
            lambda c: subscriptions.update(c, project, source, subscription_id, change, now)
        )

    async def delete_subscription(self, project: str, source: str, subscription_id: str) -> None:
        await self._writer.run(lambda c: subscriptions.delete(c, project, source, subscription_id))

    async def purge_subscriptions(self, project: str, source: str) -> None:
        await self._writer.run(lambda c: subscriptions.purge(c, project, source))

    # Deliveries

    async def lease_deliveries(self, now: float, limit: int, lease: float) -> list[Delivery]:
        return await self._writer.run(lambda c: deliveries.lease(c, now, limit, lease))

    async def retry_delivery(self, delivery_id: str, attempts: int, due: float) -> None:
        await self._writer.run(lambda c: deliveries.retry(c, delivery_id, attempts, due))

    async def finish_delivery(self, delivery_id: str) -> None:
        await self._writer.run(lambda c: deliveries.finish(c, [delivery_id]))

    async def finish_deliveries(self, delivery_ids: Sequence[str]) -> None:
        ids = list(delivery_ids)
        await self._writer.run(lambda c: deliveries.finish(c, ids))

    async def count_deliveries(self, now: float) -> tuple[int, float | None]:
        return await self._reader.run(deliveries.count)

    # Housekeeping

    async def collect_garbage(self, now: float) -> int:
        def job(conn: sqlite3.Connection) -> int:
            return (
                messages.delete_expired(conn, now)
                + claims.end_expired(conn, None, now)
                + subscriptions.delete_expired(conn, now)
                + wakeups.forget_releases(conn, now)
            )

        # Small batches keep each write transaction short; loop until clean.
        total = 0
        while True:
            gone = await self._writer.run(job)
            total += gone
            if gone < BATCH:
                return total
