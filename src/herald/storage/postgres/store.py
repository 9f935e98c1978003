"""PostgreSQL store: FIFO by an identity column, claims with FOR UPDATE SKIP LOCKED.

Every operation is one statement or one transaction on a pooled asyncpg
connection (a claim reading on past set-aside messages takes more statements,
each complete by itself). Losing the server, a full pool or a timeout raises
`StoreUnavailable`; the pool reconnects by itself once the server is back.
docs/storage-postgres.md explains the schema and the URI options.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from operator import itemgetter
from typing import Any

import msgspec

from herald.model import (
    ApiKeyRecord,
    Claim,
    Delivery,
    MessageQuery,
    MessageRef,
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
from herald.storage.kit import (
    api_key_from_row,
    check_durability,
    decode_metadata,
    encode_json,
    in_order_asked,
    messages_from_rows,
    prefix_end,
    row_id,
    row_ids,
)
from herald.storage.postgres import subscriptions
from herald.storage.postgres.claims import create_claim, free_expired_claims, move_messages
from herald.storage.postgres.database import Connection, Database
from herald.storage.postgres.deletes import Deletes
from herald.storage.postgres.keys import (
    claim_key,
    claim_keys,
    marker_place,
    must_be_storable,
    storable,
)
from herald.storage.postgres.listing import list_messages
from herald.storage.postgres.options import PostgresOptions
from herald.storage.postgres.posts import Post, Posts
from herald.storage.postgres.statements import GC_BATCH, Statements
from herald.storage.postgres.wakeups import Listener, channel, outbox_channel


class PostgresStore(Store):
    """Queues, messages, claims, subscriptions and the outbox in PostgreSQL, shared by any
    number of Herald processes."""

    capabilities = frozenset({WAKEUPS, OUTBOX_WAKEUPS})

    def __init__(self, options: PostgresOptions, *, durability: str = "full") -> None:
        self.options = options
        self.durability = check_durability(durability)
        self.database = Database(options, self.durability)
        self.sql = Statements(options.schema)
        self._posts = Posts(self.database, self.sql)
        self._deletes = Deletes(self.database, self.sql)
        self._listener = Listener(options)

    @classmethod
    def from_uri(cls, uri: str, *, durability: str = "full") -> PostgresStore:
        """Build from `postgresql://user@host:port/db?min_size=N&max_size=N` (or postgres://)."""
        return cls(PostgresOptions.from_uri(uri), durability=durability)

    def __repr__(self) -> str:
        return f"PostgresStore({self.options.target!r}, schema={self.options.schema!r})"

    async def open(self) -> None:
        await self.database.open()

    async def schema_version(self) -> SchemaVersion:
        return await self.database.schema_version()

    async def close(self) -> None:
        await self._listener.close()
        await self.database.close()

    async def ping(self) -> bool:
        return await self.database.ping()

    # Queues

    async def create_queue(self, project: str, name: str, metadata: dict[str, Any]) -> bool:
        must_be_storable(project, name)
        text = encode_json(metadata).decode()
        return await self.database.fetchval(self.sql.create_queue, project, name, text) is not None

    async def queue_metadata(self, project: str, name: str) -> dict[str, Any] | None:
        if not storable(project, name):
            return None
        text = await self.database.fetchval(self.sql.queue_metadata, project, name)
        return None if text is None else decode_metadata(text)

    async def update_queue_metadata(
        self, project: str, name: str, change: Callable[[dict[str, Any]], dict[str, Any]]
    ) -> dict[str, Any] | None:
        if not storable(project, name):
            return None

        async def job(conn: Connection) -> dict[str, Any] | None:
            row = await conn.fetchrow(self.sql.queue_to_change, project, name)
            if row is None:
                return None
            metadata = change(decode_metadata(row["metadata"]))
            await conn.execute(self.sql.set_metadata, row["id"], encode_json(metadata).decode())
            return metadata

        return await self.database.transaction(job)

    async def delete_queue(self, project: str, name: str) -> None:
        if not storable(project, name):
            return

        async def job(conn: Connection) -> None:
            queue_id = await conn.fetchval(self.sql.queue_to_delete, project, name)
            if queue_id is not None:
                await self._purge(conn, queue_id)
                await conn.execute(self.sql.delete_queue_row, queue_id)
            await conn.execute(self.sql.purge_subscriptions, project, name)

        await self.database.transaction(job)

    async def list_queues(
        self,
        project: str,
        *,
        marker: str | None,
        limit: int,
        prefix: str = "",
    ) -> list[QueueEntry]:
        if not storable(project, prefix):
            return []
        after = marker_place(marker or "")
        end = prefix_end(prefix)
        sql = self.sql.list_queues(limit, bounded=end is not None)
        bounds = (after, prefix) if end is None else (after, prefix, end)
        rows = await self.database.fetch(sql, project, *bounds)
        return [QueueEntry(row["name"], decode_metadata(row["metadata"])) for row in rows]

    async def count_queues(self, project: str) -> int:
        if not storable(project):
            return 0
        return int(await self.database.fetchval(self.sql.count_queues, project))

    async def queue_stats(self, project: str, name: str, now: float) -> QueueStats:
        if not storable(project, name):
            return QueueStats(claimed=0, total=0)
        row = await self.database.fetchrow(self.sql.queue_stats, project, name, now)
        if not row["total"]:
            return QueueStats(claimed=0, total=0)
        return QueueStats(
            claimed=int(row["claimed"]),
            total=int(row["total"]),
            oldest=MessageRef(str(row["oldest"]), float(row["oldest_created"])),
            newest=MessageRef(str(row["newest"]), float(row["newest_created"])),
            delayed=int(row["delayed"]),
        )

    async def purge_messages(self, project: str, name: str) -> None:
        if not storable(project, name):
            return

        async def job(conn: Connection) -> None:
            queue_id = await conn.fetchval(self.sql.lock_queue, project, name)
            if queue_id is not None:
                await self._purge(conn, queue_id)

        await self.database.transaction(job)

    async def _purge(self, conn: Connection, queue_id: int) -> None:
        await conn.execute(self.sql.purge_messages, queue_id)
        await conn.execute(self.sql.purge_claims, queue_id)

    # Messages

    async def post_messages(
        self,
        project: str,
        queue: str,
        prepare: Prepare,
        client_id: str,
        now: float,
    ) -> list[str]:
        must_be_storable(project, queue, client_id)
        return await self._posts.submit(project, queue, Post(prepare, client_id, now))

    async def list_messages(
        self, project: str, queue: str, query: MessageQuery, now: float
    ) -> list[StoredMessage]:
        if not storable(project, queue):
            return []
        if not query.echo and not storable(query.client_id):
            query = msgspec.structs.replace(query, echo=True)  # no message is that client's
        return await list_messages(self.database, self.sql, project, queue, query, now)

    async def get_messages(
        self, project: str, queue: str, ids: list[str], now: float
    ) -> list[StoredMessage]:
        wanted = row_ids(ids)
        if not wanted or not storable(project, queue):
            return []
        rows = await self.database.fetch(self.sql.get_messages, project, queue, wanted, now)
        return in_order_asked(messages_from_rows(rows, now), wanted)

    async def delete_messages(
        self,
        project: str,
        queue: str,
        ids: list[str],
        claim_ids: list[str] | None,
        now: float,
    ) -> None:
        wanted = row_ids(ids)
        if not wanted or not storable(project, queue):
            return
        if claim_ids is None:
            await self.database.execute(self.sql.delete_messages, project, queue, wanted)
            return
        claims = claim_keys(claim_ids)
        if claims:
            sql = self.sql.delete_held_messages
            await self.database.execute(sql, project, queue, wanted, claims, now)

    async def delete_message(
        self, project: str, queue: str, message_id: str, claim_id: str | None, now: float
    ) -> DeleteOutcome:
        rowid = row_id(message_id)
        if rowid is None or not storable(project, queue):
            return DeleteOutcome.MISSING
        return await self._deletes.delete(project, queue, rowid, claim_id, now)

    async def pop_messages(
        self, project: str, queue: str, limit: int, now: float
    ) -> list[StoredMessage]:
        if not storable(project, queue):
            return []

        async def job(conn: Connection) -> list[StoredMessage]:
            found = await free_expired_claims(conn, self.sql, project, queue, now)
            if found is None:
                return []
            rows = await conn.fetch(self.sql.pop(limit), found[0], now)
            return messages_from_rows(sorted(rows, key=itemgetter("id")), now)

        return await self.database.run(job)

    # Claims

    async def create_claim(self, project: str, queue: str, plan: Plan, now: float) -> Claim | None:
        if not storable(project, queue):
            return None
        return await create_claim(self.database, self.sql, project, queue, plan, now)

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
        if not storable(project, queue):
            return 0
        must_be_storable(target)
        return await move_messages(
            self.database, self.sql, project, queue, claim_id, ids, target, ttl, now
        )

    async def get_claim(self, project: str, queue: str, claim_id: str, now: float) -> Claim | None:
        key = claim_key(claim_id)
        if key is None or not storable(project, queue):
            return None
        rows = await self.database.fetch(self.sql.get_claim, project, queue, key, now)
        if not rows:
            return None
        held = [r for r in rows if r["id"] is not None]
        ttl, updated = int(rows[0]["claim_ttl"]), float(rows[0]["updated"])
        return Claim(claim_id, ttl, updated, messages_from_rows(held, now))

    async def renew_claim(
        self, project: str, queue: str, claim_id: str, ttl: int, grace: int, now: float
    ) -> bool:
        key = claim_key(claim_id)
        if key is None or not storable(project, queue):
            return False
        args = (project, queue, key, now, ttl, now + ttl, grace)
        return bool(await self.database.fetchval(self.sql.renew_claim, *args))

    async def release_claim(self, project: str, queue: str, claim_id: str, now: float) -> None:
        key = claim_key(claim_id)
        if key is not None and storable(project, queue):
            wake = channel(self.options.schema, project, queue)
            await self.database.execute(self.sql.release_claim, project, queue, key, wake)

    async def next_available(self, project: str, queue: str, now: float) -> float | None:
        if not storable(project, queue):
            return None
        due = await self.database.fetchval(self.sql.next_available, project, queue, now)
        return None if due is None else float(due)

    # Wake-ups

    async def watch(self, project: str, queue: str, wake: Wake) -> None:
        await self._listener.add(channel(self.options.schema, project, queue), wake)

    async def unwatch(self, project: str, queue: str) -> None:
        await self._listener.remove(channel(self.options.schema, project, queue))

    async def watch_outbox(self, wake: Wake) -> None:
        await self._listener.add(outbox_channel(self.options.schema), wake)

    async def unwatch_outbox(self) -> None:
        await self._listener.remove(outbox_channel(self.options.schema))

    # API keys

    async def put_key(self, record: ApiKeyRecord) -> bool:
        must_be_storable(record.id, record.project, *record.roles)
        args = (record.id, record.secret_hash, record.project, list(record.roles))
        times = (record.created, record.expires, record.revoked)
        return await self.database.fetchval(self.sql.put_key, *args, *times) is not None

    async def get_key(self, key_id: str) -> ApiKeyRecord | None:
        if not storable(key_id):
            return None
        row = await self.database.fetchrow(self.sql.get_key, key_id)
        return None if row is None else api_key_from_row(row, row["roles"])

    async def list_keys(self, project: str | None) -> list[ApiKeyRecord]:
        if project is None:
            rows = await self.database.fetch(self.sql.list_keys)
        elif storable(project):
            rows = await self.database.fetch(self.sql.list_project_keys, project)
        else:
            return []
        return [api_key_from_row(row, row["roles"]) for row in rows]

    async def revoke_key(self, key_id: str, now: float) -> ApiKeyRecord | None:
        if not storable(key_id):
            return None
        row = await self.database.fetchrow(self.sql.revoke_key, key_id, now)
        return None if row is None else api_key_from_row(row, row["roles"])

    # Subscriptions

    async def create_subscription(self, sub: Subscription, now: float) -> tuple[Subscription, bool]:
        must_be_storable(sub.project, sub.source, sub.id, sub.subscriber)
        return await subscriptions.create(self.database, self.sql, sub, now)

    async def get_subscription(
        self, project: str, source: str, subscription_id: str, now: float
    ) -> Subscription | None:
        if not storable(project, source, subscription_id):
            return None
        return await subscriptions.get(
            self.database, self.sql, project, source, subscription_id, now
        )

    async def list_subscriptions(
        self, project: str, source: str, *, marker: str | None, limit: int, now: float
    ) -> list[Subscription]:
        if not storable(project, source):
            return []
        after = marker_place(marker or "")
        return await subscriptions.page(self.database, self.sql, project, source, after, limit, now)

    async def update_subscription(
        self,
        project: str,
        source: str,
        subscription_id: str,
        change: Callable[[Subscription], Subscription],
        now: float,
    ) -> Subscription | None:
        if not storable(project, source, subscription_id):
            return None

        def checked(old: Subscription) -> Subscription:
            new = change(old)
            must_be_storable(new.subscriber)
            return new

        return await subscriptions.update(
            self.database, self.sql, project, source, subscription_id, checked, now
        )

    async def delete_subscription(self, project: str, source: str, subscription_id: str) -> None:
        if storable(project, source, subscription_id):
            await subscriptions.delete(self.database, self.sql, project, source, subscription_id)

    async def purge_subscriptions(self, project: str, source: str) -> None:
        if storable(project, source):
            await subscriptions.delete(self.database, self.sql, project, source, None)

    # Deliveries

    async def lease_deliveries(self, now: float, limit: int, lease: float) -> list[Delivery]:
        return await subscriptions.lease(self.database, self.sql, now, limit, lease)

    async def retry_delivery(self, delivery_id: str, attempts: int, due: float) -> None:
        key = row_id(delivery_id)
        if key is not None:
            await self.database.execute(self.sql.retry_delivery, key, attempts, due)

    async def finish_delivery(self, delivery_id: str) -> None:
        key = row_id(delivery_id)
        if key is not None:
            await self.database.execute(self.sql.finish_delivery, key)

    async def finish_deliveries(self, delivery_ids: Sequence[str]) -> None:
        keys = row_ids(delivery_ids)
        if keys:
            await self.database.execute(self.sql.finish_deliveries, keys)

    async def count_deliveries(self, now: float) -> tuple[int, float | None]:
        row = await self.database.fetchrow(self.sql.count_deliveries)
        return int(row[0]), row[1]

    # Housekeeping

    async def collect_garbage(self, now: float) -> int:
        total = 0
        collectors = (
            self.sql.collect_claims,
            self.sql.collect_messages,
            self.sql.collect_subscriptions,
        )
        for sql in collectors:
            while True:
                gone = int(await self.database.fetchval(sql, now))
                total += gone
                if gone < GC_BATCH:
                    break
        return total
