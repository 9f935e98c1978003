"""The Redis store's operations, each one script or one plain command.

Layout, atomicity and durability are described in docs/storage-redis.md.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from typing import Any, cast

from herald.model import (
    ApiKeyRecord,
    Claim,
    ClaimRequest,
    Delivery,
    MessageQuery,
    MessageRef,
    NewMessage,
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
    Store,
    Wake,
    delete_verdict,
)
from herald.storage.kit import check_durability, decode_metadata, encode_json, prefix_end
from herald.storage.redis.apikeys import ApiKeys
from herald.storage.redis.codec import flag, is_message_id, message, message_ids, time_text
from herald.storage.redis.collector import collect_garbage
from herald.storage.redis.keys import Keys
from herald.storage.redis.metadata import Changed, QueueMissing, SeenMetadata
from herald.storage.redis.options import DEFAULT_PREFIX, RedisOptions
from herald.storage.redis.server import Server
from herald.storage.redis.subscriptions import Subscriptions
from herald.storage.redis.wakeups import Channels
from herald.storage.redis.wire import Arg

# Keeps one claim's script short however many messages were claimed too often.
_MOST_SET_ASIDE = 1_000


class RedisStore(Store):
    """Queues, messages, claims, subscriptions and the outbox in one Redis database,
    under a key prefix."""

    capabilities = frozenset({WAKEUPS, OUTBOX_WAKEUPS})

    def __init__(
        self,
        url: str,
        *,
        prefix: str = DEFAULT_PREFIX,
        socket_timeout: float = 5.0,
        connect_timeout: float = 2.0,
    ) -> None:
        self.keys = Keys(prefix)
        self._server = Server(RedisOptions(url, prefix, socket_timeout, connect_timeout), self.keys)
        self.where = self._server.where
        self._metadata = SeenMetadata(self._server)
        self._api_keys = ApiKeys(self._server)
        self._subscriptions = Subscriptions(self._server)
        self._channels = Channels()

    @classmethod
    def from_uri(cls, uri: str, *, durability: str = "full") -> RedisStore:
        """Build from `redis[s]://[user:pass@]host:port/db?prefix=NAME`.

        `socket_timeout` and `connect_timeout` (seconds) may also be given in the
        query; `durability` is Redis's own persistence setting, not the URI's,
        but it must still be one there is."""
        check_durability(durability)
        options = RedisOptions.from_uri(uri)
        return cls(
            options.url,
            prefix=options.prefix,
            socket_timeout=options.socket_timeout,
            connect_timeout=options.connect_timeout,
        )

    def __repr__(self) -> str:
        return f"RedisStore({self.where!r}, prefix={self.keys.prefix!r})"

    # Connections

    async def open(self) -> None:
        await self._server.open()

    async def close(self) -> None:
        await self._channels.close()
        await self._server.close()

    async def ping(self) -> bool:
        return await self._server.ping()

    # Queues

    async def create_queue(self, project: str, name: str, metadata: dict[str, Any]) -> bool:
        base = self.keys.queue_base(project, name)
        with self._server.guard():
            async with self._server.client.pipeline(transaction=True) as pipe:
                pipe.hsetnx(base, "meta", encode_json(metadata))
                pipe.zadd(self.keys.queue_index(project), {name: 0})
                created, _ = await pipe.execute()
        return bool(created)

    async def queue_metadata(self, project: str, name: str) -> dict[str, Any] | None:
        with self._server.guard():
            blob = await self._server.client.hget(self.keys.queue_base(project, name), "meta")
        return None if blob is None else decode_metadata(blob)

    async def update_queue_metadata(
        self, project: str, name: str, change: Callable[[dict[str, Any]], dict[str, Any]]
    ) -> dict[str, Any] | None:
        base = self.keys.queue_base(project, name)

        def make(seen: bytes) -> bytes:
            if not seen:
                raise QueueMissing
            return encode_json(change(decode_metadata(seen)))

        async def send(updated: bytes, seen: bytes) -> bytes | Changed:
            refused = await self._server.run("update_metadata", base, 0.0, [seen, updated])
            if refused is not None:
                return Changed(bytes(refused[0]))
            self._metadata.remember(base, updated)
            return updated

        try:
            return decode_metadata(await self._metadata.attempt(base, make, send))
        except QueueMissing:
            return None

    async def delete_queue(self, project: str, name: str) -> None:
        await self._server.run("delete_queue", self.keys.queue_base(project, name), 0.0, [name])

    async def list_queues(
        self,
        project: str,
        *,
        marker: str | None,
        limit: int,
        prefix: str = "",
    ) -> list[QueueEntry]:
        index = self.keys.queue_index(project)
        # The index sorts names by their UTF-8 bytes, which is code-point order.
        start = prefix.encode()
        low = b"(" + marker.encode() if marker and marker.encode() >= start else b"[" + start
        end = prefix_end(prefix)
        high = b"+" if end is None else b"(" + end.encode()
        found: list[QueueEntry] = []
        with self._server.guard():
            while len(found) < limit:
                wanted = limit - len(found)
                names = cast(
                    list[bytes],
                    await self._server.client.zrangebylex(index, low, high, start=0, num=wanted),
                )
                if not names:
                    break
                async with self._server.client.pipeline(transaction=False) as pipe:
                    for raw in names:
                        pipe.hget(self.keys.queue_base(project, raw.decode()), "meta")
                    blobs = await pipe.execute()
                # A name is indexed exactly while its record exists, but should a
                # record be missing, the page is still filled from further names.
                for raw, blob in zip(names, blobs, strict=True):
                    if blob is not None:
                        found.append(QueueEntry(raw.decode(), decode_metadata(blob)))
                if len(names) < wanted:
                    break
                low = b"(" + names[-1]
        return found

    async def count_queues(self, project: str) -> int:
        with self._server.guard():
            return int(await self._server.client.zcard(self.keys.queue_index(project)))

    async def queue_stats(self, project: str, name: str, now: float) -> QueueStats:
        row = await self._server.run("stats", self.keys.queue_base(project, name), now)
        total, claimed = int(row[0]), int(row[1])
        if not total:
            return QueueStats(claimed=0, total=0)
        return QueueStats(
            claimed=claimed,
            total=total,
            oldest=MessageRef(row[3].decode(), float(row[4])),
            newest=MessageRef(row[5].decode(), float(row[6])),
            delayed=int(row[2]),
        )

    async def purge_messages(self, project: str, name: str) -> None:
        await self._server.run("purge", self.keys.queue_base(project, name), 0.0)

    # Messages

    async def post_messages(
        self,
        project: str,
        queue: str,
        prepare: Prepare,
        client_id: str,
        now: float,
    ) -> list[str]:
        base = self.keys.queue_base(project, queue)

        def make(seen: bytes) -> list[NewMessage]:
            return prepare(decode_metadata(seen) if seen else {})

        async def send(messages: list[NewMessage], seen: bytes) -> list[str] | Changed:
            args: list[Arg] = [queue, client_id, len(messages), seen, project]
            for m in messages:
                args += [
                    bytes(m.body),
                    str(m.ttl),
                    time_text(now + m.ttl),
                    time_text(now + m.delay),
                ]
            # With appendfsync always, Redis answers a script only after the AOF
            # holds it, so the ids below are returned no earlier than durable.
            answer = await self._server.run("post", base, now, args)
            if isinstance(answer, list):
                return Changed(bytes(answer[0]))
            self._metadata.remember(base, seen or b"{}")
            first = int(answer)
            return [str(first + i) for i in range(len(messages))]

        return await self._metadata.attempt(base, make, send)

    async def list_messages(
        self, project: str, queue: str, query: MessageQuery, now: float
    ) -> list[StoredMessage]:
        if query.marker and not is_message_id(query.marker):
            return []
        args = [
            str(int(query.marker)) if query.marker else "",
            str(query.limit),
            flag(query.echo),
            query.client_id,
            flag(query.include_claimed),
            flag(query.include_delayed),
        ]
        rows = await self._server.run("list", self.keys.queue_base(project, queue), now, args)
        return [message(row) for row in rows]

    async def get_messages(
        self, project: str, queue: str, ids: list[str], now: float
    ) -> list[StoredMessage]:
        wanted = message_ids(ids)
        if not wanted:
            return []
        rows = await self._server.run("get", self.keys.queue_base(project, queue), now, wanted)
        return [message(row) for row in rows]

    async def delete_messages(
        self,
        project: str,
        queue: str,
        ids: list[str],
        claim_ids: list[str] | None,
        now: float,
    ) -> None:
        wanted = message_ids(ids)
        if not wanted:
            return
        args = [flag(claim_ids is not None), str(len(wanted)), *wanted, *(claim_ids or [])]
        await self._server.run("delete_many", self.keys.queue_base(project, queue), now, args)

    async def delete_message(
        self, project: str, queue: str, message_id: str, claim_id: str | None, now: float
    ) -> DeleteOutcome:
        wanted = message_ids([message_id])
        if not wanted:
            return DeleteOutcome.MISSING
        found, live, given_live, deleted = await self._server.run(
            "delete_one", self.keys.queue_base(project, queue), now, [wanted[0], claim_id or ""]
        )
        if not found:
            return DeleteOutcome.MISSING
        verdict = delete_verdict(live.decode() or None, claim_id, bool(given_live))
        if (verdict is DeleteOutcome.DELETED) != bool(deleted):
            raise RuntimeError(f"the delete script disagrees with delete_verdict ({verdict})")
        return verdict

    async def pop_messages(
        self, project: str, queue: str, limit: int, now: float
    ) -> list[StoredMessage]:
        rows = await self._server.run(
            "pop", self.keys.queue_base(project, queue), now, [str(limit)]
        )
        return [message(row) for row in rows]

    # Claims

    async def create_claim(self, project: str, queue: str, plan: Plan, now: float) -> Claim | None:
        base = self.keys.queue_base(project, queue)

        def make(seen: bytes) -> ClaimRequest:
            if not seen:
                raise QueueMissing
            return plan(decode_metadata(seen))

        async def send(request: ClaimRequest, seen: bytes) -> Claim | Changed | None:
            claim_id = str(uuid.uuid4())
            until = now + request.ttl
            most = request.max_claim_count
            args: list[Arg] = [
                str(request.limit),
                claim_id,
                str(request.ttl),
                time_text(until),
                time_text(until + request.grace),
                str(request.ttl + request.grace),
                "" if most is None else str(most),
                str(_MOST_SET_ASIDE),
                seen,
            ]
            rows = await self._server.run("claim", base, now, args)
            if rows and isinstance(rows[0], bytes):
                return Changed(rows[0])
            self._metadata.remember(base, seen)
            if rows is None:
                return None
            taken, aside = rows
            return Claim(
                claim_id, request.ttl, now, [message(r) for r in taken], [message(r) for r in aside]
            )

        try:
            return await self._metadata.attempt(base, make, send)
        except QueueMissing:
            return None

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
        wanted = message_ids(ids)
        if not wanted:
            return 0
        args = [claim_id, target, "" if ttl is None else str(ttl), *wanted]
        base = self.keys.queue_base(project, queue)
        target_base = self.keys.queue_base(project, target)
        return int(await self._server.run("move", base, now, args, target_base))

    async def get_claim(self, project: str, queue: str, claim_id: str, now: float) -> Claim | None:
        row = await self._server.run(
            "get_claim", self.keys.queue_base(project, queue), now, [claim_id]
        )
        if row is None:
            return None
        ttl, updated, rows = row
        return Claim(claim_id, int(ttl), float(updated), [message(r) for r in rows])

    async def renew_claim(
        self, project: str, queue: str, claim_id: str, ttl: int, grace: int, now: float
    ) -> bool:
        until = now + ttl
        args = [claim_id, str(ttl), time_text(until), time_text(until + grace), str(ttl + grace)]
        return bool(
            await self._server.run("renew", self.keys.queue_base(project, queue), now, args)
        )

    async def release_claim(self, project: str, queue: str, claim_id: str, now: float) -> None:
        await self._server.run("release", self.keys.queue_base(project, queue), now, [claim_id])

    async def next_available(self, project: str, queue: str, now: float) -> float | None:
        # A script, not a pipeline of its own: it joins the loop turn's one round trip
        # and takes no connection from the pool, however many waiters ask at once.
        due = await self._server.run("next_available", self.keys.queue_base(project, queue), now)
        return None if due is None else float(due)

    # Wake-ups

    async def watch(self, project: str, queue: str, wake: Wake) -> None:
        # The scripts publish on the channel named as the queue's record.
        with self._server.guard():
            await self._channels.add(
                self._server.client, self.keys.queue_base(project, queue), wake
            )

    async def unwatch(self, project: str, queue: str) -> None:
        with self._server.guard():
            await self._channels.remove(self.keys.queue_base(project, queue))

    async def watch_outbox(self, wake: Wake) -> None:
        # The post script publishes on the channel named as the outbox's due index.
        with self._server.guard():
            await self._channels.add(self._server.client, self.keys.deliveries_due, wake)

    async def unwatch_outbox(self) -> None:
        with self._server.guard():
            await self._channels.remove(self.keys.deliveries_due)

    # API keys

    async def put_key(self, record: ApiKeyRecord) -> bool:
        return await self._api_keys.put(record)

    async def get_key(self, key_id: str) -> ApiKeyRecord | None:
        return await self._api_keys.get(key_id)

    async def list_keys(self, project: str | None) -> list[ApiKeyRecord]:
        return await self._api_keys.listing(project)

    async def revoke_key(self, key_id: str, now: float) -> ApiKeyRecord | None:
        return await self._api_keys.revoke(key_id, now)

    # Subscriptions

    async def create_subscription(self, sub: Subscription, now: float) -> tuple[Subscription, bool]:
        return await self._subscriptions.create(sub, now)

    async def get_subscription(
        self, project: str, source: str, subscription_id: str, now: float
    ) -> Subscription | None:
        return await self._subscriptions.get(project, source, subscription_id, now)

    async def list_subscriptions(
        self, project: str, source: str, *, marker: str | None, limit: int, now: float
    ) -> list[Subscription]:
        return await self._subscriptions.page(project, source, marker, limit, now)

    async def update_subscription(
        self,
        project: str,
        source: str,
        subscription_id: str,
        change: Callable[[Subscription], Subscription],
        now: float,
    ) -> Subscription | None:
        return await self._subscriptions.update(project, source, subscription_id, change, now)

    async def delete_subscription(self, project: str, source: str, subscription_id: str) -> None:
        await self._subscriptions.delete(project, source, subscription_id)

    async def purge_subscriptions(self, project: str, source: str) -> None:
        await self._subscriptions.purge(project, source)

    # Deliveries

    async def lease_deliveries(self, now: float, limit: int, lease: float) -> list[Delivery]:
        return await self._subscriptions.lease(now, limit, lease)

    async def retry_delivery(self, delivery_id: str, attempts: int, due: float) -> None:
        await self._subscriptions.retry(delivery_id, attempts, due)

    async def finish_delivery(self, delivery_id: str) -> None:
        await self._subscriptions.finish([delivery_id])

    async def finish_deliveries(self, delivery_ids: Sequence[str]) -> None:
        await self._subscriptions.finish(delivery_ids)

    async def count_deliveries(self, now: float) -> tuple[int, float | None]:
        return await self._subscriptions.count()

    # Housekeeping

    async def collect_garbage(self, now: float) -> int:
        return await collect_garbage(self._server, now)
