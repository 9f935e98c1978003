"""The PostgreSQL schema: numbered migrations applied at start-up under an advisory lock."""

from __future__ import annotations

from typing import Any

# Entry i brings the schema from version i to i + 1. `{s}` is the quoted schema
# name. Never edit an entry once released: add a new one instead.
MIGRATIONS: list[str] = [
    """
    CREATE TABLE {s}.queues (
        id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        project text COLLATE "C" NOT NULL,
        name text COLLATE "C" NOT NULL,
        metadata json NOT NULL,
        UNIQUE (project, name)
    );

    CREATE TABLE {s}.messages (
        queue_id bigint NOT NULL,
        id bigint GENERATED ALWAYS AS IDENTITY,
        client_id text NOT NULL,
        body bytea NOT NULL,
        ttl integer NOT NULL,
        created double precision NOT NULL,
        expires double precision NOT NULL,
        available double precision NOT NULL,
        claim_id uuid,
        claimed boolean GENERATED ALWAYS AS (claim_id IS NOT NULL) STORED,
        claim_expires double precision NOT NULL DEFAULT 0,
        claim_count integer NOT NULL DEFAULT 0,
        PRIMARY KEY (queue_id, claimed, id)
    ) WITH (autovacuum_vacuum_scale_factor = 0.05, autovacuum_analyze_scale_factor = 0.05);

    CREATE INDEX messages_by_claim ON {s}.messages (claim_id) WHERE claim_id IS NOT NULL;
    CREATE INDEX messages_by_expiry ON {s}.messages (expires) WHERE expires > 0;

    CREATE TABLE {s}.claims (
        id uuid PRIMARY KEY,
        queue_id bigint NOT NULL,
        ttl integer NOT NULL,
        updated double precision NOT NULL,
        expires double precision NOT NULL
    );

    CREATE INDEX claims_by_queue ON {s}.claims (queue_id, expires);
    CREATE INDEX claims_by_expiry ON {s}.claims (expires);
    """,
    """
    CREATE TABLE {s}.api_keys (
        id text COLLATE "C" PRIMARY KEY,
        secret_hash text NOT NULL,
        project text COLLATE "C" NOT NULL,
        roles text[] NOT NULL,
        created double precision NOT NULL,
        expires double precision,
        revoked double precision
    );

    CREATE INDEX api_keys_by_project ON {s}.api_keys (project, created, id);
    """,
    """
    CREATE TABLE {s}.subscriptions (
        project text COLLATE "C" NOT NULL,
        source text COLLATE "C" NOT NULL,
        id text COLLATE "C" NOT NULL,
        subscriber text COLLATE "C" NOT NULL,
        options json NOT NULL,
        ttl integer NOT NULL,
        renewed double precision NOT NULL,
        expires double precision NOT NULL,
        confirmed boolean NOT NULL,
        PRIMARY KEY (project, source, id)
    );

    CREATE UNIQUE INDEX subscriptions_by_subscriber
        ON {s}.subscriptions (project, source, subscriber);
    CREATE INDEX subscriptions_by_expiry ON {s}.subscriptions (expires);

    CREATE TABLE {s}.deliveries (
        id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        project text COLLATE "C" NOT NULL,
        source text COLLATE "C" NOT NULL,
        subscription_id text COLLATE "C" NOT NULL,
        message_id bigint NOT NULL,
        body bytea NOT NULL,
        ttl integer NOT NULL,
        posted double precision NOT NULL,
        attempts integer NOT NULL DEFAULT 0,
        due double precision NOT NULL
    ) WITH (autovacuum_vacuum_scale_factor = 0.05, autovacuum_analyze_scale_factor = 0.05);

    CREATE INDEX deliveries_by_due ON {s}.deliveries (due, id);
    CREATE INDEX deliveries_by_subscription
        ON {s}.deliveries (project, source, subscription_id);
    """,
]
# Why these indexes (docs/storage-postgres.md has the long version):
# - messages (queue_id, claimed, id), the primary key: a queue's unclaimed
#   messages in FIFO order, then its claimed ones. Claiming and pop seek to the
#   oldest unclaimed message at once instead of stepping over claimed ones, and
#   no other index offers the planner that order for those rows. A claim moves a
#   message to the claimed range; releasing or ending the claim moves it back.
#   Lookups by id name both ranges: `claimed IN (false, true) AND id = ...`.
# - messages_by_claim: the messages of one claim (get, renew, release, expiry).
# - claims_by_queue: the expired claims of one queue, ended before each claim.
# - the two expiry indexes: garbage collection in small batches. The messages'
#   one is partial on a predicate every row meets (times are positive) that only
#   the collector's query repeats: a prepared statement's generic plan can then
#   never pick it to answer "expires > $n" for one queue by scanning all queues.
# The queue tables churn (insert, claim, delete), hence the eager autovacuum.
# - api_keys_by_project: `herald keys list --project`, oldest first. Keys are
#   found by id otherwise; only a hash of each key is stored.
# - subscriptions (project, source, id), the primary key: a post's look-up of
#   its queue's live subscriptions, gets and listings by id. The unique
#   subscriber index makes concurrent creates of one subscriber store one;
#   since it counts expired rows too, creating and updating remove an expired
#   holder first.
# - deliveries_by_due: leases seek the oldest due entries; the outbox churns
#   like the message table, hence the same eager autovacuum.
# - deliveries_by_subscription: deleting a subscription takes what it is owed.


class SchemaTooNew(RuntimeError):
    """The database was migrated by a newer Herald than this one."""


def quote_ident(name: str) -> str:
    """Quote an SQL identifier."""
    return '"' + name.replace('"', '""') + '"'


async def migrate(conn: Any, schema: str, timeout: float) -> int:
    """Bring `schema` up to the latest version in one transaction; the version reached.

    The advisory lock makes several Herald processes starting at once take turns:
    the first migrates, the others then find nothing left to do."""
    quoted = quote_ident(schema)
    async with conn.transaction():
        await conn.execute(
            "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))",
            f"herald.migrate.{schema}",
            timeout=timeout,
        )
        exists = await conn.fetchval(
            "SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)", schema
        )
        if not exists:
            await conn.execute(f"CREATE SCHEMA {quoted}")
        if await conn.fetchval("SELECT to_regclass($1)", f"{quoted}.schema_version") is None:
            # applied_at is bookkeeping for people reading the table, not semantics.
            await conn.execute(
                f"CREATE TABLE {quoted}.schema_version ("
                "version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
            )
        current = int(
            await conn.fetchval(f"SELECT coalesce(max(version), 0) FROM {quoted}.schema_version")
        )
        if current > len(MIGRATIONS):
            raise SchemaTooNew(
                f"the PostgreSQL schema {schema!r} is at version {current}, newer than the "
                f"{len(MIGRATIONS)} this Herald knows; upgrade Herald"
            )
        for version in range(current + 1, len(MIGRATIONS) + 1):
            await conn.execute(MIGRATIONS[version - 1].format(s=quoted))
            await conn.execute(
                f"INSERT INTO {quoted}.schema_version (version) VALUES ($1)", version
            )
    return len(MIGRATIONS)
