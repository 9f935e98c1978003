"""Jobs on API keys; each runs inside a worker's transaction on its connection."""

from __future__ import annotations

import sqlite3
from typing import Any

import msgspec

from herald.model import ApiKeyRecord
from herald.storage.kit import API_KEY_COLUMNS, api_key_from_row, encode_json

_decode_roles = msgspec.json.Decoder(list[str]).decode


def put(conn: sqlite3.Connection, record: ApiKeyRecord) -> bool:
    """Insert the key; False when its id is taken."""
    cur = conn.execute(
        f"INSERT OR IGNORE INTO api_keys ({API_KEY_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)",
        (
            record.id,
            record.secret_hash,
            record.project,
            encode_json(list(record.roles)),
            record.created,
            record.expires,
            record.revoked,
        ),
    )
    return cur.rowcount == 1


def get(conn: sqlite3.Connection, key_id: str) -> ApiKeyRecord | None:
    """The key with this id, or None."""
    row = conn.execute(f"SELECT {API_KEY_COLUMNS} FROM api_keys WHERE id = ?", (key_id,))
    found = row.fetchone()
    return None if found is None else _record(found)


def listing(conn: sqlite3.Connection, project: str | None) -> list[ApiKeyRecord]:
    """The project's keys, or every key, oldest first."""
    sql = f"SELECT {API_KEY_COLUMNS} FROM api_keys"
    if project is None:
        rows = conn.execute(sql + " ORDER BY created, id")
    else:
        rows = conn.execute(sql + " WHERE project = ? ORDER BY created, id", (project,))
    return [_record(row) for row in rows]


def revoke(conn: sqlite3.Connection, key_id: str, now: float) -> ApiKeyRecord | None:
    """Set the revocation time if none is set; the key as it then stands."""
    conn.execute("UPDATE api_keys SET revoked = ? WHERE id = ? AND revoked IS NULL", (now, key_id))
    return get(conn, key_id)


def _record(row: tuple[Any, ...]) -> ApiKeyRecord:
    return api_key_from_row(row, _decode_roles(row[3]))
