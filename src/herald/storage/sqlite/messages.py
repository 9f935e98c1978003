"""Jobs on messages: posting, reading, deleting and popping them."""

from __future__ import annotations

import sqlite3
from typing import Any

import msgspec

from herald.model import MessageQuery, StoredMessage
from herald.storage.base import DeleteOutcome, Prepare, delete_verdict
from herald.storage.kit import (
    MESSAGE_COLUMNS,
    decode_metadata,
    in_order_asked,
    messages_from_rows,
    row_id,
    row_ids,
)
from herald.storage.sqlite import claims, deliveries, queues, subscriptions
from herald.storage.sqlite.sql import BATCH, marks

_INSERT = (
    "INSERT INTO messages (queue_id, client_id, body, ttl, created, expires, available) "
    "VALUES (?, ?, ?, ?, ?, ?, ?)"
)


_QUEUE = (
    "SELECT id, metadata, (SELECT json_group_array(id) FROM subscriptions "
    "WHERE project = ?1 AND source = ?2 AND expires > ?3) "
    "FROM queues WHERE project = ?1 AND name = ?2"
)
_decode_ids = msgspec.json.Decoder(list[str]).decode


def post(
    conn: sqlite3.Connection,
    project: str,
    queue: str,
    prepare: Prepare,
    client_id: str,
    now: float,
) -> tuple[list[str], bool]:
    """Store the messages `prepare(metadata)` makes, creating the queue if need be; their
    ids, and whether the post owes deliveries."""
    # Reading the metadata inside the write job saves a trip to the
    # reader thread per post, and sees the metadata the post commits with.
    # The same look-up finds the queue's live subscriptions, so that the
    # outbox costs no statement of its own but the inserts.
    row = conn.execute(_QUEUE, (project, queue, now)).fetchone()
    made = prepare({} if row is None else decode_metadata(row[1]))
    queue_id = queues.ensure(conn, project, queue) if row is None else int(row[0])
    rows = [
        (queue_id, client_id, bytes(m.body), m.ttl, now, now + m.ttl, now + m.delay) for m in made
    ]
    if len(rows) == 1:
        last = conn.execute(_INSERT, rows[0]).lastrowid
    else:
        conn.executemany(_INSERT, rows)
        last = conn.execute("SELECT last_insert_rowid()").fetchone()[0]
    assert last is not None
    # AUTOINCREMENT under the write lock hands out consecutive ids.
    ids = range(last - len(rows) + 1, last + 1)
    # A queue may be subscribed to before it has a row.
    subscribed = subscriptions.live_ids(conn, project, queue, now) if row is None else row[2]
    owes = subscribed != "[]"
    if owes:
        deliveries.owe(conn, project, queue, _decode_ids(subscribed), ids, made, now)
    return [str(i) for i in ids], owes


def page(
    conn: sqlite3.Connection, project: str, queue: str, query: MessageQuery, now: float
) -> list[StoredMessage]:
    """Unexpired messages after the query's marker, oldest first, as it filters them."""
    after = row_id(query.marker) if query.marker else 0
    if after is None:
        return []
    queue_id = queues.find(conn, project, queue)
    if queue_id is None:
        return []
    sql = [f"SELECT {MESSAGE_COLUMNS} FROM messages WHERE queue_id = ? AND id > ? AND expires > ?"]
    args: list[Any] = [queue_id, after, now]
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
    return messages_from_rows(conn.execute(" ".join(sql), args), now)


def get(
    conn: sqlite3.Connection, project: str, queue: str, ids: list[str], now: float
) -> list[StoredMessage]:
    """The unexpired messages among `ids`, in the order asked."""
    wanted = row_ids(ids)
    queue_id = queues.find(conn, project, queue)
    if queue_id is None or not wanted:
        return []
    found = messages_from_rows(
        conn.execute(
            f"SELECT {MESSAGE_COLUMNS} FROM messages WHERE queue_id = ? AND "
            f"expires > ? AND id IN ({marks(wanted)})",
            [queue_id, now, *wanted],
        ),
        now,
    )
    return in_order_asked(found, wanted)


def delete_many(
    conn: sqlite3.Connection,
    project: str,
    queue: str,
    ids: list[str],
    claim_ids: list[str] | None,
    now: float,
) -> None:
    """Delete the given messages; with `claim_ids`, only those held by one of those live claims."""
    wanted = row_ids(ids)
    queue_id = queues.find(conn, project, queue)
    if queue_id is None or not wanted:
        return
    sql = f"DELETE FROM messages WHERE queue_id = ? AND id IN ({marks(wanted)})"
    args: list[Any] = [queue_id, *wanted]
    if claim_ids is not None:
        sql += f" AND claim_expires > ? AND claim_id IN ({marks(claim_ids)})"
        args += [now, *claim_ids]
    conn.execute(sql, args)


def delete_one(
    conn: sqlite3.Connection,
    project: str,
    queue: str,
    message_id: str,
    claim_id: str | None,
    now: float,
) -> DeleteOutcome:
    """Delete one message if `delete_verdict` allows it; what came of it."""
    rowid = row_id(message_id)
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


def pop(
    conn: sqlite3.Connection, project: str, queue: str, limit: int, now: float
) -> list[StoredMessage]:
    """Remove and return up to `limit` of the oldest claimable messages."""
    queue_id = queues.find(conn, project, queue)
    if queue_id is None:
        return []
    claims.end_all_expired(conn, queue_id, now)
    popped = messages_from_rows(claims.claimable(conn, queue_id, limit, now), now)
    if popped:
        ids = [int(m.id) for m in popped]
        conn.execute(f"DELETE FROM messages WHERE id IN ({marks(ids)})", ids)
    return popped


def delete_expired(conn: sqlite3.Connection, now: float) -> int:
    """Delete up to `BATCH` expired messages of any queue; how many."""
    return conn.execute(
        "DELETE FROM messages WHERE id IN (SELECT id FROM messages WHERE expires <= ? LIMIT ?)",
        (now, BATCH),
    ).rowcount
