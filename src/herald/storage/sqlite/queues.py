"""Jobs on queues; each runs inside a worker's transaction on its connection."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import Any

from herald.model import MessageRef, QueueEntry, QueueStats
from herald.storage.kit import decode_metadata, encode_json, prefix_end
from herald.storage.sqlite import subscriptions


def find(conn: sqlite3.Connection, project: str, name: str) -> int | None:
    """The queue's row id, or None when there is no such queue."""
    row = conn.execute(
        "SELECT id FROM queues WHERE project = ? AND name = ?", (project, name)
    ).fetchone()
    return None if row is None else int(row[0])


def ensure(conn: sqlite3.Connection, project: str, name: str) -> int:
    """The queue's row id, creating the queue with empty metadata if it is missing."""
    queue_id = find(conn, project, name)
    if queue_id is None:
        cur = conn.execute(
            "INSERT INTO queues (project, name, metadata) VALUES (?, ?, '{}')", (project, name)
        )
        queue_id = int(cur.lastrowid or 0)
    return queue_id


def create(conn: sqlite3.Connection, project: str, name: str, metadata: bytes) -> bool:
    """Create the queue with encoded metadata; False when it exists already."""
    cur = conn.execute(
        "INSERT OR IGNORE INTO queues (project, name, metadata) VALUES (?, ?, ?)",
        (project, name, metadata),
    )
    return cur.rowcount == 1


def metadata(conn: sqlite3.Connection, project: str, name: str) -> dict[str, Any] | None:
    """The queue's metadata, or None when there is no such queue."""
    row = conn.execute(
        "SELECT metadata FROM queues WHERE project = ? AND name = ?", (project, name)
    ).fetchone()
    return None if row is None else decode_metadata(row[0])


def update_metadata(
    conn: sqlite3.Connection,
    project: str,
    name: str,
    change: Callable[[dict[str, Any]], dict[str, Any]],
) -> dict[str, Any] | None:
    """Replace the metadata by `change(old)`; None when there is no such queue."""
    row = conn.execute(
        "SELECT id, metadata FROM queues WHERE project = ? AND name = ?", (project, name)
    ).fetchone()
    if row is None:
        return None
    new = change(decode_metadata(row[1]))
    conn.execute("UPDATE queues SET metadata = ? WHERE id = ?", (encode_json(new), row[0]))
    return new


def delete(conn: sqlite3.Connection, project: str, name: str) -> None:
    """Remove the queue with its messages, claims, subscriptions and what is owed to them."""
    subscriptions.purge(conn, project, name)
    queue_id = find(conn, project, name)
    if queue_id is not None:
        purge(conn, queue_id)
        conn.execute("DELETE FROM queues WHERE id = ?", (queue_id,))


def purge(conn: sqlite3.Connection, queue_id: int) -> None:
    """Remove every message and claim of the queue."""
    conn.execute("DELETE FROM messages WHERE queue_id = ?", (queue_id,))
    conn.execute("DELETE FROM claims WHERE queue_id = ?", (queue_id,))


def page(
    conn: sqlite3.Connection, project: str, marker: str | None, limit: int, prefix: str
) -> list[QueueEntry]:
    """Up to `limit` queues named after `marker` and starting with `prefix`, by name."""
    # SQLite seeks from one lower bound and merely filters by a second, which
    # would step over every name between the marker and the prefix: only the
    # tighter of the two is given. Python orders text by code point, as
    # SQLite's BINARY collation does in UTF-8.
    if marker is not None and marker >= prefix:
        bounds, args = "name > ?", [project, marker]
    else:
        bounds, args = "name >= ?", [project, prefix]
    end = prefix_end(prefix)
    if end is not None:
        bounds += " AND name < ?"
        args.append(end)
    rows = conn.execute(
        f"SELECT name, metadata FROM queues WHERE project = ? AND {bounds} ORDER BY name LIMIT ?",
        [*args, limit],
    )
    return [QueueEntry(name, decode_metadata(blob)) for name, blob in rows]


def count(conn: sqlite3.Connection, project: str) -> int:
    """How many queues the project has."""
    row = conn.execute("SELECT COUNT(*) FROM queues WHERE project = ?", (project,))
    return int(row.fetchone()[0])


def stats(conn: sqlite3.Connection, project: str, name: str, now: float) -> QueueStats:
    """Counts of the queue's unexpired messages, and the oldest and newest of them."""
    queue_id = find(conn, project, name)
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
        "SELECT id, created FROM messages WHERE queue_id = ? AND expires > ? ORDER BY id {} LIMIT 1"
    )
    oldest = conn.execute(edge.format("ASC"), (queue_id, now)).fetchone()
    newest = conn.execute(edge.format("DESC"), (queue_id, now)).fetchone()
    return QueueStats(
        claimed=int(claimed),
        total=int(total),
        oldest=MessageRef(str(oldest[0]), oldest[1]),
        newest=MessageRef(str(newest[0]), newest[1]),
    )
