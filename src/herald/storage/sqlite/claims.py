"""Jobs on claims: the claimable messages they take, and moving what they hold."""

from __future__ import annotations

import sqlite3
from typing import Any

from herald.model import Claim, ClaimRequest, StoredMessage
from herald.storage.base import Plan
from herald.storage.kit import MESSAGE_COLUMNS, decode_metadata, messages_from_rows, row_ids
from herald.storage.sqlite import queues
from herald.storage.sqlite.sql import BATCH, marks


def claimable(
    conn: sqlite3.Connection, queue_id: int, limit: int, now: float, after: int = 0
) -> sqlite3.Cursor:
    """The oldest claimable messages; the caller has ended the queue's expired claims."""
    return conn.execute(
        f"SELECT {MESSAGE_COLUMNS} FROM messages INDEXED BY messages_claimable "
        "WHERE queue_id = ? AND claim_id IS NULL AND id > ? AND expires > ? "
        "AND available <= ? ORDER BY id LIMIT ?",
        (queue_id, after, now, now, limit),
    )


def end_all_expired(conn: sqlite3.Connection, queue_id: int, now: float) -> None:
    """End every claim of the queue that ran out, so that `claimable` sees its messages."""
    while end_expired(conn, queue_id, now) == BATCH:
        pass


def end_expired(conn: sqlite3.Connection, queue_id: int | None, now: float) -> int:
    """Clear up to `BATCH` claims that ran out (of one queue, or all); how many."""
    where, args = ("queue_id = ? AND ", [queue_id]) if queue_id is not None else ("", [])
    expired = [
        row[0]
        for row in conn.execute(
            f"SELECT id FROM claims WHERE {where}expires <= ? LIMIT ?", [*args, now, BATCH]
        )
    ]
    if expired:
        conn.execute(
            "UPDATE messages SET claim_id = NULL, claim_expires = 0 "
            f"WHERE claim_id IN ({marks(expired)})",
            expired,
        )
        conn.execute(f"DELETE FROM claims WHERE id IN ({marks(expired)})", expired)
    return len(expired)


def is_live(conn: sqlite3.Connection, queue_id: int, claim_id: str, now: float) -> bool:
    """Whether the queue has the claim and it has not expired."""
    row = conn.execute(
        "SELECT 1 FROM claims WHERE id = ? AND queue_id = ? AND expires > ?",
        (claim_id, queue_id, now),
    ).fetchone()
    return row is not None


def create(
    conn: sqlite3.Connection, project: str, queue: str, plan: Plan, claim_id: str, now: float
) -> Claim | None:
    """Claim the oldest claimable messages as `plan` asks, under `claim_id`; those
    claimed too often already are taken too, as the claim's exhausted ones."""
    row = conn.execute(
        "SELECT id, metadata FROM queues WHERE project = ? AND name = ?", (project, queue)
    ).fetchone()
    if row is None:
        return None
    queue_id = int(row[0])
    request = plan(decode_metadata(row[1]))
    end_all_expired(conn, queue_id, now)
    expires = now + request.ttl
    if request.max_claim_count is None:
        # Nothing to set aside: the oldest claimable are taken by one statement.
        claimed = _take(conn, claim_id, request, expires, _OLDEST, [queue_id, now, request.limit])
        exhausted: list[tuple[Any, ...]] = []
        if not claimed:
            return None
    else:
        taken, spent = _pick(conn, queue_id, request, now)
        if not taken and not spent:
            return None
        claimed = _take(conn, claim_id, request, expires, marks(taken), taken) if taken else []
        exhausted = _set_aside(conn, claim_id, spent, expires) if spent else []
    conn.execute(
        "INSERT INTO claims (id, queue_id, ttl, updated, expires) VALUES (?, ?, ?, ?, ?)",
        (claim_id, queue_id, request.ttl, now, expires),
    )
    return Claim(
        claim_id,
        request.ttl,
        now,
        messages_from_rows(claimed, now),
        messages_from_rows(exhausted, now),
    )


def _pick(
    conn: sqlite3.Connection, queue_id: int, request: ClaimRequest, now: float
) -> tuple[list[int], list[int]]:
    """The ids to claim, and those met on the way that reached the maximum claim count."""
    most = request.max_claim_count
    taken: list[int] = []
    spent: list[int] = []
    after = 0
    while len(taken) < request.limit:
        want = request.limit - len(taken)
        rows = claimable(conn, queue_id, want, now, after).fetchall()
        for message_id, *_, claim_count in rows:
            (spent if most is not None and claim_count >= most else taken).append(message_id)
        if len(rows) < want:
            break
        after = rows[-1][0]
    return taken, spent


# The ids `claimable` finds, as the `IN` list of `_take` (parameters 5 to 7).
_OLDEST = (
    "SELECT id FROM messages INDEXED BY messages_claimable WHERE queue_id = ?5 "
    "AND claim_id IS NULL AND expires > ?6 AND available <= ?6 ORDER BY id LIMIT ?7"
)


