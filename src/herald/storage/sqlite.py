"""The embedded default store: one SQLite file in WAL mode.

Writes go through one worker thread that commits them in groups; reads go
through another connection so they never wait behind an fsync.
"""

from __future__ import annotations

import os
import sqlite3
import uuid
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import unquote, urlsplit

import msgspec

from herald.model import (
    Claim,
    DeadLetter,
    MessageQuery,
    MessageRef,
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
from herald.storage.sqlite_worker import SQLiteWorker

# Each entry brings the schema from version i to i + 1 (PRAGMA user_version).
MIGRATIONS: list[str] = [
    """
    CREATE TABLE queues (
        id INTEGER PRIMARY KEY,
        project TEXT NOT NULL,
        name TEXT NOT NULL,
        metadata BLOB NOT NULL,
        UNIQUE (project, name)
    );
    CREATE TABLE messages (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        queue_id INTEGER NOT NULL,
        client_id TEXT NOT NULL,
        body BLOB NOT NULL,
        ttl INTEGER NOT NULL,
        created REAL NOT NULL,
        expires REAL NOT NULL,
        available REAL NOT NULL,
        claim_id TEXT,
        claim_expires REAL NOT NULL DEFAULT 0,
        claim_count INTEGER NOT NULL DEFAULT 0
    );
    CREATE INDEX messages_by_queue ON messages (queue_id, id);
    CREATE INDEX messages_by_expiry ON messages (expires);
    CREATE INDEX messages_by_claim ON messages (claim_id) WHERE claim_id IS NOT NULL;
    CREATE TABLE claims (
        id TEXT PRIMARY KEY,
        queue_id INTEGER NOT NULL,
        ttl INTEGER NOT NULL,
        updated REAL NOT NULL,
        expires REAL NOT NULL
    ) WITHOUT ROWID;
    CREATE INDEX claims_by_expiry ON claims (expires);
    """,
    # Claims seek straight to the oldest unclaimed message instead of stepping
    # over every claimed one: the claimable index leaves claimed rows out, and
    # expired claims are ended (their messages' claim_id cleared) first.
    """
    CREATE INDEX messages_claimable ON messages (queue_id, id) WHERE claim_id IS NULL;
    CREATE INDEX claims_by_queue ON claims (queue_id, expires);
    UPDATE messages SET claim_id = NULL, claim_expires = 0
        WHERE claim_id IS NOT NULL AND claim_id NOT IN (SELECT id FROM claims);
    """,
]

_MESSAGE_COLUMNS = "id, body, ttl, created, claim_id, claim_expires, claim_count"
_INSERT_MESSAGE = (
    "INSERT INTO messages (queue_id, client_id, body, ttl, created, expires, available) "
    "VALUES (?, ?, ?, ?, ?, ?, ?)"
)
_GC_BATCH = 2000
_encode_json = msgspec.json.Encoder().encode
_decode_metadata = msgspec.json.Decoder(dict[str, Any]).decode


class SQLiteStore(Store):
    """Queues, messages and claims in one SQLite database file."""

    def __init__(self, path: str, *, durability: str = "full") -> None:
        if durability not in ("full", "normal"):
            raise ValueError(f"durability must be 'full' or 'normal', not {durability!r}")
        self.path = path
        self.durability = durability
        self._writer = SQLiteWorker(
            self._connect_writer,
            name="herald-sqlite-writer",
            writer=True,
            lock_path=f"{path}-writer-lock",
        )
        self._reader = SQLiteWorker(self._connect, name="herald-sqlite-reader", writer=False)

    @classmethod
    def from_uri(cls, uri: str, *, durability: str = "full") -> SQLiteStore:
        """Build from `sqlite:///relative/path` or `sqlite:////absolute/path`."""
        parts = urlsplit(uri)
        if parts.scheme != "sqlite" or parts.netloc or not parts.path.startswith("/"):
            raise ValueError(f"malformed SQLite store URI {uri!r}: expected sqlite:///PATH")
        path = unquote(parts.path[1:])
        if not path:
            raise ValueError(f"SQLite store URI {uri!r} names no file")
        return cls(path, durability=durability)

    def __repr__(self) -> str:
        return f"SQLiteStore({self.path!r}, durability={self.durability!r})"

    # Connections

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=True)
        conn.execute("PRAGMA busy_timeout = 10000")
        conn.execute(f"PRAGMA synchronous = {str(self.durability).upper()}")
        return conn

    def _connect_writer(self) -> sqlite3.Connection:
        conn = self._connect()
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("BEGIN IMMEDIATE")
        try:
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
                for statement in _statements(script):
                    conn.execute(statement)
                conn.execute(f"PRAGMA user_version = {number}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            conn.close()
            raise
        return conn

    async def open(self) -> None:
        directory = os.path.dirname(os.path.abspath(self.path))
        os.makedirs(directory, exist_ok=True)
        self._writer.start()
        self._reader.start()

    async def close(self) -> None:
        self._reader.stop()
        self._writer.stop()

    async def ping(self) -> bool:
        try:
            return bool(await self._reader.run(lambda c: c.execute("SELECT 1").fetchone()))
        except Exception:
            return False

    # Queues

    async def create_queue(self, project: str, name: str, metadata: dict[str, Any]) -> bool:
        blob = _encode_json(metadata)

        def job(conn: sqlite3.Connection) -> bool:
            cur = conn.execute(
                "INSERT OR IGNORE INTO queues (project, name, metadata) VALUES (?, ?, ?)",
                (project, name, blob),
            )
            return cur.rowcount == 1

        return await self._writer.run(job)

    async def queue_metadata(self, project: str, name: str) -> dict[str, Any] | None:
        def job(conn: sqlite3.Connection) -> dict[str, Any] | None:
            row = conn.execute(
                "SELECT metadata FROM queues WHERE project = ? AND name = ?", (project, name)
            ).fetchone()
            return None if row is None else _decode_metadata(row[0])

        return await self._reader.run(job)

    async def update_queue_metadata(
        self, project: str, name: str, change: Callable[[dict[str, Any]], dict[str, Any]]
    ) -> dict[str, Any] | None:
        def job(conn: sqlite3.Connection) -> dict[str, Any] | None:
            row = conn.execute(
                "SELECT id, metadata FROM queues WHERE project = ? AND name = ?",
                (project, name),
            ).fetchone()
            if row is None:
                return None
            metadata = change(_decode_metadata(row[1]))
            conn.execute(
                "UPDATE queues SET metadata = ? WHERE id = ?", (_encode_json(metadata), row[0])
            )
            return metadata

        return await self._writer.run(job)

    async def delete_queue(self, project: str, name: str) -> None:
        def job(conn: sqlite3.Connection) -> None:
            queue_id = _queue_id(conn, project, name)
            if queue_id is not None:
                _purge(conn, queue_id)
                conn.execute("DELETE FROM queues WHERE id = ?", (queue_id,))

        await self._writer.run(job)

    async def list_queues(
        self,
        project: str,
        *,
        marker: str | None,
        limit: int,
        prefix: str = "",
    ) -> list[QueueEntry]:
        wanted = _PrefixOnly(prefix)

        def job(conn: sqlite3.Connection) -> list[QueueEntry]:
            rows = conn.execute(
                "SELECT name, metadata FROM queues WHERE project = ? AND name > ? ORDER BY name",
                (project, marker or ""),
            )
            found: list[QueueEntry] = []
            for name, blob in rows:
                if not wanted.accepts_name(name):
                    continue
                metadata = _decode_metadata(blob)
                if not wanted.accepts_metadata(metadata):
                    continue
                found.append(QueueEntry(name, metadata))
                if len(found) == limit:
                    break
            return found

        return await self._reader.run(job)

    async def count_queues(self, project: str) -> int:
        def job(conn: sqlite3.Connection) -> int:
            row = conn.execute("SELECT COUNT(*) FROM queues WHERE project = ?", (project,))
            return int(row.fetchone()[0])

        return await self._reader.run(job)

    async def queue_stats(self, project: str, name: str, now: float) -> QueueStats:
        def job(conn: sqlite3.Connection) -> QueueStats:
            queue_id = _queue_id(conn, project, name)
            if queue_id is None:
                return QueueStats(claimed=0, total=0)
            total, claimed = conn.execute(
                "SELECT COUNT(*), COALESCE(SUM(claim_expires > ?), 0) FROM messages "
                "WHERE queue_id = ? AND expires > ?",
                (now, queue_id, now),
            ).fetchone()
            if not total:
                return QueueStats(claimed=0, total=0)
            edge = (
                "SELECT id, created FROM messages WHERE queue_id = ? AND expires > ? "
                "ORDER BY id {} LIMIT 1"
            )
            oldest = conn.execute(edge.format("ASC"), (queue_id, now)).fetchone()
            newest = conn.execute(edge.format("DESC"), (queue_id, now)).fetchone()
            return QueueStats(
                claimed=int(claimed),
                total=int(total),
                oldest=MessageRef(str(oldest[0]), oldest[1]),
                newest=MessageRef(str(newest[0]), newest[1]),
            )

        return await self._reader.run(job)

    async def purge_messages(self, project: str, name: str) -> None:
        def job(conn: sqlite3.Connection) -> None:
            queue_id = _queue_id(conn, project, name)
            if queue_id is not None:
                _purge(conn, queue_id)

        await self._writer.run(job)

    # Messages

    async def post_messages(
        self,
        project: str,
        queue: str,
        prepare: Prepare,
        client_id: str,
        now: float,
    ) -> list[str]:
        def job(conn: sqlite3.Connection) -> list[str]:
            # Reading the metadata inside the write job saves a trip to the
            # reader thread per post, and sees the metadata the post commits with.
            row = conn.execute(
                "SELECT id, metadata FROM queues WHERE project = ? AND name = ?", (project, queue)
            ).fetchone()
            messages = prepare({} if row is None else _decode_metadata(row[1]))
            queue_id = _ensure_queue(conn, project, queue) if row is None else int(row[0])
            rows = [
                (queue_id, client_id, bytes(m.body), m.ttl, now, now + m.ttl, now + m.delay)
                for m in messages
            ]
            if len(rows) == 1:
                last = conn.execute(_INSERT_MESSAGE, rows[0]).lastrowid
            else:
                conn.executemany(_INSERT_MESSAGE, rows)
                last = conn.execute("SELECT last_insert_rowid()").fetchone()[0]
            assert last is not None
            # AUTOINCREMENT under the write lock hands out consecutive ids.
            return [str(i) for i in range(last - len(rows) + 1, last + 1)]

        return await self._writer.run(job)

    async def list_messages(
        self, project: str, queue: str, query: MessageQuery, now: float
    ) -> list[StoredMessage]:
        after = _message_id(query.marker) if query.marker else 0
        if after is None:
            return []
        sql = [
            f"SELECT {_MESSAGE_COLUMNS} FROM messages WHERE queue_id = ? AND id > ? AND expires > ?"
        ]
        args: list[Any] = [after, now]
        if not query.include_claimed:
            sql.append("AND claim_expires <= ?")
            args.append(now)
        if not query.include_delayed:
            sql.append("AND available <= ?")
            args.append(now)
        if not query.echo:
            sql.append("AND client_id != ?")
            args.append(query.client_id)
        sql.append("ORDER BY id LIMIT ?")
        args.append(query.limit)
        statement = " ".join(sql)

        def job(conn: sqlite3.Connection) -> list[StoredMessage]:
            queue_id = _queue_id(conn, project, queue)
            if queue_id is None:
                return []
            return _messages(conn.execute(statement, [queue_id, *args]), now)

        return await self._reader.run(job)

    async def get_messages(
        self, project: str, queue: str, ids: list[str], now: float
    ) -> list[StoredMessage]:
        wanted = [i for i in map(_message_id, ids) if i is not None]

        def job(conn: sqlite3.Connection) -> list[StoredMessage]:
            queue_id = _queue_id(conn, project, queue)
            if queue_id is None or not wanted:
                return []
            found = _messages(
                conn.execute(
                    f"SELECT {_MESSAGE_COLUMNS} FROM messages WHERE queue_id = ? AND "
                    f"expires > ? AND id IN ({_marks(wanted)})",
                    [queue_id, now, *wanted],
                ),
                now,
            )
            by_id = {m.id: m for m in found}
            return [by_id[str(i)] for i in dict.fromkeys(wanted) if str(i) in by_id]

        return await self._reader.run(job)

    async def delete_messages(
        self,
        project: str,
        queue: str,
        ids: list[str],
        claim_ids: list[str] | None,
        now: float,
    ) -> None:
        wanted = [i for i in map(_message_id, ids) if i is not None]

        def job(conn: sqlite3.Connection) -> None:
            queue_id = _queue_id(conn, project, queue)
            if queue_id is None or not wanted:
                return
            sql = f"DELETE FROM messages WHERE queue_id = ? AND id IN ({_marks(wanted)})"
            args: list[Any] = [queue_id, *wanted]
            if claim_ids is not None:
                sql += f" AND claim_expires > ? AND claim_id IN ({_marks(claim_ids)})"
                args += [now, *claim_ids]
            conn.execute(sql, args)

        await self._writer.run(job)

    async def delete_message(
        self, project: str, queue: str, message_id: str, claim_id: str | None, now: float
    ) -> DeleteOutcome:
        rowid = _message_id(message_id)

        def job(conn: sqlite3.Connection) -> DeleteOutcome:
            if rowid is None:
                return DeleteOutcome.MISSING
            # One look-up finds the message, its live claim and the caller's claim.
            row = conn.execute(
                "SELECT m.claim_id, m.claim_expires, EXISTS (SELECT 1 FROM claims c "
                "WHERE c.id = :claim AND c.queue_id = q.id AND c.expires > :now) "
                "FROM queues q JOIN messages m ON m.queue_id = q.id "
                "WHERE q.project = :project AND q.name = :queue AND m.id = :id "
                "AND m.expires > :now",
                {"claim": claim_id, "now": now, "project": project, "queue": queue, "id": rowid},
            ).fetchone()
            if row is None:
                return DeleteOutcome.MISSING
            live = row[0] if row[1] > now else None
            verdict = delete_verdict(live, claim_id, bool(row[2]))
            if verdict is DeleteOutcome.DELETED:
                conn.execute("DELETE FROM messages WHERE id = ?", (rowid,))
            return verdict

        return await self._writer.run(job)

    async def pop_messages(
        self, project: str, queue: str, limit: int, now: float
    ) -> list[StoredMessage]:
        def job(conn: sqlite3.Connection) -> list[StoredMessage]:
            queue_id = _queue_id(conn, project, queue)
            if queue_id is None:
                return []
            _end_all_expired_claims(conn, queue_id, now)
            popped = _messages(_claimable(conn, queue_id, limit, now), now)
            if popped:
                ids = [int(m.id) for m in popped]
                conn.execute(f"DELETE FROM messages WHERE id IN ({_marks(ids)})", ids)
            return popped

        return await self._writer.run(job)

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

    async def create_claim(self, project: str, queue: str, plan: Plan, now: float) -> Claim | None:
        claim_id = str(uuid.uuid4())

        def job(conn: sqlite3.Connection) -> Claim | None:
            row = conn.execute(
                "SELECT id, metadata FROM queues WHERE project = ? AND name = ?", (project, queue)
            ).fetchone()
            if row is None:
                return None
            queue_id = int(row[0])
            request = plan(_decode_metadata(row[1]))
            expires = now + request.ttl
            _end_all_expired_claims(conn, queue_id, now)
            taken: list[int] = []
            after = 0
            while len(taken) < request.limit:
                want = request.limit - len(taken)
                rows = _claimable(conn, queue_id, want, now, after).fetchall()
                moved = 0
                for row in rows:
                    after = row[0]
                    rule = None
                    if rule is not None and row[6] >= rule.max_claim_count:
                        _dead_letter(conn, project, row[0], rule, now)
                        moved += 1
                    else:
                        taken.append(row[0])
                if len(rows) < want or not moved:
                    break
            if not taken:
                return None
            conn.execute(
                "INSERT INTO claims (id, queue_id, ttl, updated, expires) VALUES (?, ?, ?, ?, ?)",
                (claim_id, queue_id, request.ttl, now, expires),
            )
            # The grace rule as in _apply_claim_expiry, folded into the claiming
            # update; SET expressions all read the row's old values.
            claimed = conn.execute(
                "UPDATE messages SET claim_id = ?1, claim_count = claim_count + 1, "
                "claim_expires = ?2, "
                "ttl = CASE WHEN expires < ?2 THEN ?3 ELSE ttl END, "
                "expires = CASE WHEN expires < ?2 THEN ?4 ELSE expires END "
                f"WHERE id IN ({_marks(taken)}) RETURNING {_MESSAGE_COLUMNS}",
                [claim_id, expires, request.ttl + request.grace, expires + request.grace, *taken],
            ).fetchall()
            claimed.sort()
            return Claim(claim_id, request.ttl, now, _messages(claimed, now))

        return await self._writer.run(job)

    async def get_claim(self, project: str, queue: str, claim_id: str, now: float) -> Claim | None:
        def job(conn: sqlite3.Connection) -> Claim | None:
            queue_id = _queue_id(conn, project, queue)
            if queue_id is None:
                return None
            row = conn.execute(
                "SELECT ttl, updated FROM claims WHERE id = ? AND queue_id = ? AND expires > ?",
                (claim_id, queue_id, now),
            ).fetchone()
            if row is None:
                return None
            return Claim(claim_id, row[0], row[1], _claimed_messages(conn, claim_id, now))

        return await self._reader.run(job)

    async def renew_claim(
        self, project: str, queue: str, claim_id: str, ttl: int, grace: int, now: float
    ) -> bool:
        expires = now + ttl

        def job(conn: sqlite3.Connection) -> bool:
            queue_id = _queue_id(conn, project, queue)
            if queue_id is None or not _claim_is_live(conn, queue_id, claim_id, now):
                return False
            conn.execute(
                "UPDATE claims SET ttl = ?, updated = ?, expires = ? WHERE id = ?",
                (ttl, now, expires, claim_id),
            )
            _apply_claim_expiry(conn, claim_id, ttl, grace, expires)
            return True

        return await self._writer.run(job)

    async def release_claim(self, project: str, queue: str, claim_id: str, now: float) -> None:
        def job(conn: sqlite3.Connection) -> None:
            queue_id = _queue_id(conn, project, queue)
            if queue_id is None:
                return
            cur = conn.execute(
                "DELETE FROM claims WHERE id = ? AND queue_id = ?", (claim_id, queue_id)
            )
            if cur.rowcount:
                conn.execute(
                    "UPDATE messages SET claim_id = NULL, claim_expires = 0 WHERE claim_id = ?",
                    (claim_id,),
                )

        await self._writer.run(job)

    # Housekeeping

    async def collect_garbage(self, now: float) -> int:
        def job(conn: sqlite3.Connection) -> int:
            gone = conn.execute(
                "DELETE FROM messages WHERE id IN "
                "(SELECT id FROM messages WHERE expires <= ? LIMIT ?)",
                (now, _GC_BATCH),
            ).rowcount
            return gone + _end_expired_claims(conn, None, now)

        # Small batches keep each write transaction short; loop until clean.
        total = 0
        while True:
            gone = await self._writer.run(job)
            total += gone
            if gone < _GC_BATCH:
                return total


def _statements(script: str) -> Iterable[str]:
    return (s.strip() for s in script.split(";") if s.strip())


def _marks(values: list[Any]) -> str:
    return ", ".join("?" * len(values))


def _message_id(text: str) -> int | None:
    """The row id behind a message id, or None for text that cannot be one."""
    if text.isascii() and text.isdigit() and len(text) < 19:
        return int(text)
    return None


def _queue_id(conn: sqlite3.Connection, project: str, name: str) -> int | None:
    row = conn.execute(
        "SELECT id FROM queues WHERE project = ? AND name = ?", (project, name)
    ).fetchone()
    return None if row is None else int(row[0])


def _ensure_queue(conn: sqlite3.Connection, project: str, name: str) -> int:
    queue_id = _queue_id(conn, project, name)
    if queue_id is None:
        cur = conn.execute(
            "INSERT INTO queues (project, name, metadata) VALUES (?, ?, '{}')", (project, name)
        )
        queue_id = int(cur.lastrowid or 0)
    return queue_id


def _purge(conn: sqlite3.Connection, queue_id: int) -> None:
    conn.execute("DELETE FROM messages WHERE queue_id = ?", (queue_id,))
    conn.execute("DELETE FROM claims WHERE queue_id = ?", (queue_id,))


def _messages(rows: Iterable[tuple[Any, ...]], now: float) -> list[StoredMessage]:
    return [
        StoredMessage(
            id=str(row[0]),
            body=msgspec.Raw(row[1]),
            ttl=row[2],
            created=row[3],
            claim_id=row[4] if row[5] > now else None,
            claim_count=row[6],
        )
        for row in rows
    ]


def _claimable(
    conn: sqlite3.Connection, queue_id: int, limit: int, now: float, after: int = 0
) -> sqlite3.Cursor:
    """The oldest claimable messages; the caller has ended the queue's expired claims."""
    return conn.execute(
        f"SELECT {_MESSAGE_COLUMNS} FROM messages INDEXED BY messages_claimable "
        "WHERE queue_id = ? AND claim_id IS NULL AND id > ? AND expires > ? "
        "AND available <= ? ORDER BY id LIMIT ?",
        (queue_id, after, now, now, limit),
    )


def _end_all_expired_claims(conn: sqlite3.Connection, queue_id: int, now: float) -> None:
    while _end_expired_claims(conn, queue_id, now) == _GC_BATCH:
        pass


def _end_expired_claims(conn: sqlite3.Connection, queue_id: int | None, now: float) -> int:
    """Clear the claims that ran out (of one queue, or all), so their messages count as free."""
    where, args = ("queue_id = ? AND ", [queue_id]) if queue_id is not None else ("", [])
    expired = [
        row[0]
        for row in conn.execute(
            f"SELECT id FROM claims WHERE {where}expires <= ? LIMIT ?", [*args, now, _GC_BATCH]
        )
    ]
    if expired:
        conn.execute(
            "UPDATE messages SET claim_id = NULL, claim_expires = 0 "
            f"WHERE claim_id IN ({_marks(expired)})",
            expired,
        )
        conn.execute(f"DELETE FROM claims WHERE id IN ({_marks(expired)})", expired)
    return len(expired)


def _claim_is_live(conn: sqlite3.Connection, queue_id: int, claim_id: str, now: float) -> bool:
    row = conn.execute(
        "SELECT 1 FROM claims WHERE id = ? AND queue_id = ? AND expires > ?",
        (claim_id, queue_id, now),
    ).fetchone()
    return row is not None


def _apply_claim_expiry(
    conn: sqlite3.Connection, claim_id: str, ttl: int, grace: int, expires: float
) -> None:
    # A message that would die before its claim ends is kept alive until
    # `grace` seconds after the claim, so that a slow worker can still delete.
    conn.execute(
        "UPDATE messages SET claim_expires = :expires, "
        "ttl = CASE WHEN expires < :expires THEN :ttl + :grace ELSE ttl END, "
        "expires = CASE WHEN expires < :expires THEN :expires + :grace ELSE expires END "
        "WHERE claim_id = :claim",
        {"expires": expires, "ttl": ttl, "grace": grace, "claim": claim_id},
    )


def _claimed_messages(conn: sqlite3.Connection, claim_id: str, now: float) -> list[StoredMessage]:
    return _messages(
        conn.execute(
            f"SELECT {_MESSAGE_COLUMNS} FROM messages WHERE claim_id = ? AND claim_expires > ? "
            "AND expires > ? ORDER BY id",
            (claim_id, now, now),
        ),
        now,
    )


def _dead_letter(
    conn: sqlite3.Connection, project: str, rowid: int, rule: DeadLetter, now: float
) -> None:
    # Re-inserting gives the message a fresh place at the dead-letter queue's
    # tail; it arrives unclaimed, due, and with a new lease of life.
    target = _ensure_queue(conn, project, rule.queue)
    ttl_sql = "ttl" if rule.ttl is None else str(int(rule.ttl))
    conn.execute(
        "INSERT INTO messages (queue_id, client_id, body, ttl, created, expires, available) "
        f"SELECT ?, client_id, body, {ttl_sql}, created, ? + {ttl_sql}, ? "
        "FROM messages WHERE id = ?",
        (target, now, now, rowid),
    )
    conn.execute("DELETE FROM messages WHERE id = ?", (rowid,))


class _PrefixOnly:
    """Transitional: the name-prefix condition until this driver seeks by prefix."""

    selective = True

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix

    def accepts_name(self, name: str) -> bool:
        return name.startswith(self.prefix)

    def accepts_metadata(self, metadata: dict[str, Any]) -> bool:
        return True
