"""Single-message deletes to one queue that arrive together go as one statement.

A delete whose message changed hands while its batch ran, or that was asked
for twice in it, is decided again on its own, holding the message's row.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import asyncpg  # type: ignore[import-untyped]

from herald.storage.base import DeleteOutcome, delete_verdict
from herald.storage.batching import Batcher
from herald.storage.postgres.database import Connection, Database
from herald.storage.postgres.keys import NO_CLAIM, claim_key
from herald.storage.postgres.statements import Statements


@dataclass(frozen=True, slots=True)
class Delete:
    """A single-message delete, waiting to go with the others to its queue."""

    rowid: int
    claim_id: str | None
    given: uuid.UUID | None
    now: float

    def verdict(self, row: Any) -> DeleteOutcome:
        """What the rules say, given the message's row as read (None: not found)."""
        if row is None:
            return DeleteOutcome.MISSING
        expires = row["claim_expires"]
        live = str(row["claim_id"]) if row["claim_id"] and expires > self.now else None
        return delete_verdict(live, self.claim_id, bool(row["given_live"]))


class Deletes:
    """The single-message deletes of this process, batched per queue."""

    def __init__(self, database: Database, sql: Statements) -> None:
        self._database = database
        self._sql = sql
        self._batcher: Batcher[tuple[str, str], Delete, DeleteOutcome | None] = Batcher(
            self._delete_batch
        )

    async def delete(
        self, project: str, queue: str, rowid: int, claim_id: str | None, now: float
    ) -> DeleteOutcome:
        """Delete the message if `delete_verdict` allows it, atomically."""
        given = None
        if claim_id is not None:
            # Text no claim can have still counts as a claim given (and gone).
            given = claim_key(claim_id) or NO_CLAIM
        request = Delete(rowid, claim_id, given, now)
        outcome = await self._batcher.submit((project, queue), request)
        if outcome is not None:
            return outcome

        async def locked(conn: Connection) -> DeleteOutcome:
            row = await conn.fetchrow(
                self._sql.message_to_delete, project, queue, rowid, now, given
            )
            verdict = request.verdict(row)
            if verdict is DeleteOutcome.DELETED:
                await conn.execute(
                    self._sql.delete_message_row, row["queue_id"], row["claimed"], rowid
                )
            return verdict

        # The message changed hands while its batch ran, or was asked for
        # twice in it: decide again holding its row.
        return await self._database.transaction(locked)

    async def _delete_batch(
        self, key: tuple[str, str], requests: list[Delete]
    ) -> list[DeleteOutcome | BaseException | None]:
        """Single-message deletes to one queue that came in together, in one statement;
        None for a delete to decide again under the row lock."""
        project, queue = key
        first: dict[int, int] = {}
        for i, request in enumerate(requests):
            first.setdefault(request.rowid, i)
        # In id order, as bulk deletes lock them, so that batches do not deadlock.
        sent = sorted((requests[i] for i in first.values()), key=lambda r: r.rowid)
        try:
            rows = await self._database.fetch(
                self._sql.delete_batch,
                project,
                queue,
                [r.rowid for r in sent],
                [r.given for r in sent],
                [r.now for r in sent],
            )
        except asyncpg.TransactionRollbackError:
            # A deadlock with another process's deletes rolled the statement
            # back whole: each delete is decided again on its own.
            return [None] * len(requests)
        found = {row["id"]: row for row in rows}
        outcomes: list[DeleteOutcome | BaseException | None] = []
        for i, request in enumerate(requests):
            if first[request.rowid] != i:
                outcomes.append(None)
                continue
            row = found.get(request.rowid)
            verdict = request.verdict(row)
            deleted = row is not None and row["deleted"]
            if deleted and verdict is not DeleteOutcome.DELETED:
                bug = f"deleted message {request.rowid} against the rules ({verdict})"
                outcomes.append(AssertionError(bug))
            elif verdict is DeleteOutcome.DELETED and not deleted:
                outcomes.append(None)
            else:
                outcomes.append(verdict)
        return outcomes
