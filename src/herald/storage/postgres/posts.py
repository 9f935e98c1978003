"""Posts to one queue that wait for its lock go in together, as one statement.

Posts to one queue wait for its row lock anyway: those that arrive meanwhile
go together, under one lock and one commit.
"""

from __future__ import annotations

from dataclasses import dataclass

from herald.errors import StoreUnavailable
from herald.model import NewMessage
from herald.storage.base import Prepare
from herald.storage.batching import Batcher
from herald.storage.kit import decode_metadata
from herald.storage.postgres.database import ATTEMPTS, Connection, Database
from herald.storage.postgres.failures import PUBLIC
from herald.storage.postgres.statements import Statements
from herald.storage.postgres.wakeups import channel, outbox_channel


@dataclass(frozen=True, slots=True)
class Post:
    """A post waiting to be made and inserted with the others to its queue."""

    prepare: Prepare
    client_id: str
    now: float


class Posts:
    """The posts of this process, batched per queue."""

    def __init__(self, database: Database, sql: Statements) -> None:
        self._database = database
        self._sql = sql
        self._batcher: Batcher[tuple[str, str], Post, list[str]] = Batcher(
            self._insert, exclusive=True
        )

    async def submit(self, project: str, queue: str, post: Post) -> list[str]:
        """Store the post's messages with the others waiting for its queue; their ids."""
        return await self._batcher.submit((project, queue), post)

    async def _insert(
        self, key: tuple[str, str], posts: list[Post]
    ) -> list[list[str] | BaseException]:
        """Insert the posts to one queue that came in together: one metadata read
        and one statement for all of them."""
        project, queue = key
        text = await self._database.fetchval(self._sql.queue_metadata, project, queue)
        metadata = {} if text is None else decode_metadata(text)
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

        wake = channel(self._sql.schema, project, queue)
        outbox = outbox_channel(self._sql.schema)

        async def insert(conn: Connection) -> list[int]:
            found = await conn.fetch(self._sql.post, project, queue, *arrays, wake, outbox)
            # Identity values are drawn in the ORDER BY's order; the None is the notify's.
            return sorted(r["id"] for r in found if r["id"] is not None)

        async def create_then_insert(conn: Connection) -> list[int]:
            await lock_queue(conn, self._sql, project, queue)
            return await insert(conn)

        ids = await self._database.run(insert)
        if not ids:
            # The queue did not exist: create it (or find it created meanwhile)
            # and post, in one transaction that holds the queue's row throughout.
            ids = await self._database.transaction(create_then_insert)
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


async def lock_queue(conn: Connection, sql: Statements, project: str, name: str) -> int:
    """The queue's id, created if missing, with its row locked until the transaction
    ends, as a post locks it."""
    for _ in range(ATTEMPTS):
        found = await conn.fetchval(sql.lock_queue, project, name)
        if found is None:
            # A row this transaction inserts is locked by it until commit.
            found = await conn.fetchval(sql.insert_queue, project, name)
        if found is not None:
            return int(found)
    raise StoreUnavailable(
        f"The queue {name} kept disappearing while it was being created. Retry later.",
        public=PUBLIC,
    )
