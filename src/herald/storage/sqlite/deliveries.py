"""Jobs on the outbox: the deliveries a post owes its queue's subscriptions.

Every job that changes the outbox runs on the writer thread, one at a time,
so a lease is taken by one caller alone; other processes on the same file
take turns with this one through the writer lock.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from herald.model import Delivery, NewMessage
from herald.storage.kit import DELIVERY_COLUMNS, delivery_from_row, owed, row_id
from herald.storage.sqlite.sql import marks

# Ids in one statement's IN list, well under SQLite's limit on parameters.
_PER_STATEMENT = 500
_INSERT = (
    "INSERT INTO deliveries (project, source, subscription_id, message_id, body, ttl, "
    "posted, attempts, due) VALUES (?, ?, ?, ?, ?, ?, ?, 0, ?)"
)


def owe(
    conn: sqlite3.Connection,
    project: str,
    source: str,
    subscription_ids: Sequence[str],
    message_ids: Sequence[int],
    made: Sequence[NewMessage],
    now: float,
) -> None:
    """Write one delivery per message and subscription, in the post's transaction."""
    rows = [
        (project, source, sub_id, message_id, body, ttl, now, due)
        for sub_id, message_id, body, ttl, due in owed(subscription_ids, message_ids, made, now)
    ]
    if len(rows) == 1:
        conn.execute(_INSERT, rows[0])  # as a post of one message does: cheaper than executemany
    else:
        conn.executemany(_INSERT, rows)


def lease(conn: sqlite3.Connection, now: float, limit: int, length: float) -> list[Delivery]:
    """Take up to `limit` due deliveries, by (due, id), and push them `length` away."""
    rows = conn.execute(
        f"SELECT {DELIVERY_COLUMNS} FROM deliveries WHERE due <= ? ORDER BY due, id LIMIT ?",
        (now, limit),
    ).fetchall()
    if not rows:
        return []
    until = now + length
    ids = [row[0] for row in rows]
    conn.execute(f"UPDATE deliveries SET due = ? WHERE id IN ({marks(ids)})", [until, *ids])
    return [delivery_from_row((*row[:9], until)) for row in rows]


def retry(conn: sqlite3.Connection, delivery_id: str, attempts: int, due: float) -> None:
    """Record the attempts made and when to try next."""
    conn.execute(
        "UPDATE deliveries SET attempts = ?, due = ? WHERE id = ?",
        (attempts, due, row_id(delivery_id)),
    )


def finish(conn: sqlite3.Connection, delivery_ids: Sequence[str]) -> None:
    """Remove the deliveries."""
    # One statement, not one per row: the driver lets go of the GIL for every step, and
    # each time the event loop's thread takes it, this thread waits for it back.
    for start in range(0, len(delivery_ids), _PER_STATEMENT):
        ids = [row_id(i) for i in delivery_ids[start : start + _PER_STATEMENT]]
        conn.execute(f"DELETE FROM deliveries WHERE id IN ({marks(ids)})", ids)


def count(conn: sqlite3.Connection) -> tuple[int, float | None]:
    """How many are pending, and when the oldest of them was posted."""
    # One pass over a table that stays short while deliveries keep up.
    total, oldest = conn.execute("SELECT COUNT(*), MIN(posted) FROM deliveries").fetchone()
    return int(total), oldest


def drop_owed(
    conn: sqlite3.Connection, project: str, source: str, subscription_id: str | None
) -> None:
    """Remove what is owed to one subscription of the source, or to all of them."""
    if subscription_id is None:
        conn.execute("DELETE FROM deliveries WHERE project = ? AND source = ?", (project, source))
    else:
        conn.execute(
            "DELETE FROM deliveries WHERE project = ? AND source = ? AND subscription_id = ?",
            (project, source, subscription_id),
        )
