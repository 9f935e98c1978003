"""Stores made before API keys existed gain the key table on open, keeping their queues."""

from __future__ import annotations

import sqlite3
import uuid
from pathlib import Path

import pytest

import backends
from herald.model import ApiKeyRecord
from herald.storage.postgres import PostgresStore, schema
from herald.storage.sqlite import SQLiteStore
from herald.storage.sqlite.schema import MIGRATIONS

KEY = ApiKeyRecord(id="0123456789abcdef", secret_hash="0" * 64, project="p", created=1.0)


async def test_a_sqlite_file_from_before_keys_gains_them(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    conn = sqlite3.connect(path, isolation_level=None)
    for number, script in enumerate(MIGRATIONS[:2], start=1):
        conn.executescript(script)
        conn.execute(f"PRAGMA user_version = {number}")
    conn.execute("INSERT INTO queues (project, name, metadata) VALUES ('p', 'old', '{}')")
    conn.close()
    store = SQLiteStore(str(path))
    await store.open()
    try:
        assert await store.queue_metadata("p", "old") == {}
        assert await store.put_key(KEY)
        assert await store.get_key(KEY.id) == KEY
    finally:
        await store.close()


async def test_a_postgres_schema_from_before_keys_gains_them(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    name = f"herald_test_{uuid.uuid4().hex[:12]}"
    if not await backends.create_postgres_database(name):
        backends.backend_unreachable("PostgreSQL", backends.POSTGRES_HINT)
    uri = backends.postgres_uri(name) + "?min_size=1"
    try:
        with monkeypatch.context() as patched:
            patched.setattr(schema, "MIGRATIONS", schema.MIGRATIONS[:1])
            old = PostgresStore.from_uri(uri)
            await old.open()
            await old.create_queue("p", "old", {})
            await old.close()
        store = PostgresStore.from_uri(uri)
        await store.open()
        try:
            assert await store.queue_metadata("p", "old") == {}
            assert await store.put_key(KEY)
            assert await store.get_key(KEY.id) == KEY
        finally:
            await store.close()
    finally:
        await backends.drop_postgres_database(name)
