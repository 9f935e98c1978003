"""Subscriptions and the outbox in PostgreSQL.

A subscriber is unique per source through an index, which counts expired rows
too: creating or updating first removes an expired holder in the same
transaction, so that only live ones block.
"""

from __future__ import annotations

from collections.abc import Callable
from operator import itemgetter
from typing import Any

import asyncpg  # type: ignore[import-untyped]

from herald.errors import Conflict, ServiceUnavailable
from herald.model import Delivery, Subscription
from herald.storage.kit import delivery_from_row, encode_json, replacement, subscription_from_row
from herald.storage.postgres.database import ATTEMPTS, Connection, Database
from herald.storage.postgres.failures import PUBLIC
from herald.storage.postgres.statements import Statements


def _changeable(sub: Subscription) -> tuple[Any, ...]:
    """The subscriber, options, ttl, renewed, expires and confirmed of a subscription."""
    options = encode_json(sub.options).decode()
    return (sub.subscriber, options, sub.ttl, sub.renewed, sub.expires, sub.confirmed)


async def create(
    database: Database, sql: Statements, sub: Subscription, now: float
) -> tuple[Subscription, bool]:
    """Store `sub` unless a live subscription has its subscriber (answered then)."""
    key = (sub.project, sub.source)

    async def job(conn: Connection) -> Subscription | None:
        await conn.execute(sql.drop_expired_holder, *key, sub.subscriber, now)
        if await conn.fetchval(sql.insert_subscription, *key, sub.id, *_changeable(sub)):
            return sub
        return None

    for _ in range(ATTEMPTS):
        if await database.transaction(job) is not None:
            return sub, True
        # The insert waited for whoever holds the subscriber and found it taken.
        row = await database.fetchrow(sql.subscription_holder, *key, sub.subscriber, now)
        if row is not None:
            return subscription_from_row(row), False
    raise ServiceUnavailable(
        "The subscription kept being created and expiring meanwhile. Retry later.", public=PUBLIC
    )


async def get(
    database: Database, sql: Statements, project: str, source: str, sub_id: str, now: float
) -> Subscription | None:
    """The live subscription with this id, or None."""
    row = await database.fetchrow(sql.get_subscription, project, source, sub_id, now)
    return None if row is None else subscription_from_row(row)


async def page(
    database: Database,
    sql: Statements,
    project: str,
    source: str,
    marker: str,
    limit: int,
    now: float,
) -> list[Subscription]:
    """Up to `limit` live subscriptions with ids after `marker`, by id."""
    rows = await database.fetch(sql.list_subscriptions(limit), project, source, marker, now)
    return [subscription_from_row(row) for row in rows]


async def update(
    database: Database,
    sql: Statements,
    project: str,
    source: str,
    sub_id: str,
    change: Callable[[Subscription], Subscription],
    now: float,
) -> Subscription | None:
    """Replace the live subscription by `change(old)`; None when there is none."""

    async def job(conn: Connection) -> Subscription | None:
        row = await conn.fetchrow(sql.subscription_to_change, project, source, sub_id, now)
        if row is None:
            return None
        old = subscription_from_row(row)
        new = replacement(old, change(old))
        if new.subscriber != old.subscriber:
            await conn.execute(sql.drop_expired_holder, project, source, new.subscriber, now)
        try:
            await conn.execute(sql.set_subscription, project, source, sub_id, *_changeable(new))
        except asyncpg.UniqueViolationError as exc:
            raise Conflict(
                f"queue {source!r} has a subscription for this subscriber already"
            ) from exc
        return new

    return await database.transaction(job)


async def delete(
    database: Database, sql: Statements, project: str, source: str, sub_id: str | None
) -> None:
    """Remove one subscription of the source (every one when None) and what is owed to it."""
    if sub_id is None:
        await database.execute(sql.purge_subscriptions, project, source)
    else:
        await database.execute(sql.delete_subscription, project, source, sub_id)


async def lease(
    database: Database, sql: Statements, now: float, limit: int, length: float
) -> list[Delivery]:
    """Take up to `limit` due deliveries, by (due, id), until `now + length`."""
    rows = await database.fetch(sql.lease_deliveries(limit), now, now + length)
    rows.sort(key=itemgetter("was_due", "id"))
    return [delivery_from_row(row) for row in rows]
