"""Making claims, and moving what a claim holds to another queue.

A claim takes the oldest claimable messages; with a maximum claim count, those
claimed that often already are held too, set aside, and do not count towards
its limit, so it reads on past them in further statements.
"""

from __future__ import annotations

import uuid
from typing import Any

from herald.model import Claim, ClaimRequest
from herald.storage.base import Plan
from herald.storage.kit import decode_metadata, messages_from_rows, row_ids
from herald.storage.postgres.database import Connection, Database
from herald.storage.postgres.keys import claim_key
from herald.storage.postgres.posts import lock_queue
from herald.storage.postgres.statements import Statements
from herald.storage.postgres.wakeups import channel


class _NothingMoved(Exception):
    """Rolls back a move that found nothing to move, with the target queue it made."""


async def free_expired_claims(
    conn: Connection, sql: Statements, project: str, queue: str, now: float
) -> tuple[int, dict[str, Any]] | None:
    """End the queue's expired claims so their messages are free again; the queue's
    id and metadata, or None when there is no such queue."""
    # A statement of its own: ending expired claims is complete by itself, and
    # claims locked by another transaction are skipped, as that one is ending them.
    row = await conn.fetchrow(sql.free_expired_claims, project, queue, now)
    return None if row is None else (int(row["id"]), decode_metadata(row["metadata"]))


async def create_claim(
    database: Database, sql: Statements, project: str, queue: str, plan: Plan, now: float
) -> Claim | None:
    """Claim the oldest claimable messages as `plan` asks, setting aside those
    claimed too often; None when there is no queue or nothing to claim."""
    claim_id = uuid.uuid4()

    def terms(request: ClaimRequest) -> tuple[Any, ...]:
        """The claim statement's parameters $3 to $7."""
        expires = now + request.ttl
        return (claim_id, expires, request.ttl, request.grace, request.max_claim_count)

    async def claim_oldest(conn: Connection) -> tuple[int, ClaimRequest, list[Any]] | None:
        found = await free_expired_claims(conn, sql, project, queue, now)
        if found is None:
            return None
        queue_id, metadata = found
        request = plan(metadata)
        rows = await conn.fetch(sql.claim(request.limit), queue_id, now, *terms(request), 0)
        return queue_id, request, rows

    # Ending expired claims (which reads the metadata too), then one
    # statement that claims: no explicit transaction, two round trips.
    started = await database.run(claim_oldest)
    if started is None:
        return None
    queue_id, request, rows = started
    held, step = list(rows), request.limit
    wanted = step - _fresh(rows)
    while wanted and len(rows) == step:
        # Messages set aside took places in the pick: read on past them. Each
        # statement stands alone (nobody else knows the claim id yet), so each
        # can be sent again if it never reached the server.
        step, after = wanted, rows[-1]["id"]
        rows = await database.fetch(sql.claim(step), queue_id, now, *terms(request), after)
        held += rows
        wanted -= _fresh(rows)
    if not held:
        return None
    fresh = [row for row in held if not row["exhausted"]]
    exhausted = [row for row in held if row["exhausted"]]
    return Claim(
        str(claim_id),
        request.ttl,
        now,
        messages_from_rows(fresh, now),
        messages_from_rows(exhausted, now),
    )


def _fresh(rows: list[Any]) -> int:
    return sum(1 for row in rows if not row["exhausted"])


async def move_messages(
    database: Database,
    sql: Statements,
    project: str,
    queue: str,
    claim_id: str,
    ids: list[str],
    target: str,
    ttl: int | None,
    now: float,
) -> int:
    """Move what the live claim holds among `ids` to the tail of `target`, in one
    transaction; how many moved."""
    wanted, key = row_ids(ids), claim_key(claim_id)
    if not wanted or key is None:
        return 0

    async def job(conn: Connection) -> int:
        target_id = await lock_queue(conn, sql, project, target)
        moved = int(await conn.fetchval(sql.move, project, queue, wanted, key, now, target_id, ttl))
        if not moved:
            raise _NothingMoved
        # Sent as this transaction commits: waiters of the target hear of the messages.
        await conn.execute(sql.notify, channel(sql.schema, project, target))
        return moved

    try:
        return await database.transaction(job)
    except _NothingMoved:
        return 0
