"""Jobs on queues; each runs inside a worker's transaction on its connection."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import Any

from herald.model import MessageRef, QueueEntry, QueueStats
from herald.storage.kit import decode_metadata, encode_json


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
    """Remove the queue with its messages and claims."""
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
    wanted = _PrefixOnly(prefix)
    rows = conn.execute(
        "SELECT name, metadata FROM queues WHERE project = ? AND name > ? ORDER BY name",
        (project, marker or ""),
    )
    found: list[QueueEntry] = []
    for name, blob in rows:
        if not wanted.accepts_name(name):
            continue
        metadata = decode_metadata(blob)
        if not wanted.accepts_metadata(metadata):
            continue
        found.append(QueueEntry(name, metadata))
        if len(found) == limit:
            break
    return found


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


class _PrefixOnly:
    """Transitional: the name-prefix condition until this driver seeks by prefix."""

    selective = True

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix

    def accepts_name(self, name: str) -> bool:
        return name.startswith(self.prefix)

    def accepts_metadata(self, metadata: dict[str, Any]) -> bool:
        return True
