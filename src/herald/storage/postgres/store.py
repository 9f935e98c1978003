"""PostgreSQL store: FIFO by an identity column, claims with FOR UPDATE SKIP LOCKED.

Every operation is one statement or one transaction on a pooled asyncpg
connection. Losing the server, a full pool or a timeout raises
`ServiceUnavailable`; the pool reconnects by itself once the server is back.
docs/storage-postgres.md explains the schema and the URI options.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import asyncpg  # type: ignore[import-untyped]

from herald.errors import ServiceUnavailable
from herald.model import (
    Claim,
    ClaimRequest,
    MessageQuery,
    MessageRef,
    NewMessage,
    QueueEntry,
    QueueStats,
    StoredMessage,
)
from herald.storage.base import (
    DeleteOutcome,
    Plan,
    Prepare,
    Store,
    delete_verdict,
)
from herald.storage.batching import Batcher
from herald.storage.kit import (
    MESSAGE_COLUMNS,
    check_durability,
    decode_metadata,
    encode_json,
    in_order_asked,
    messages_from_rows,
    row_id,
    row_ids,
)
from herald.storage.postgres.database import ATTEMPTS, Connection, Database
from herald.storage.postgres.options import PostgresOptions
from herald.storage.postgres.schema import quote_ident

_GC_BATCH = 1000
_LIST_BATCH = 100
# Rows a listing scans per round trip once the first round found hidden rows.
_SCAN_STEPS = (100, 1000)
# Lookups by id name both key ranges of the primary key so that they seek.
_EITHER_STATE = "claimed IN (false, true)"
_NO_CLAIM = uuid.UUID(int=0)  # claim ids are version 4: never this one


@dataclass(frozen=True, slots=True)
class _Post:
    """A post waiting to be made and inserted with the others to its queue."""

    prepare: Prepare
    client_id: str
    now: float


@dataclass(frozen=True, slots=True)
class _Delete:
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


class PostgresStore(Store):
    """Queues, messages and claims in PostgreSQL, shared by any number of Herald processes."""

    def __init__(self, options: PostgresOptions, *, durability: str = "full") -> None:
        self.options = options
        self.durability = check_durability(durability)
        self.database = Database(options, self.durability)
        schema = quote_ident(options.schema)
        self._queues = f"{schema}.queues"
        self._messages = f"{schema}.messages"
        self._claims = f"{schema}.claims"
        # Posts to one queue wait for its row lock anyway: those that arrive
        # meanwhile go together, under one lock and one commit.
        self._posts: Batcher[tuple[str, str], _Post, list[str]] = Batcher(
            self._insert_posts, exclusive=True
        )
        self._deletes: Batcher[tuple[str, str], _Delete, DeleteOutcome | None] = Batcher(
            self._delete_batch
        )
        # The queue named by parameters $1 (project) and $2 (name).
        self._queue_of = f"(SELECT id FROM {self._queues} WHERE project = $1 AND name = $2)"

    @classmethod
    def from_uri(cls, uri: str, *, durability: str = "full") -> PostgresStore:
        """Build from `postgresql://user@host:port/db?min_size=N&max_size=N` (or postgres://)."""
        return cls(PostgresOptions.from_uri(uri), durability=durability)

    def __repr__(self) -> str:
        return f"PostgresStore({self.options.target!r}, schema={self.options.schema!r})"

    async def open(self) -> None:
        await self.database.open()

    async def close(self) -> None:
        await self.database.close()

    async def ping(self) -> bool:
        return await self.database.ping()

    # Queues

    async def create_queue(self, project: str, name: str, metadata: dict[str, Any]) -> bool:
        text = encode_json(metadata).decode()

        async def job(conn: Connection) -> bool:
            made = await conn.fetchval(
                f"INSERT INTO {self._queues} (project, name, metadata) VALUES ($1, $2, $3) "
                "ON CONFLICT (project, name) DO NOTHING RETURNING id",
                project,
                name,
                text,
            )
            return made is not None

        return await self.database.run(job)

    async def queue_metadata(self, project: str, name: str) -> dict[str, Any] | None:
        async def job(conn: Connection) -> dict[str, Any] | None:
            text = await conn.fetchval(
                f"SELECT metadata FROM {self._queues} WHERE project = $1 AND name = $2",
                project,
                name,
            )
            return None if text is None else decode_metadata(text)

        return await self.database.run(job)

    async def update_queue_metadata(
        self, project: str, name: str, change: Callable[[dict[str, Any]], dict[str, Any]]
    ) -> dict[str, Any] | None:
        async def job(conn: Connection) -> dict[str, Any] | None:
            row = await conn.fetchrow(
                f"SELECT id, metadata FROM {self._queues} WHERE project = $1 AND name = $2 "
                "FOR NO KEY UPDATE",
                project,
                name,
            )
            if row is None:
                return None
            metadata = change(decode_metadata(row["metadata"]))
            await conn.execute(
                f"UPDATE {self._queues} SET metadata = $2 WHERE id = $1",
                row["id"],
                encode_json(metadata).decode(),
            )
            return metadata

        return await self.database.transaction(job)

    async def delete_queue(self, project: str, name: str) -> None:
        async def job(conn: Connection) -> None:
            # FOR UPDATE waits for posts in progress, so none can add messages
            # to the queue after its messages are gone.
            queue_id = await conn.fetchval(
                f"SELECT id FROM {self._queues} WHERE project = $1 AND name = $2 FOR UPDATE",
                project,
                name,
            )
            if queue_id is not None:
                await self._purge(conn, queue_id)
                await conn.execute(f"DELETE FROM {self._queues} WHERE id = $1", queue_id)

        await self.database.transaction(job)

    async def list_queues(
        self,
        project: str,
        *,
        marker: str | None,
        limit: int,
        prefix: str = "",
    ) -> list[QueueEntry]:
        wanted = _PrefixOnly(prefix)
        # Filters are Python semantics (regex, equality of decoded JSON), so a
        # filtered listing reads the project's queues a batch at a time.
        batch = max(limit, _LIST_BATCH) if wanted.selective else limit

        async def job(conn: Connection) -> list[QueueEntry]:
            found: list[QueueEntry] = []
            after = marker or ""
            while True:
                rows = await conn.fetch(
                    f"SELECT name, metadata FROM {self._queues} WHERE project = $1 AND name > $2 "
                    f"ORDER BY name LIMIT {batch}",
                    project,
                    after,
                )
                for row in rows:
                    name = row["name"]
                    if not wanted.accepts_name(name):
                        continue
                    metadata = decode_metadata(row["metadata"])
                    if not wanted.accepts_metadata(metadata):
                        continue
                    found.append(QueueEntry(name, metadata))
                    if len(found) == limit:
                        return found
                if len(rows) < batch:
                    return found
                after = rows[-1]["name"]

        return await self.database.run(job)

    async def count_queues(self, project: str) -> int:
        async def job(conn: Connection) -> int:
            return int(
                await conn.fetchval(
                    f"SELECT count(*) FROM {self._queues} WHERE project = $1", project
                )
            )

        return await self.database.run(job)

    async def queue_stats(self, project: str, name: str, now: float) -> QueueStats:
        async def job(conn: Connection) -> QueueStats:
            row = await conn.fetchrow(
                f"""
                WITH live AS (
                    SELECT count(*) AS total,
                           count(*) FILTER (WHERE claim_id IS NOT NULL
                                            AND claim_expires > $3) AS claimed,
                           min(id) AS oldest, max(id) AS newest
                    FROM {self._messages} WHERE queue_id = {self._queue_of} AND expires > $3
                )
                SELECT live.*,
                    (SELECT created FROM {self._messages} WHERE queue_id = {self._queue_of}
                     AND {_EITHER_STATE} AND id = live.oldest) AS oldest_created,
                    (SELECT created FROM {self._messages} WHERE queue_id = {self._queue_of}
                     AND {_EITHER_STATE} AND id = live.newest) AS newest_created
                FROM live
                """,
                project,
                name,
                now,
            )
            if not row["total"]:
                return QueueStats(claimed=0, total=0)
            return QueueStats(
                claimed=int(row["claimed"]),
                total=int(row["total"]),
                oldest=MessageRef(str(row["oldest"]), float(row["oldest_created"])),
                newest=MessageRef(str(row["newest"]), float(row["newest_created"])),
            )

        return await self.database.run(job)

    async def purge_messages(self, project: str, name: str) -> None:
        async def job(conn: Connection) -> None:
            queue_id = await conn.fetchval(
                f"SELECT id FROM {self._queues} WHERE project = $1 AND name = $2 FOR NO KEY UPDATE",
                project,
                name,
            )
            if queue_id is not None:
                await self._purge(conn, queue_id)

        await self.database.transaction(job)

    async def _purge(self, conn: Connection, queue_id: int) -> None:
        await conn.execute(f"DELETE FROM {self._messages} WHERE queue_id = $1", queue_id)
        await conn.execute(f"DELETE FROM {self._claims} WHERE queue_id = $1", queue_id)

    # Messages

    async def post_messages(
        self,
        project: str,
        queue: str,
        prepare: Prepare,
        client_id: str,
        now: float,
    ) -> list[str]:
        return await self._posts.submit((project, queue), _Post(prepare, client_id, now))

    async def _insert_posts(
        self, key: tuple[str, str], posts: list[_Post]
    ) -> list[list[str] | BaseException]:
        """Insert the posts to one queue that came in together: one metadata read
        and one statement for all of them."""
        project, queue = key
        metadata = await self.queue_metadata(project, queue) or {}
        prepared: list[list[NewMessage] | BaseException] = []
        for post in posts:
            try:
                prepared.append(post.prepare(metadata))
            except Exception as exc:  # refused by the service's rules: this post only
                prepared.append(exc)
        rows = [
            (post, m)
            for post, messages in zip(posts, prepared, strict=True)
            if not isinstance(messages, BaseException)
            for m in messages
        ]
        if not rows:
            return [m if isinstance(m, BaseException) else [] for m in prepared]
        arrays = (
            [post.client_id for post, _ in rows],
            [post.now for post, _ in rows],
            [bytes(m.body) for _, m in rows],
            [m.ttl for _, m in rows],
            [m.delay for _, m in rows],
        )

        async def insert(conn: Connection) -> list[int]:
            # Locking the queue row makes posts to one queue take turns until
            # they commit, so ids become visible in order and a reader paging
            # by marker can never step past a message committed later.
            found = await conn.fetch(
                f"""
                WITH q AS (
                    SELECT id FROM {self._queues} WHERE project = $1 AND name = $2
                    FOR NO KEY UPDATE
                )
                INSERT INTO {self._messages}
                    (queue_id, client_id, body, ttl, created, expires, available)
                SELECT q.id, m.client_id, m.body, m.ttl, m.now, m.now + m.ttl,
                       m.now + m.delay
                FROM q, unnest($3::text[], $4::float8[], $5::bytea[], $6::int4[], $7::int4[])
                    WITH ORDINALITY AS m(client_id, now, body, ttl, delay, n)
                ORDER BY m.n
                RETURNING id
                """,
                project,
                queue,
                *arrays,
            )
            # Identity values are drawn in the ORDER BY's order.
            return sorted(r["id"] for r in found)

        async def create_then_insert(conn: Connection) -> list[int]:
            await self._lock_queue(conn, project, queue)
            return await insert(conn)

        ids = await self.database.run(insert)
        if not ids:
            # The queue did not exist: create it (or find it created meanwhile)
            # and post, in one transaction that holds the queue's row throughout.
            ids = await self.database.transaction(create_then_insert)
        if len(ids) != len(rows):
            raise AssertionError(f"posting {len(rows)} messages to {queue} inserted {len(ids)}")
        answers: list[list[str] | BaseException] = []
        start = 0
        for messages in prepared:
            if isinstance(messages, BaseException):
                answers.append(messages)
                continue
            end = start + len(messages)
            answers.append([str(i) for i in ids[start:end]])
            start = end
        return answers

    async def list_messages(
        self, project: str, queue: str, query: MessageQuery, now: float
    ) -> list[StoredMessage]:
        after = row_id(query.marker) if query.marker else 0
        if after is None:
            return []
        args: list[Any] = [project, queue, after, now]
        conditions = ["m.expires > $4"]
        if not query.include_delayed:
            conditions.append("m.available <= $4")
        if not query.echo:
            args.append(query.client_id)
            conditions.append(f"m.client_id <> ${len(args)}")
        shown = " AND ".join(conditions)
        limit = int(query.limit)
        # Unclaimed messages, and with include_claimed the claimed ones too: each
        # a range of the primary key, read in FIFO order.
        ranges = ["false", "true"] if query.include_claimed else ["false"]

        def statement(batch: int) -> str:
            # Each scan's WHERE holds only what the primary key answers and its
            # LIMIT is a literal, so the plan is always a walk along the key,
            # however badly the planner would guess how many rows the other
            # conditions keep. Those are computed into the `shown` column.
            parts = [
                f"""
                (SELECT id, CASE WHEN shown THEN body END AS body, ttl, created, claim_id,
                        claim_expires, claim_count, shown, {n} AS part
                 FROM (
                    SELECT m.*, ({shown}) AS shown FROM {self._messages} m
                    WHERE m.queue_id = {self._queue_of} AND m.claimed = {claimed}
                      AND m.id > $3
                    ORDER BY m.id LIMIT {batch}
                 ) AS scanned)
                """
                for n, claimed in enumerate(ranges)
            ]
            if not query.include_claimed:
                # Messages whose claim has expired but was not ended yet still
                # sit in the claimed range: reach them through their claim
                # rather than by stepping over every live claimed message.
                parts.append(
                    f"""
                    (SELECT m.id, m.body, m.ttl, m.created, m.claim_id, m.claim_expires,
                            m.claim_count, true, -1
                     FROM {self._claims} c
                     JOIN {self._messages} m ON m.claim_id = c.id AND m.queue_id = c.queue_id
                     WHERE c.queue_id = {self._queue_of} AND c.expires <= $4 AND m.id > $3
                       AND {shown}
                     ORDER BY m.id LIMIT {limit})
                    """
                )
            return " UNION ALL ".join(parts)

        async def job(conn: Connection) -> list[StoredMessage]:
            found: list[Any] = []
            position, batch = after, limit
            while True:
                rows = await conn.fetch(statement(batch), *args[:2], position, *args[3:])
                # Rows past the end of a scan that filled its batch are not known
                # to be the next ones yet: they wait for the next round.
                full = [
                    max(r["id"] for r in rows if r["part"] == n)
                    for n in range(len(ranges))
                    if sum(1 for r in rows if r["part"] == n) == batch
                ]
                edge = min(full) if full else None
                shown_rows = [r for r in rows if r["shown"] and (edge is None or r["id"] <= edge)]
                shown_rows.sort(key=_row_id)
                found += shown_rows[: limit - len(found)]
                if len(found) == limit or edge is None:
                    return messages_from_rows(found, now)
                # Rows were hidden: scan on in bigger steps.
                step = _SCAN_STEPS[0] if batch < _SCAN_STEPS[0] else _SCAN_STEPS[1]
                position, batch = edge, max(batch, step)

        return await self.database.run(job)

    async def get_messages(
        self, project: str, queue: str, ids: list[str], now: float
    ) -> list[StoredMessage]:
        wanted = row_ids(ids)
        if not wanted:
            return []

        async def job(conn: Connection) -> list[StoredMessage]:
            rows = await conn.fetch(
                f"SELECT {MESSAGE_COLUMNS} FROM {self._messages} "
                f"WHERE queue_id = {self._queue_of} AND {_EITHER_STATE} "
                "AND id = ANY($3::int8[]) AND expires > $4",
                project,
                queue,
                wanted,
                now,
            )
            return in_order_asked(messages_from_rows(rows, now), wanted)

        return await self.database.run(job)

    async def delete_messages(
        self,
        project: str,
        queue: str,
        ids: list[str],
        claim_ids: list[str] | None,
        now: float,
    ) -> None:
        wanted = row_ids(ids)
        args: list[Any] = [project, queue, wanted]
        state = _EITHER_STATE
        if claim_ids is not None:
            claims = [c for c in map(_claim_uuid, claim_ids) if c is not None]
            if not claims:
                return
            state = "claimed AND claim_id = ANY($4::uuid[]) AND claim_expires > $5"
            args += [claims, now]
        sql = (
            f"DELETE FROM {self._messages} WHERE queue_id = {self._queue_of} "
            f"AND {state} AND id = ANY($3::int8[])"
        )
        if not wanted:
            return

        async def job(conn: Connection) -> None:
            await conn.execute(sql, *args)

        await self.database.run(job)

    async def delete_message(
        self, project: str, queue: str, message_id: str, claim_id: str | None, now: float
    ) -> DeleteOutcome:
        rowid = row_id(message_id)
        if rowid is None:
            return DeleteOutcome.MISSING
        given = None
        if claim_id is not None:
            # Text no claim can have still counts as a claim given (and gone).
            given = _claim_uuid(claim_id) or _NO_CLAIM
        request = _Delete(rowid, claim_id, given, now)
        outcome = await self._deletes.submit((project, queue), request)
        if outcome is not None:
            return outcome

        async def locked(conn: Connection) -> DeleteOutcome:
            row = await conn.fetchrow(
                f"""
                SELECT m.queue_id, m.claimed, m.claim_id, m.claim_expires,
                    EXISTS (SELECT 1 FROM {self._claims} c WHERE c.id = $5
                            AND c.queue_id = m.queue_id AND c.expires > $4) AS given_live
                FROM {self._messages} m
                WHERE m.queue_id = {self._queue_of} AND m.{_EITHER_STATE}
                  AND m.id = $3 AND m.expires > $4
                FOR UPDATE OF m
                """,
                project,
                queue,
                rowid,
                now,
                given,
            )
            verdict = request.verdict(row)
            if verdict is DeleteOutcome.DELETED:
                await conn.execute(
                    f"DELETE FROM {self._messages} WHERE queue_id = $1 AND claimed = $2 "
                    "AND id = $3",
                    row["queue_id"],
                    row["claimed"],
                    rowid,
                )
            return verdict

        # The message changed hands while its batch ran, or was asked for
        # twice in it: decide again holding its row.
        return await self.database.transaction(locked)

    async def _delete_batch(
        self, key: tuple[str, str], requests: list[_Delete]
    ) -> list[DeleteOutcome | BaseException | None]:
        """Single-message deletes to one queue that came in together, in one statement;
        None for a delete to decide again under the row lock."""
        project, queue = key
        first: dict[int, int] = {}
        for i, request in enumerate(requests):
            first.setdefault(request.rowid, i)
        # In id order, as bulk deletes lock them, so that batches do not deadlock.
        sent = sorted((requests[i] for i in first.values()), key=lambda r: r.rowid)

        async def job(conn: Connection) -> list[Any]:
            # The statement reads each message and deletes it if, as the row
            # is by then, the rules allow: restated in SQL so that checking and
            # deleting are one step. delete_verdict on what it read must agree.
            rows: list[Any] = await conn.fetch(
                f"""
                WITH m AS MATERIALIZED (
                    SELECT r.id, r.now, msg.queue_id, msg.claimed, msg.claim_id,
                        msg.claim_expires, r.given,
                        EXISTS (SELECT 1 FROM {self._claims} c WHERE c.id = r.given
                                AND c.queue_id = msg.queue_id AND c.expires > r.now)
                            AS given_live
                    FROM unnest($3::int8[], $4::uuid[], $5::float8[]) AS r(id, given, now)
                    JOIN {self._messages} msg ON msg.queue_id = {self._queue_of}
                        AND msg.{_EITHER_STATE} AND msg.id = r.id AND msg.expires > r.now
                ),
                gone AS (
                    DELETE FROM {self._messages} d USING m
                    WHERE d.queue_id = m.queue_id AND d.claimed = m.claimed AND d.id = m.id
                      AND CASE WHEN m.given IS NULL
                               THEN d.claim_id IS NULL OR d.claim_expires <= m.now
                               ELSE m.given_live AND d.claim_id = m.given
                                    AND d.claim_expires > m.now
                          END
                    RETURNING d.id
                )
                SELECT m.*, m.id IN (SELECT id FROM gone) AS deleted FROM m
                """,
                project,
                queue,
                [r.rowid for r in sent],
                [r.given for r in sent],
                [r.now for r in sent],
            )
            return rows

        try:
            found = {row["id"]: row for row in await self.database.run(job)}
        except asyncpg.TransactionRollbackError:
            # A deadlock with another process's deletes rolled the statement
            # back whole: each delete is decided again on its own.
            return [None] * len(requests)
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

    async def pop_messages(
        self, project: str, queue: str, limit: int, now: float
    ) -> list[StoredMessage]:
        async def job(conn: Connection) -> list[StoredMessage]:
            found = await self._free_expired_claims(conn, project, queue, now)
            if found is None:
                return []
            queue_id = found[0]
            # One statement: picking and deleting are one transaction.
            rows = await conn.fetch(
                f"""
                WITH picked AS MATERIALIZED ({self._oldest_claimable(limit)})
                DELETE FROM {self._messages} m USING picked
                WHERE m.queue_id = $1 AND NOT m.claimed AND m.id = picked.id
                RETURNING {", ".join(f"m.{c}" for c in MESSAGE_COLUMNS.split(", "))}
                """,
                queue_id,
                now,
            )
            return messages_from_rows(sorted(rows, key=_row_id), now)

        return await self.database.run(job)

    # Claims

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
        raise NotImplementedError("transitional")

    def _oldest_claimable(self, limit: int) -> str:
        """SELECT locking up to `limit` claimable messages of queue $1 at time $2, oldest first.

        The LIMIT is a literal so that even a generic plan sees that only a few
        rows are wanted and walks the primary key's range of unclaimed messages."""
        return (
            f"SELECT id FROM {self._messages} "
            "WHERE queue_id = $1 AND NOT claimed AND expires > $2 AND available <= $2 "
            f"ORDER BY id LIMIT {int(limit)} FOR UPDATE SKIP LOCKED"
        )

    async def _free_expired_claims(
        self, conn: Connection, project: str, queue: str, now: float
    ) -> tuple[int, dict[str, Any]] | None:
        """End the queue's expired claims so their messages are free again; the queue's
        id and metadata.

        A statement of its own: ending expired claims is complete by itself, and
        claims locked by another transaction are skipped, as that one is ending them."""
        row = await conn.fetchrow(
            f"""
            WITH expired AS MATERIALIZED (
                SELECT id FROM {self._claims}
                WHERE queue_id = {self._queue_of} AND expires <= $3
                FOR UPDATE SKIP LOCKED
            ),
            gone AS (
                DELETE FROM {self._claims} c USING expired WHERE c.id = expired.id
                RETURNING c.id
            ),
            freed AS (
                -- By claim id alone: with the queue's id too, the planner may
                -- AND in a scan of the queue's whole primary-key range.
                UPDATE {self._messages} m SET claim_id = NULL, claim_expires = 0
                FROM gone WHERE m.claim_id = gone.id
            )
            SELECT id, metadata FROM {self._queues} WHERE project = $1 AND name = $2
            """,
            project,
            queue,
            now,
        )
        return None if row is None else (int(row["id"]), decode_metadata(row["metadata"]))

    async def create_claim(self, project: str, queue: str, plan: Plan, now: float) -> Claim | None:
        claim_id = uuid.uuid4()
        # One statement picks, claims and records the claim; the grace rule keeps
        # a message alive until `grace` seconds after the claim ends. The pick is
        # MATERIALIZED, here and wherever a locking SELECT with a LIMIT feeds a
        # write: run again (as the inner side of a join can be), it would skip
        # the rows this statement already changed and take more than its LIMIT.
        claim_sql = f"""
            WITH picked AS MATERIALIZED ({{pick}}),
            claimed AS (
                UPDATE {self._messages} m SET
                    claim_id = $3::uuid, claim_count = m.claim_count + 1,
                    claim_expires = $4::float8,
                    ttl = CASE WHEN m.expires < $4::float8 THEN $5::int4 + $6::int4
                               ELSE m.ttl END,
                    expires = CASE WHEN m.expires < $4::float8 THEN $4::float8 + $6::int4
                                   ELSE m.expires END
                FROM picked WHERE m.queue_id = $1 AND NOT m.claimed AND m.id = picked.id
                RETURNING m.id, m.body, m.ttl, m.created, m.claim_id, m.claim_expires,
                          m.claim_count
            ),
            recorded AS (
                INSERT INTO {self._claims} (id, queue_id, ttl, updated, expires)
                SELECT $3::uuid, $1::int8, $5::int4, $2::float8, $4::float8
                WHERE EXISTS (SELECT 1 FROM claimed)
            )
            SELECT * FROM claimed ORDER BY id
            """

        async def claim(conn: Connection, queue_id: int, request: ClaimRequest) -> Claim | None:
            pick = self._oldest_claimable(request.limit)
            expires = now + request.ttl
            settings = (claim_id, expires, request.ttl, request.grace)
            rows = await conn.fetch(claim_sql.format(pick=pick), queue_id, now, *settings)
            return (
                Claim(str(claim_id), request.ttl, now, messages_from_rows(rows, now))
                if rows
                else None
            )

        async def claim_oldest(conn: Connection) -> Claim | None:
            found = await self._free_expired_claims(conn, project, queue, now)
            if found is None:
                return None
            queue_id, metadata = found
            return await claim(conn, queue_id, plan(metadata))

        # Ending expired claims (which reads the metadata too), then one
        # statement that claims: no explicit transaction, two round trips.
        return await self.database.run(claim_oldest)

    async def _lock_queue(self, conn: Connection, project: str, name: str) -> int:
        """The queue's id, created if missing, with its row locked until the transaction ends."""
        for _ in range(ATTEMPTS):
            found = await conn.fetchval(
                f"SELECT id FROM {self._queues} WHERE project = $1 AND name = $2 FOR NO KEY UPDATE",
                project,
                name,
            )
            if found is None:
                # A row this transaction inserts is locked by it until commit.
                found = await conn.fetchval(
                    f"INSERT INTO {self._queues} (project, name, metadata) "
                    "VALUES ($1, $2, '{}') ON CONFLICT (project, name) DO NOTHING RETURNING id",
                    project,
                    name,
                )
            if found is not None:
                return int(found)
        raise ServiceUnavailable(
            f"The queue {name} kept disappearing while it was being created. Retry later."
        )

    async def get_claim(self, project: str, queue: str, claim_id: str, now: float) -> Claim | None:
        key = _claim_uuid(claim_id)
        if key is None:
            return None

        async def job(conn: Connection) -> Claim | None:
            rows = await conn.fetch(
                f"""
                WITH c AS (
                    SELECT id, queue_id, ttl AS claim_ttl, updated FROM {self._claims}
                    WHERE id = $3 AND expires > $4 AND queue_id = {self._queue_of}
                )
                SELECT m.id, m.body, m.ttl, m.created, m.claim_id, m.claim_expires,
                       m.claim_count, c.claim_ttl, c.updated
                FROM c LEFT JOIN {self._messages} m
                    ON m.claim_id = c.id
                    AND m.claim_expires > $4 AND m.expires > $4
                ORDER BY m.id
                """,
                project,
                queue,
                key,
                now,
            )
            if not rows:
                return None
            held = [r for r in rows if r["id"] is not None]
            return Claim(
                claim_id,
                int(rows[0]["claim_ttl"]),
                float(rows[0]["updated"]),
                messages_from_rows(held, now),
            )

        return await self.database.run(job)

    async def renew_claim(
        self, project: str, queue: str, claim_id: str, ttl: int, grace: int, now: float
    ) -> bool:
        key = _claim_uuid(claim_id)
        if key is None:
            return False
        expires = now + ttl

        async def job(conn: Connection) -> bool:
            renewed = await conn.fetchval(
                f"""
                WITH c AS (
                    UPDATE {self._claims} SET ttl = $5::int4, updated = $4::float8,
                        expires = $6::float8
                    WHERE id = $3 AND expires > $4::float8 AND queue_id = {self._queue_of}
                    RETURNING id
                ),
                m AS (
                    UPDATE {self._messages} m SET claim_expires = $6::float8,
                        ttl = CASE WHEN m.expires < $6::float8 THEN $5::int4 + $7::int4
                                   ELSE m.ttl END,
                        expires = CASE WHEN m.expires < $6::float8 THEN $6::float8 + $7::int4
                                       ELSE m.expires END
                    FROM c WHERE m.claim_id = c.id
                )
                SELECT count(*) FROM c
                """,
                project,
                queue,
                key,
                now,
                ttl,
                expires,
                grace,
            )
            return bool(renewed)

        return await self.database.run(job)

    async def release_claim(self, project: str, queue: str, claim_id: str, now: float) -> None:
        key = _claim_uuid(claim_id)
        if key is None:
            return

        async def job(conn: Connection) -> None:
            await conn.execute(
                f"""
                WITH c AS (
                    DELETE FROM {self._claims} WHERE id = $3 AND queue_id = {self._queue_of}
                    RETURNING id
                )
                UPDATE {self._messages} m SET claim_id = NULL, claim_expires = 0
                FROM c WHERE m.claim_id = c.id
                """,
                project,
                queue,
                key,
            )

        await self.database.run(job)

    # Housekeeping

    async def collect_garbage(self, now: float) -> int:
        # Each batch is its own short statement, so no lock is held for long
        # and SKIP LOCKED lets claims and posts carry on around the collector.
        claims_sql = f"""
            WITH expired AS MATERIALIZED (
                SELECT id FROM {self._claims} WHERE expires <= $1
                LIMIT {_GC_BATCH} FOR UPDATE SKIP LOCKED
            ),
            gone AS (
                DELETE FROM {self._claims} c USING expired WHERE c.id = expired.id
                RETURNING c.id
            ),
            freed AS (
                UPDATE {self._messages} m SET claim_id = NULL, claim_expires = 0
                FROM gone WHERE m.claim_id = gone.id
            )
            SELECT count(*) FROM gone
            """
        messages_sql = f"""
            WITH old AS MATERIALIZED (
                SELECT queue_id, claimed, id FROM {self._messages}
                WHERE expires <= $1 AND expires > 0
                LIMIT {_GC_BATCH} FOR UPDATE SKIP LOCKED
            ),
            gone AS (
                DELETE FROM {self._messages} m USING old
                WHERE m.queue_id = old.queue_id AND m.claimed = old.claimed AND m.id = old.id
                RETURNING 1
            )
            SELECT count(*) FROM gone
            """
        total = 0
        for sql in (claims_sql, messages_sql):
            while True:

                async def job(conn: Connection, sql: str = sql) -> int:
                    return int(await conn.fetchval(sql, now))

                gone = await self.database.run(job)
                total += gone
                if gone < _GC_BATCH:
                    break
        return total


def _row_id(row: Any) -> int:
    return int(row["id"])


def _claim_uuid(text: str) -> uuid.UUID | None:
    """The claim id as stored, or None for text that no claim of ours can have."""
    try:
        key = uuid.UUID(text)
    except ValueError:
        return None
    return key if str(key) == text else None


class _PrefixOnly:
    """Transitional: the name-prefix condition until this driver seeks by prefix."""

    selective = True

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix

    def accepts_name(self, name: str) -> bool:
        return name.startswith(self.prefix)

    def accepts_metadata(self, metadata: dict[str, Any]) -> bool:
        return True
