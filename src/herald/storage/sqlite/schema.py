"""The SQLite schema, versioned by `PRAGMA user_version`, and bringing a file up to date."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable

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
    # API keys: only a hash of each key is kept. Roles are a JSON array;
    # listings go by project, oldest first.
    """
    CREATE TABLE api_keys (
        id TEXT PRIMARY KEY,
        secret_hash TEXT NOT NULL,
        project TEXT NOT NULL,
        roles TEXT NOT NULL,
        created REAL NOT NULL,
        expires REAL,
        revoked REAL
    ) WITHOUT ROWID;
    CREATE INDEX api_keys_by_project ON api_keys (project, created, id);
    """,
    # Subscriptions belong to a (project, source queue) whether or not the
    # queue has a row yet. Subscribers are unique among live subscriptions
    # only, which no index can say: the writer thread checks. Deliveries are
    # the outbox posts write; a lease seeks by (due, id).
    """
    CREATE TABLE subscriptions (
        id TEXT NOT NULL,
        project TEXT NOT NULL,
        source TEXT NOT NULL,
        subscriber TEXT NOT NULL,
        options BLOB NOT NULL,
        ttl INTEGER NOT NULL,
        renewed REAL NOT NULL,
        expires REAL NOT NULL,
        confirmed INTEGER NOT NULL,
        PRIMARY KEY (project, source, id)
    ) WITHOUT ROWID;
    CREATE INDEX subscriptions_by_subscriber ON subscriptions (project, source, subscriber);
    CREATE INDEX subscriptions_by_expiry ON subscriptions (expires);
    CREATE TABLE deliveries (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        project TEXT NOT NULL,
        source TEXT NOT NULL,
        subscription_id TEXT NOT NULL,
        message_id INTEGER NOT NULL,
        body BLOB NOT NULL,
        ttl INTEGER NOT NULL,
        posted REAL NOT NULL,
        attempts INTEGER NOT NULL,
        due REAL NOT NULL
    );
    CREATE INDEX deliveries_by_due ON deliveries (due, id);
    CREATE INDEX deliveries_by_subscription ON deliveries (project, source, subscription_id);
    """,
]


def migrate(conn: sqlite3.Connection) -> None:
    """Run the migrations the file has not had yet, all in one transaction."""
    # BEGIN IMMEDIATE takes the write lock before reading the version, so
    # processes starting together cannot both run a migration.
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
        raise


def _statements(script: str) -> Iterable[str]:
    return (s.strip() for s in script.split(";") if s.strip())
