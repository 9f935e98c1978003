"""Garbage collection: expired messages, claims and subscriptions leave Redis in
bounded batches."""

from __future__ import annotations

from collections.abc import Callable
from typing import cast

from herald.storage.redis.codec import time_text
from herald.storage.redis.server import Server

_BATCH = 500
_MOST_BATCHES = 100


async def collect_garbage(server: Server, now: float) -> int:
    """Remove what has expired by `now`; how many messages, claims and subscriptions went."""
    keys = server.keys
    # All three indexes are scored by expiry, so each batch costs its own size;
    # a bounded number of batches keeps one call from running on forever.
    gone = 0
    for index, record, script in (
        (keys.expiring, keys.message, "expire_messages"),
        (keys.claims, keys.claim, "expire_claims"),
        (keys.subscriptions, keys.subscription, "expire_subscriptions"),
    ):
        for _ in range(_MOST_BATCHES):
            seen, removed = await _collect_batch(server, now, index, record, script)
            gone += removed
            if seen < _BATCH:
                break
    return gone


async def _collect_batch(
    server: Server, now: float, index: str, record: Callable[[str], str], script: str
) -> tuple[int, int]:
    """One batch off an expiry index, grouped by queue; (how many seen, how many went)."""
    client = server.client
    with server.guard():
        ids = cast(
            list[bytes],
            await client.zrangebyscore(index, "-inf", time_text(now), start=0, num=_BATCH),
        )
        if not ids:
            return 0, 0
        async with client.pipeline(transaction=False) as pipe:
            for raw in ids:
                pipe.hget(record(raw.decode()), "q")
            owners = await pipe.execute()
    by_queue: dict[str, list[str]] = {}
    orphans: list[bytes] = []
    for raw, owner in zip(ids, owners, strict=True):
        if owner is None:
            orphans.append(raw)
        else:
            by_queue.setdefault(owner.decode(), []).append(raw.decode())
    removed = 0
    for base, members in by_queue.items():
        removed += int(await server.run(script, base, now, members))
    if orphans:
        with server.guard():
            await client.zrem(index, *orphans)
    return len(ids), removed
