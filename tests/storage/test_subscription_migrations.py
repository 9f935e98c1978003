"""Stores made before subscriptions existed gain them on open, keeping their queues and
messages, and posts to their queues start owing deliveries."""

from __future__ import annotations

import sqlite3
import uuid
from pathlib import Path

import msgspec
import pytest

import backends
from herald.model import NewMessage, Subscription
from herald.storage.base import Store
from herald.storage.postgres import PostgresStore, schema
from herald.storage.sqlite import SQLiteStore
from herald.storage.sqlite.schema import MIGRATIONS

T0 = 1_800_000_000.0
SUB = Subscription(
    id="0123456789abcdef0123456789abcdef",
    project="p",
    source="old",
    subscriber="http://example.test/",
    options={},
    ttl=3600,
    renewed=T0,
    expires=T0 + 3600,
)


async def subscribe_and_post(store: Store) -> None:
    assert await store.queue_metadata("p", "old") == {"kept": True}
    assert await store.create_subscription(SUB, T0) == (SUB, True)
    made = [NewMessage(msgspec.Raw(b'"new"'), 300, 0)]
    (posted,) = await store.post_messages("p", "old", lambda m: made, "c", T0)
    (owed,) = await store.lease_deliveries(T0, 10, 60)
    assert (owed.subscription_id, owed.message_id) == (SUB.id, posted)
    assert int(posted) > 1  # the message from before is still there, with its id


async def test_a_sqlite_file_from_before_subscriptions_gains_them(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    conn = sqlite3.connect(path, isolation_level=None)
    for number, script in enumerate(MIGRATIONS[:3], start=1):
        conn.executescript(script)
        conn.execute(f"PRAGMA user_version = {number}")
    conn.execute(
        "INSERT INTO queues (project, name, metadata) VALUES ('p', 'old', ?)", (b'{"kept":true}',)
    )
    conn.execute(
        "INSERT INTO messages (queue_id, client_id, body, ttl, created, expires, available) "
        "VALUES (1, 'c', '1', 300, ?, ?, ?)",
        (T0, T0 + 300, T0),
    )
    conn.close()
    store = SQLiteStore(str(path))
    await store.open()
    try:
        await subscribe_and_post(store)
    finally:
        await store.close()


async def test_a_postgres_schema_from_before_subscriptions_gains_them(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    name = f"herald_test_{uuid.uuid4().hex[:12]}"
    if not await backends.create_postgres_database(name):
        backends.backend_unreachable("PostgreSQL", backends.POSTGRES_HINT)
    uri = backends.postgres_uri(name) + "?min_size=1"
    try:
        with monkeypatch.context() as patched:
            patched.setattr(schema, "MIGRATIONS", schema.MIGRATIONS[:2])
            old = PostgresStore.from_uri(uri)
            await old.open()
            await old.create_queue("p", "old", {"kept": True})
            await old.database.execute(
                f"INSERT INTO {old.sql.messages} (queue_id, client_id, body, ttl, created, "
                "expires, available) SELECT id, 'c', '1', 300, $1::float8, $1::float8 + 300, $1 "
                f"FROM {old.sql.queues}",
                T0,
            )
            await old.close()
        store = PostgresStore.from_uri(uri)
        await store.open()
        try:
            await subscribe_and_post(store)
        finally:
            await store.close()
    finally:
        await backends.drop_postgres_database(name)
