"""A page of a queue's messages: a walk along the primary key from the marker.

The conditions a query adds (echo, delayed) are computed as a column and
applied here, so that the scan's plan never depends on how many rows they
keep; when they hide rows, the walk goes on in bigger steps.
"""

from __future__ import annotations

from operator import itemgetter
from typing import Any

from herald.model import MessageQuery, StoredMessage
from herald.storage.kit import messages_from_rows, row_id
from herald.storage.postgres.database import Connection, Database
from herald.storage.postgres.statements import Statements

# Rows a listing scans per round trip once the first round found hidden rows.
SCAN_STEPS = (100, 1000)


async def list_messages(
    database: Database,
    sql: Statements,
    project: str,
    queue: str,
    query: MessageQuery,
    now: float,
) -> list[StoredMessage]:
    """Up to `query.limit` of the queue's messages after its marker that it shows."""
    after = row_id(query.marker) if query.marker else 0
    if after is None:
        return []
    hidden_client = () if query.echo else (query.client_id,)
    limit = int(query.limit)
    ranges = 2 if query.include_claimed else 1

    def statement(batch: int) -> str:
        return sql.list_messages(
            include_claimed=query.include_claimed,
            include_delayed=query.include_delayed,
            echo=query.echo,
            batch=batch,
            limit=limit,
        )

    async def job(conn: Connection) -> list[StoredMessage]:
        found: list[Any] = []
        position, batch = after, limit
        while True:
            rows = await conn.fetch(statement(batch), project, queue, position, now, *hidden_client)
            # Rows past the end of a scan that filled its batch are not known
            # to be the next ones yet: they wait for the next round.
            full = [
                max(r["id"] for r in rows if r["part"] == n)
                for n in range(ranges)
                if sum(1 for r in rows if r["part"] == n) == batch
            ]
            edge = min(full) if full else None
            shown_rows = [r for r in rows if r["shown"] and (edge is None or r["id"] <= edge)]
            shown_rows.sort(key=itemgetter("id"))
            found += shown_rows[: limit - len(found)]
            if len(found) == limit or edge is None:
                return messages_from_rows(found, now)
            # Rows were hidden: scan on in bigger steps.
            step = SCAN_STEPS[0] if batch < SCAN_STEPS[0] else SCAN_STEPS[1]
            position, batch = edge, max(batch, step)

    return await database.run(job)
