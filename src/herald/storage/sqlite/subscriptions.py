"""Jobs on subscriptions; a subscription whose `expires <= now` is gone to all of them."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

from herald.errors import Conflict
from herald.model import Subscription
from herald.storage.kit import (
    SUBSCRIPTION_COLUMNS,
    replacement,
    subscription_from_row,
    subscription_row,
)
from herald.storage.sqlite import deliveries
from herald.storage.sqlite.sql import BATCH

_SELECT = f"SELECT {SUBSCRIPTION_COLUMNS} FROM subscriptions"


def create(conn: sqlite3.Connection, sub: Subscription, now: float) -> tuple[Subscription, bool]:
    """Store `sub` unless a live subscription has its subscriber already (answered then)."""
    # The writer thread runs one job at a time, so nothing can come between
    # this look-up and the insert.
    found = holder(conn, sub.project, sub.source, sub.subscriber, now)
    if found is not None:
        return found, False
    conn.execute(
        f"INSERT INTO subscriptions ({SUBSCRIPTION_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        subscription_row(sub),
    )
    return sub, True


def holder(
    conn: sqlite3.Connection, project: str, source: str, subscriber: str, now: float
) -> Subscription | None:
    """The live subscription of the source with this subscriber, if any."""
    row = conn.execute(
        f"{_SELECT} WHERE project = ? AND source = ? AND subscriber = ? AND expires > ?",
        (project, source, subscriber, now),
    ).fetchone()
    return None if row is None else subscription_from_row(row)


def get(
    conn: sqlite3.Connection, project: str, source: str, subscription_id: str, now: float
) -> Subscription | None:
    """The live subscription with this id, or None."""
    row = conn.execute(
        f"{_SELECT} WHERE project = ? AND source = ? AND id = ? AND expires > ?",
        (project, source, subscription_id, now),
    ).fetchone()
    return None if row is None else subscription_from_row(row)


def page(
    conn: sqlite3.Connection,
    project: str,
    source: str,
    marker: str | None,
    limit: int,
    now: float,
) -> list[Subscription]:
    """Up to `limit` live subscriptions with ids after `marker`, by id."""
    rows = conn.execute(
        f"{_SELECT} WHERE project = ? AND source = ? AND id > ? AND expires > ? "
        "ORDER BY id LIMIT ?",
        (project, source, marker or "", now, limit),
    )
    return [subscription_from_row(row) for row in rows]


def update(
    conn: sqlite3.Connection,
    project: str,
    source: str,
    subscription_id: str,
    change: Callable[[Subscription], Subscription],
    now: float,
) -> Subscription | None:
    """Replace the live subscription by `change(old)`; None when there is none."""
    old = get(conn, project, source, subscription_id, now)
    if old is None:
        return None
    new = replacement(old, change(old))
    other = holder(conn, project, source, new.subscriber, now)
    if other is not None and other.id != old.id:
        raise Conflict(f"queue {source!r} has a subscription for this subscriber already")
    conn.execute(
        "UPDATE subscriptions SET subscriber = ?, options = ?, ttl = ?, renewed = ?, "
        "expires = ?, confirmed = ? WHERE project = ? AND source = ? AND id = ?",
        (*subscription_row(new)[3:], project, source, subscription_id),
    )
    return new


def delete(conn: sqlite3.Connection, project: str, source: str, subscription_id: str) -> None:
    """Remove the subscription and what is owed to it."""
    conn.execute(
        "DELETE FROM subscriptions WHERE project = ? AND source = ? AND id = ?",
        (project, source, subscription_id),
    )
    deliveries.drop_owed(conn, project, source, subscription_id)


def purge(conn: sqlite3.Connection, project: str, source: str) -> None:
    """Remove every subscription of the source and what is owed to them."""
    conn.execute("DELETE FROM subscriptions WHERE project = ? AND source = ?", (project, source))
    deliveries.drop_owed(conn, project, source, None)


def live_ids(conn: sqlite3.Connection, project: str, source: str, now: float) -> str:
    """The ids of the source's live subscriptions, as a JSON array."""
    row = conn.execute(
        "SELECT json_group_array(id) FROM subscriptions "
        "WHERE project = ? AND source = ? AND expires > ?",
        (project, source, now),
    ).fetchone()
    return str(row[0])


def delete_expired(conn: sqlite3.Connection, now: float) -> int:
    """Remove up to `BATCH` expired subscriptions, with what is owed to them; how many."""
    gone = conn.execute(
        "SELECT project, source, id FROM subscriptions WHERE expires <= ? LIMIT ?", (now, BATCH)
    ).fetchall()
    for project, source, subscription_id in gone:
        delete(conn, project, source, subscription_id)
    return len(gone)