def _take(
    conn: sqlite3.Connection,
    claim_id: str,
    request: ClaimRequest,
    expires: float,
    among: str,
    args: list[Any],
) -> list[tuple[Any, ...]]:
    """Claim the messages `among` names (ids, or a query of them, over `args`)."""
    # The grace rule as in _apply_expiry, folded into the claiming update;
    # SET expressions all read the row's old values.
    rows = conn.execute(
        "UPDATE messages SET claim_id = ?1, claim_count = claim_count + 1, "
        "claim_expires = ?2, "
        "ttl = CASE WHEN expires < ?2 THEN ?3 ELSE ttl END, "
        "expires = CASE WHEN expires < ?2 THEN ?4 ELSE expires END "
        f"WHERE id IN ({among}) RETURNING {MESSAGE_COLUMNS}",
        [claim_id, expires, request.ttl + request.grace, expires + request.grace, *args],
    ).fetchall()
    rows.sort()
    return rows


def _set_aside(
    conn: sqlite3.Connection, claim_id: str, ids: list[int], expires: float
) -> list[tuple[Any, ...]]:
    # Held so that nobody takes them before the service moves them, but not
    # handed to anyone: their claim count and their own ttl, which a move
    # may keep, stay as they were.
    rows = conn.execute(
        "UPDATE messages SET claim_id = ?, claim_expires = ? "
        f"WHERE id IN ({marks(ids)}) RETURNING {MESSAGE_COLUMNS}",
        [claim_id, expires, *ids],
    ).fetchall()
    rows.sort()
    return rows


def get(
    conn: sqlite3.Connection, project: str, queue: str, claim_id: str, now: float
) -> Claim | None:
    """The live claim with its unexpired messages, or None."""
    queue_id = queues.find(conn, project, queue)
    if queue_id is None:
        return None
    row = conn.execute(
        "SELECT ttl, updated FROM claims WHERE id = ? AND queue_id = ? AND expires > ?",
        (claim_id, queue_id, now),
    ).fetchone()
    if row is None:
        return None
    return Claim(claim_id, row[0], row[1], _held(conn, claim_id, now))


def renew(
    conn: sqlite3.Connection,
    project: str,
    queue: str,
    claim_id: str,
    ttl: int,
    grace: int,
    now: float,
) -> bool:
    """Restart a live claim's ttl from `now`, with the grace rule; False if it is gone."""
    queue_id = queues.find(conn, project, queue)
    if queue_id is None or not is_live(conn, queue_id, claim_id, now):
        return False
    expires = now + ttl
    conn.execute(
        "UPDATE claims SET ttl = ?, updated = ?, expires = ? WHERE id = ?",
        (ttl, now, expires, claim_id),
    )
    _apply_expiry(conn, claim_id, ttl, grace, expires)
    return True


def release(conn: sqlite3.Connection, project: str, queue: str, claim_id: str, now: float) -> bool:
    """End the claim; its messages become claimable at once. Whether there was one."""
    queue_id = queues.find(conn, project, queue)
    if queue_id is None:
        return False
    cur = conn.execute("DELETE FROM claims WHERE id = ? AND queue_id = ?", (claim_id, queue_id))
    if not cur.rowcount:
        return False
    conn.execute(
        "UPDATE messages SET claim_id = NULL, claim_expires = 0 WHERE claim_id = ?",
        (claim_id,),
    )
    # Tells waiters in other processes (see wakeups.py).
    conn.execute("INSERT INTO releases (queue_id, at) VALUES (?, ?)", (queue_id, now))
    return True


def move(
    conn: sqlite3.Connection,
    project: str,
    queue: str,
    claim_id: str,
    ids: list[str],
    target: str,
    ttl: int | None,
    now: float,
) -> int:
    """Move the unexpired messages among `ids` the live claim holds to the tail of
    the queue `target`, created if missing; how many moved."""
    wanted = row_ids(ids)
    queue_id = queues.find(conn, project, queue)
    if queue_id is None or not wanted or not is_live(conn, queue_id, claim_id, now):
        return 0
    held = [
        row[0]
        for row in conn.execute(
            f"SELECT id FROM messages WHERE id IN ({marks(wanted)}) AND queue_id = ? "
            "AND claim_id = ? AND expires > ?",
            [*wanted, queue_id, claim_id, now],
        )
    ]
    if not held:
        return 0
    target_id = queues.ensure(conn, project, target)
    # A new row is a new id, which is the place at the target's tail; in id
    # order, so the moved keep their order. It arrives unclaimed and due.
    conn.execute(
        "INSERT INTO messages (queue_id, client_id, body, ttl, created, expires, available) "
        "SELECT ?, client_id, body, COALESCE(?, ttl), created, ? + COALESCE(?, ttl), ? "
        f"FROM messages WHERE id IN ({marks(held)}) ORDER BY id",
        [target_id, ttl, now, ttl, now, *held],
    )
    conn.execute(f"DELETE FROM messages WHERE id IN ({marks(held)})", held)
    return len(held)


def _apply_expiry(
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


def _held(conn: sqlite3.Connection, claim_id: str, now: float) -> list[StoredMessage]:
    return messages_from_rows(
        conn.execute(
            f"SELECT {MESSAGE_COLUMNS} FROM messages WHERE claim_id = ? AND claim_expires > ? "
            "AND expires > ? ORDER BY id",
            (claim_id, now, now),
        ),
        now,
    )
