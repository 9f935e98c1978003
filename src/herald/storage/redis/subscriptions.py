"""Subscriptions and the outbox in Redis: a script per change, plain reads otherwise.

A subscription is a hash under its id, indexed by its queue (ids by expiry,
and subscriber to id) and store-wide by expiry for the collector. A delivery
is a hash under a zero-padded id, indexed store-wide by due and by post time,
and under its subscription. docs/storage-redis.md has the layout.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from typing import cast

import msgspec

from herald.errors import Conflict
from herald.model import Delivery, Subscription
from herald.storage.kit import decode_metadata, encode_json, replacement
from herald.storage.redis.codec import flag, text, time_text
from herald.storage.redis.server import Server
from herald.storage.redis.wire import Arg

_DELIVERY_ID = re.compile(r"^[0-9]{16}$")


def _changeable(sub: Subscription) -> list[Arg]:
    """The subscriber, options, ttl, renewed, expires and confirmed, as scripts take them."""
    return [
        sub.subscriber,
        encode_json(sub.options),
        str(sub.ttl),
        time_text(sub.renewed),
        time_text(sub.expires),
        flag(sub.confirmed),
    ]


def _fields(found: Mapping[bytes | str, bytes | str]) -> dict[str, bytes]:
    return {text(k): v if isinstance(v, bytes) else v.encode() for k, v in found.items()}


def subscription_of(sub_id: str, fields: Mapping[str, bytes]) -> Subscription:
    """A subscription from its hash's fields."""
    return Subscription(
        id=sub_id,
        project=fields["p"].decode(),
        source=fields["n"].decode(),
        subscriber=fields["sub"].decode(),
        options=decode_metadata(fields["o"]),
        ttl=int(fields["t"]),
        renewed=float(fields["r"]),
        expires=float(fields["e"]),
        confirmed=fields["c"] == b"1",
    )


class Subscriptions:
    """The subscription and outbox operations of one Redis store."""

    def __init__(self, server: Server) -> None:
        self._server = server
        self._keys = server.keys

    async def create(self, sub: Subscription, now: float) -> tuple[Subscription, bool]:
        base = self._keys.queue_base(sub.project, sub.source)
        args = [sub.id, sub.project, sub.source, *_changeable(sub)]
        answer = await self._server.run("subscribe", base, now, args)
        if int(answer[0]) == 1:
            return sub, True
        _, holder, flat = answer
        fields = _fields(dict(zip(flat[::2], flat[1::2], strict=True)))
        return subscription_of(text(holder), fields), False

    async def _read(
        self, project: str, source: str, sub_id: str, now: float
    ) -> tuple[Subscription, bytes] | None:
        """The live subscription and its version, or None."""
        with self._server.guard():
            found = await self._server.client.hgetall(self._keys.subscription(sub_id))
        fields = _fields(found)
        if fields.get("q") != self._keys.queue_base(project, source).encode():
            return None
        sub = subscription_of(sub_id, fields)
        return (sub, fields["v"]) if sub.expires > now else None

    async def get(self, project: str, source: str, sub_id: str, now: float) -> Subscription | None:
        found = await self._read(project, source, sub_id, now)
        return None if found is None else found[0]

    async def page(
        self, project: str, source: str, marker: str | None, limit: int, now: float
    ) -> list[Subscription]:
        index = self._keys.subscriptions_of(self._keys.queue_base(project, source))
        with self._server.guard():
            client = self._server.client
            live = cast(
                list[bytes], await client.zrangebyscore(index, "(" + time_text(now), "+inf")
            )
            # A queue has few subscriptions: ordering them here is cheaper than
            # keeping a second index in step.
            after = sorted(i.decode() for i in live if marker is None or i.decode() > marker)
            ids = after[:limit]
            async with client.pipeline(transaction=False) as pipe:
                for sub_id in ids:
                    pipe.hgetall(self._keys.subscription(sub_id))
                hashes = await pipe.execute()
        found = []
        for sub_id, raw in zip(ids, hashes, strict=True):
            fields = _fields(raw)
            if fields and float(fields["e"]) > now:
                found.append(subscription_of(sub_id, fields))
        return found

    async def update(
        self,
        project: str,
        source: str,
        sub_id: str,
        change: Callable[[Subscription], Subscription],
        now: float,
    ) -> Subscription | None:
        base = self._keys.queue_base(project, source)
        while True:
            found = await self._read(project, source, sub_id, now)
            if found is None:
                return None
            old, version = found
            new = replacement(old, change(old))
            args = [sub_id, version, *_changeable(new)]
            outcome = text(await self._server.run("update_subscription", base, now, args))
            if outcome == "ok":
                return new
            if outcome == "gone":
                return None
            if outcome == "conflict":
                raise Conflict(f"queue {source!r} has a subscription for this subscriber already")
            # "changed": another update landed meanwhile; make this one again on it.

    async def delete(self, project: str, source: str, sub_id: str) -> None:
        base = self._keys.queue_base(project, source)
        await self._server.run("unsubscribe", base, 0.0, [sub_id])

    async def purge(self, project: str, source: str) -> None:
        base = self._keys.queue_base(project, source)
        await self._server.run("purge_subscriptions", base, 0.0)

    # The outbox

    async def lease(self, now: float, limit: int, length: float) -> list[Delivery]:
        until = now + length
        rows = await self._server.run("lease", None, now, [str(limit), time_text(until)])
        return [
            Delivery(
                id=row[0].decode(),
                project=row[1].decode(),
                source=row[2].decode(),
                subscription_id=row[3].decode(),
                message_id=row[4].decode(),
                body=msgspec.Raw(row[5]),
                ttl=int(row[6]),
                posted=float(row[7]),
                attempts=int(row[8]),
                due=until,
            )
            for row in rows
        ]

    async def retry(self, delivery_id: str, attempts: int, due: float) -> None:
        if _DELIVERY_ID.match(delivery_id):
            await self._server.run("retry", None, 0.0, [delivery_id, str(attempts), time_text(due)])

    async def finish(self, delivery_ids: Sequence[str]) -> None:
        ids = [delivery_id for delivery_id in delivery_ids if _DELIVERY_ID.match(delivery_id)]
        if ids:
            await self._server.run("finish", None, 0.0, ids)

    async def count(self) -> tuple[int, float | None]:
        with self._server.guard():
            async with self._server.client.pipeline(transaction=True) as pipe:
                pipe.zcard(self._keys.deliveries_due)
                pipe.zrange(self._keys.deliveries_posted, 0, 0, withscores=True)
                total, oldest = await pipe.execute()
        return int(total), float(oldest[0][1]) if oldest else None
