"""Every SQL text the driver sends, built once per schema.

Longer than the other modules because it is the driver's SQL in one place:
each statement is written out whole, with the reasons for its plan beside it.

Statements whose page size or claim limit varies take it as an argument and
write it in as a literal: a prepared statement's generic plan knows neither,
and with a literal LIMIT even a generic plan sees that only a few rows are
wanted and walks the primary key.
"""

from __future__ import annotations

from herald.storage.kit import (
    API_KEY_COLUMNS,
    DELIVERY_COLUMNS,
    MESSAGE_COLUMNS,
    SUBSCRIPTION_COLUMNS,
)
from herald.storage.postgres.schema import quote_ident

GC_BATCH = 1000

# Lookups by id name both key ranges of the primary key so that they seek.
EITHER_STATE = "claimed IN (false, true)"


def _qualified(alias: str, columns: str) -> str:
    return ", ".join(f"{alias}.{column}" for column in columns.split(", "))


class Statements:
    """The SQL of one schema's tables; `$1` and `$2` are a queue's project and
    name wherever a statement finds the queue by them."""

    def __init__(self, schema: str) -> None:
        self.schema = schema
        s = quote_ident(schema)
        queues, messages, claims = f"{s}.queues", f"{s}.messages", f"{s}.claims"
        self.queues, self.messages, self.claims = queues, messages, claims

        # The one way a queue's row is found: by the (project, name) unique index.
        def queue(columns: str = "id", lock: str = "") -> str:
            return f"SELECT {columns} FROM {queues} WHERE project = $1 AND name = $2 {lock}"

        queue_of = f"({queue()})"
        self.queue_of = queue_of

        # Queues

        self.create_queue = f"""
            INSERT INTO {queues} (project, name, metadata) VALUES ($1, $2, $3)
            ON CONFLICT (project, name) DO NOTHING RETURNING id
            """
        self.queue_metadata = queue("metadata")
        self.queue_to_change = queue("id, metadata", "FOR NO KEY UPDATE")
        self.set_metadata = f"UPDATE {queues} SET metadata = $2 WHERE id = $1"
        # FOR UPDATE waits for posts in progress, so none can add messages
        # to the queue after its messages are gone.
        self.queue_to_delete = queue("id", "FOR UPDATE")
        self.delete_queue_row = f"DELETE FROM {queues} WHERE id = $1"
        # Posts, purges and moves into a queue take this lock.
        self.lock_queue = queue("id", "FOR NO KEY UPDATE")
        self.insert_queue = f"""
            INSERT INTO {queues} (project, name, metadata) VALUES ($1, $2, '{{}}')
            ON CONFLICT (project, name) DO NOTHING RETURNING id
            """
        self.purge_messages = f"DELETE FROM {messages} WHERE queue_id = $1"
        self.purge_claims = f"DELETE FROM {claims} WHERE queue_id = $1"
        self.count_queues = f"SELECT count(*) FROM {queues} WHERE project = $1"
        self.queue_stats = f"""
            WITH live AS (
                SELECT count(*) AS total,
                       count(*) FILTER (WHERE claim_id IS NOT NULL
                                        AND claim_expires > $3) AS claimed,
                       count(*) FILTER (WHERE available > $3) AS delayed,
                       min(id) AS oldest, max(id) AS newest
                FROM {messages} WHERE queue_id = {queue_of} AND expires > $3
            )
            SELECT live.*,
                (SELECT created FROM {messages} WHERE queue_id = {queue_of}
                 AND {EITHER_STATE} AND id = live.oldest) AS oldest_created,
                (SELECT created FROM {messages} WHERE queue_id = {queue_of}
                 AND {EITHER_STATE} AND id = live.newest) AS newest_created
            FROM live
            """

        # Messages

        # Locking the queue row makes posts to one queue take turns until
        # they commit, so ids become visible in order and a reader paging
        # by marker can never step past a message committed later.
        # $3 to $7 are the messages' client ids, times, bodies, ttls and delays;
        # $8 the queue's wake-up channel, notified as the insert commits; $9 the
        # outbox's, notified too when the post owes deliveries.
        # The same statement writes the outbox: one delivery per message and
        # subscription live at that message's post time, due when it is.
        self.post = f"""
            WITH q AS ({queue("id", "FOR NO KEY UPDATE")}),
            posted AS (
                INSERT INTO {messages}
                    (queue_id, client_id, body, ttl, created, expires, available)
                SELECT q.id, m.client_id, m.body, m.ttl, m.now, m.now + m.ttl,
                       m.now + m.delay
                FROM q, unnest($3::text[], $4::float8[], $5::bytea[], $6::int4[], $7::int4[])
                    WITH ORDINALITY AS m(client_id, now, body, ttl, delay, n)
                ORDER BY m.n
                RETURNING id, body, ttl, created, available
            ),
            owed AS (
                INSERT INTO {s}.deliveries
                    (project, source, subscription_id, message_id, body, ttl, posted, due)
                SELECT $1, $2, sub.id, posted.id, posted.body, posted.ttl, posted.created,
                       posted.available
                FROM posted JOIN {s}.subscriptions sub
                    ON sub.project = $1 AND sub.source = $2 AND sub.expires > posted.created
                ORDER BY posted.id, sub.id
                RETURNING 1
            )
            SELECT id FROM posted
            UNION ALL
            SELECT NULL FROM (SELECT pg_notify($8, '') WHERE EXISTS (SELECT FROM posted)) n
            UNION ALL
            SELECT NULL FROM (SELECT pg_notify($9, '') WHERE EXISTS (SELECT FROM owed)) o
            """
        # $3 the ids, $4 now.
        self.get_messages = f"""
            SELECT {MESSAGE_COLUMNS} FROM {messages}
            WHERE queue_id = {queue_of} AND {EITHER_STATE}
              AND id = ANY($3::int8[]) AND expires > $4
            """
        # $3 the ids.
        self.delete_messages = f"""
            DELETE FROM {messages} WHERE queue_id = {queue_of}
              AND {EITHER_STATE} AND id = ANY($3::int8[])
            """
        # $3 the ids, $4 the claim ids, $5 now.
        self.delete_held_messages = f"""
            DELETE FROM {messages} WHERE queue_id = {queue_of}
              AND claimed AND claim_id = ANY($4::uuid[]) AND claim_expires > $5
              AND id = ANY($3::int8[])
            """
        # The statement reads each message and deletes it if, as the row is by
        # then, the rules allow: restated in SQL so that checking and deleting
        # are one step. delete_verdict on what it read must agree.
        # $3 the ids, $4 the claim ids given (NULL for none), $5 each delete's now.
        self.delete_batch = f"""
            WITH m AS MATERIALIZED (
                SELECT r.id, r.now, msg.queue_id, msg.claimed, msg.claim_id,
                    msg.claim_expires, r.given,
                    EXISTS (SELECT 1 FROM {claims} c WHERE c.id = r.given
                            AND c.queue_id = msg.queue_id AND c.expires > r.now)
                        AS given_live
                FROM unnest($3::int8[], $4::uuid[], $5::float8[]) AS r(id, given, now)
                JOIN {messages} msg ON msg.queue_id = {queue_of}
                    AND msg.{EITHER_STATE} AND msg.id = r.id AND msg.expires > r.now
            ),
            gone AS (
                DELETE FROM {messages} d USING m
                WHERE d.queue_id = m.queue_id AND d.claimed = m.claimed AND d.id = m.id
                  AND CASE WHEN m.given IS NULL
                           THEN d.claim_id IS NULL OR d.claim_expires <= m.now
                           ELSE m.given_live AND d.claim_id = m.given
                                AND d.claim_expires > m.now
                      END
                RETURNING d.id
            )
            SELECT m.*, m.id IN (SELECT id FROM gone) AS deleted FROM m
            """
        # $3 the id, $4 now, $5 the claim id given (NULL for none).
        self.message_to_delete = f"""
            SELECT m.queue_id, m.claimed, m.claim_id, m.claim_expires,
                EXISTS (SELECT 1 FROM {claims} c WHERE c.id = $5
                        AND c.queue_id = m.queue_id AND c.expires > $4) AS given_live
            FROM {messages} m
            WHERE m.queue_id = {queue_of} AND m.{EITHER_STATE}
              AND m.id = $3 AND m.expires > $4
            FOR UPDATE OF m
            """
        self.delete_message_row = (
            f"DELETE FROM {messages} WHERE queue_id = $1 AND claimed = $2 AND id = $3"
        )

        # Claims

        # End the queue's expired claims, then name the queue: its id and
        # metadata. Claims locked by another transaction are skipped, as that
        # one is ending them. $3 now.
        self.free_expired_claims = f"""
            WITH expired AS MATERIALIZED (
                SELECT id FROM {claims}
                WHERE queue_id = {queue_of} AND expires <= $3
                FOR UPDATE SKIP LOCKED
            ),
            gone AS (
                DELETE FROM {claims} c USING expired WHERE c.id = expired.id
                RETURNING c.id
            ),
            freed AS (
                -- By claim id alone: with the queue's id too, the planner may
                -- AND in a scan of the queue's whole primary-key range.
                UPDATE {messages} m SET claim_id = NULL, claim_expires = 0
                FROM gone WHERE m.claim_id = gone.id
            )
            {queue("id, metadata")}
            """
        # $3 the claim id, $4 now.
        self.get_claim = f"""
            WITH c AS (
                SELECT id, queue_id, ttl AS claim_ttl, updated FROM {claims}
                WHERE id = $3 AND expires > $4 AND queue_id = {queue_of}
            )
            SELECT {_qualified("m", MESSAGE_COLUMNS)}, c.claim_ttl, c.updated
            FROM c LEFT JOIN {messages} m
                ON m.claim_id = c.id
                AND m.claim_expires > $4 AND m.expires > $4
            ORDER BY m.id
            """
        # $3 the claim id, $4 now, $5 the ttl, $6 the new expiry, $7 the grace.
        self.renew_claim = f"""
            WITH c AS (
                UPDATE {claims} SET ttl = $5::int4, updated = $4::float8,
                    expires = $6::float8
                WHERE id = $3 AND expires > $4::float8 AND queue_id = {queue_of}
                RETURNING id
            ),
            m AS (
                UPDATE {messages} m SET claim_expires = $6::float8,
                    ttl = CASE WHEN m.expires < $6::float8 THEN $5::int4 + $7::int4
                               ELSE m.ttl END,
                    expires = CASE WHEN m.expires < $6::float8 THEN $6::float8 + $7::int4
                                   ELSE m.expires END
                FROM c WHERE m.claim_id = c.id
            )
            SELECT count(*) FROM c
            """
        # $3 the claim id, $4 the queue's wake-up channel.
        self.release_claim = f"""
            WITH c AS (
                DELETE FROM {claims} WHERE id = $3 AND queue_id = {queue_of}
                RETURNING id
            ),
            freed AS (
                UPDATE {messages} m SET claim_id = NULL, claim_expires = 0
                FROM c WHERE m.claim_id = c.id
            )
            SELECT pg_notify($4, '') FROM c
            """
        self.notify = "SELECT pg_notify($1, '')"
        # $3 now: the next due time of a delayed message or end of a live claim.
        self.next_available = f"""
            SELECT least(
                (SELECT min(available) FROM {messages} WHERE queue_id = {queue_of}
                   AND {EITHER_STATE} AND available > $3 AND expires > $3),
                (SELECT min(expires) FROM {claims} WHERE queue_id = {queue_of}
                   AND expires > $3))
            """

        # Moving re-inserts: the message joins the target queue's tail ($6, whose
        # row the caller holds locked, as a post does), unclaimed, due, never
        # claimed, living the ttl $7 (or its own) from now. Only what the live
        # claim $4 holds among the ids $3 moves. $5 now; the count moved.
        # Identity values are drawn in the ORDER BY's order.
        self.move = f"""
            WITH gone AS (
                DELETE FROM {messages}
                WHERE queue_id = {queue_of} AND claimed AND id = ANY($3::int8[])
                  AND claim_id = $4 AND claim_expires > $5
                RETURNING id, client_id, body, ttl, created
            ),
            moved AS (
                INSERT INTO {messages}
                    (queue_id, client_id, body, ttl, created, expires, available)
                SELECT $6::int8, client_id, body, coalesce($7::int4, ttl), created,
                       $5::float8 + coalesce($7::int4, ttl), $5::float8
                FROM gone ORDER BY id
                RETURNING 1
            )
            SELECT count(*) FROM moved
            """

        # API keys: $1 is the key's id wherever one is found by it.

        api_keys = f"{s}.api_keys"
        self.put_key = f"""
            INSERT INTO {api_keys} ({API_KEY_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7)
            ON CONFLICT (id) DO NOTHING RETURNING id
            """
        self.get_key = f"SELECT {API_KEY_COLUMNS} FROM {api_keys} WHERE id = $1"
        self.list_keys = f"SELECT {API_KEY_COLUMNS} FROM {api_keys} ORDER BY created, id"
        self.list_project_keys = f"""
            SELECT {API_KEY_COLUMNS} FROM {api_keys} WHERE project = $1 ORDER BY created, id
            """
        # The first revocation time stays: $2 is now.
        self.revoke_key = f"""
            UPDATE {api_keys} SET revoked = coalesce(revoked, $2) WHERE id = $1
            RETURNING {API_KEY_COLUMNS}
            """

        # Subscriptions: $1 and $2 are the project and the source queue wherever
        # one is found by them. A subscriber is unique per source among all the
        # rows, expired ones too, so an expired holder is removed first (by the
        # statement before, in the same transaction).

        subscriptions, deliveries = f"{s}.subscriptions", f"{s}.deliveries"
        self.subscriptions, self.deliveries = subscriptions, deliveries
        # $3 the subscriber, $4 now.
        self.drop_expired_holder = f"""
            DELETE FROM {subscriptions}
            WHERE project = $1 AND source = $2 AND subscriber = $3 AND expires <= $4
            """
        self.insert_subscription = f"""
            INSERT INTO {subscriptions} ({SUBSCRIPTION_COLUMNS})
            VALUES ($3, $1, $2, $4, $5, $6, $7, $8, $9)
            ON CONFLICT (project, source, subscriber) DO NOTHING RETURNING id
            """
        self.subscription_holder = f"""
            SELECT {SUBSCRIPTION_COLUMNS} FROM {subscriptions}
            WHERE project = $1 AND source = $2 AND subscriber = $3 AND expires > $4
            """
        # $3 the id, $4 now.
        self.get_subscription = f"""
            SELECT {SUBSCRIPTION_COLUMNS} FROM {subscriptions}
            WHERE project = $1 AND source = $2 AND id = $3 AND expires > $4
            """
        self.subscription_to_change = self.get_subscription + " FOR UPDATE"
        # $3 the id, then the new subscriber, options, ttl, renewed, expires, confirmed.
        self.set_subscription = f"""
            UPDATE {subscriptions} SET subscriber = $4, options = $5, ttl = $6,
                renewed = $7, expires = $8, confirmed = $9
            WHERE project = $1 AND source = $2 AND id = $3
            """
        # With what they are owed: $3 the id of one, or every subscription of
        # the source. Two texts, so that each plan seeks its own index range.
        self.delete_subscription = f"""
            WITH gone AS (
                DELETE FROM {subscriptions} WHERE project = $1 AND source = $2 AND id = $3
            )
            DELETE FROM {deliveries}
            WHERE project = $1 AND source = $2 AND subscription_id = $3
            """
        self.purge_subscriptions = f"""
            WITH gone AS (DELETE FROM {subscriptions} WHERE project = $1 AND source = $2)
            DELETE FROM {deliveries} WHERE project = $1 AND source = $2
            """

        # The outbox: $1 a delivery's id wherever one is found by it.
        self.retry_delivery = f"UPDATE {deliveries} SET attempts = $2, due = $3 WHERE id = $1"
        self.finish_delivery = f"DELETE FROM {deliveries} WHERE id = $1"
        self.finish_deliveries = f"DELETE FROM {deliveries} WHERE id = ANY($1::bigint[])"
        self.count_deliveries = f"SELECT count(*), min(posted) FROM {deliveries}"

        # Housekeeping: each batch is its own short statement, so no lock is
        # held for long and SKIP LOCKED lets claims and posts carry on around
        # the collector. $1 now.

        self.collect_claims = f"""
            WITH expired AS MATERIALIZED (
                SELECT id FROM {claims} WHERE expires <= $1
                LIMIT {GC_BATCH} FOR UPDATE SKIP LOCKED
            ),
            gone AS (
                DELETE FROM {claims} c USING expired WHERE c.id = expired.id
                RETURNING c.id
            ),
            freed AS (
                UPDATE {messages} m SET claim_id = NULL, claim_expires = 0
                FROM gone WHERE m.claim_id = gone.id
            )
            SELECT count(*) FROM gone
            """
        self.collect_messages = f"""
            WITH old AS MATERIALIZED (
                SELECT queue_id, claimed, id FROM {messages}
                WHERE expires <= $1 AND expires > 0
                LIMIT {GC_BATCH} FOR UPDATE SKIP LOCKED
            ),
            gone AS (
                DELETE FROM {messages} m USING old
                WHERE m.queue_id = old.queue_id AND m.claimed = old.claimed AND m.id = old.id
                RETURNING 1
            )
            SELECT count(*) FROM gone
            """
        self.collect_subscriptions = f"""
            WITH old AS MATERIALIZED (
                SELECT project, source, id FROM {subscriptions} WHERE expires <= $1
                LIMIT {GC_BATCH} FOR UPDATE SKIP LOCKED
            ),
            gone AS (
                DELETE FROM {subscriptions} sub USING old
                WHERE sub.project = old.project AND sub.source = old.source AND sub.id = old.id
                RETURNING sub.project, sub.source, sub.id
            ),
            owed AS (
                DELETE FROM {deliveries} d USING gone
                WHERE d.project = gone.project AND d.source = gone.source
                  AND d.subscription_id = gone.id
            )
            SELECT count(*) FROM gone
            """

    def list_subscriptions(self, limit: int) -> str:
        """The live subscriptions of the source $1, $2 with ids after $3 at time $4, by id."""
        return f"""
            SELECT {SUBSCRIPTION_COLUMNS} FROM {self.subscriptions}
            WHERE project = $1 AND source = $2 AND id > $3 AND expires > $4
            ORDER BY id LIMIT {int(limit)}
            """

    def lease_deliveries(self, limit: int) -> str:
        """Take up to `limit` deliveries due at $1, by (due, id), until $2; each row with
        the due it had, `was_due`, to order them by."""
        # SKIP LOCKED passes over rows another leaser holds; one that waited
        # on a row finds it, once free, due no longer.
        columns = _qualified("d", DELIVERY_COLUMNS)
        return f"""
            WITH picked AS MATERIALIZED (
                SELECT id, due FROM {self.deliveries} WHERE due <= $1
                ORDER BY due, id LIMIT {int(limit)} FOR UPDATE SKIP LOCKED
            )
            UPDATE {self.deliveries} d SET due = $2 FROM picked WHERE d.id = picked.id
            RETURNING {columns}, picked.due AS was_due
            """

    def list_queues(self, limit: int, *, bounded: bool) -> str:
        """The project $1's queues named after $2 and from the prefix $3 on (up to
        $4 when `bounded`), by name."""
        # Only key conditions, so the scan is a seek in the (project, name) index
        # and a walk over the page; in the "C" collation that is code-point order.
        before = "AND name < $4" if bounded else ""
        return f"""
            SELECT name, metadata FROM {self.queues}
            WHERE project = $1 AND name > $2 AND name >= $3 {before}
            ORDER BY name LIMIT {int(limit)}
            """

    def list_messages(
        self, *, include_claimed: bool, include_delayed: bool, echo: bool, batch: int, limit: int
    ) -> str:
        """The queue's messages after the id $3 at time $4, without the client $5's own
        unless `echo`: up to `batch` rows of each key range scanned, `shown` telling
        which the query keeps, `part` which range each came from (-1: through an
        expired claim)."""
        conditions = ["m.expires > $4"]
        if not include_delayed:
            conditions.append("m.available <= $4")
        if not echo:
            conditions.append("m.client_id <> $5")
        shown = " AND ".join(conditions)
        # Unclaimed messages, and with include_claimed the claimed ones too: each
        # a range of the primary key, read in FIFO order.
        ranges = ["false", "true"] if include_claimed else ["false"]
        # Each scan's WHERE holds only what the primary key answers and its
        # LIMIT is a literal, so the plan is always a walk along the key,
        # however badly the planner would guess how many rows the other
        # conditions keep. Those are computed into the `shown` column.
        parts = [
            f"""
            (SELECT id, CASE WHEN shown THEN body END AS body, ttl, created, claim_id,
                    claim_expires, claim_count, shown, {n} AS part
             FROM (
                SELECT m.*, ({shown}) AS shown FROM {self.messages} m
                WHERE m.queue_id = {self.queue_of} AND m.claimed = {claimed}
                  AND m.id > $3
                ORDER BY m.id LIMIT {int(batch)}
             ) AS scanned)
            """
            for n, claimed in enumerate(ranges)
        ]
        if not include_claimed:
            # Messages whose claim has expired but was not ended yet still
            # sit in the claimed range: reach them through their claim
            # rather than by stepping over every live claimed message.
            parts.append(
                f"""
                (SELECT {_qualified("m", MESSAGE_COLUMNS)}, true, -1
                 FROM {self.claims} c
                 JOIN {self.messages} m ON m.claim_id = c.id AND m.queue_id = c.queue_id
                 WHERE c.queue_id = {self.queue_of} AND c.expires <= $4 AND m.id > $3
                   AND {shown}
                 ORDER BY m.id LIMIT {int(limit)})
                """
            )
        return " UNION ALL ".join(parts)

    def oldest_claimable(self, limit: int) -> str:
        """SELECT locking up to `limit` claimable messages of queue $1 at time $2, oldest first."""
        return f"""
            SELECT id FROM {self.messages}
            WHERE queue_id = $1 AND NOT claimed AND expires > $2 AND available <= $2
            ORDER BY id LIMIT {int(limit)} FOR UPDATE SKIP LOCKED
            """

    def pop(self, limit: int) -> str:
        """Delete and return up to `limit` claimable messages of queue $1 at time $2,
        picking and deleting in one statement."""
        return f"""
            WITH picked AS MATERIALIZED ({self.oldest_claimable(limit)})
            DELETE FROM {self.messages} m USING picked
            WHERE m.queue_id = $1 AND NOT m.claimed AND m.id = picked.id
            RETURNING {_qualified("m", MESSAGE_COLUMNS)}
            """

    def claim(self, limit: int) -> str:
        """Claim up to `limit` claimable messages of queue $1 after the id $8 at time
        $2 as $3, until $4, for $5 seconds with $6 of grace; the claimed messages by
        id, those claimed $7 times already marked `exhausted`."""
        # One statement picks, claims and records the claim; the grace rule keeps
        # a message alive until `grace` seconds after the claim ends. The pick is
        # MATERIALIZED, here and wherever a locking SELECT with a LIMIT feeds a
        # write: run again (as the inner side of a join can be), it would skip
        # the rows this statement already changed and take more than its LIMIT.
        # An exhausted message is held but neither counted as claimed once more
        # nor kept alive by the grace rule: no one was handed it. The first
        # statement of a claim that takes anything records it; those reading on
        # find it recorded.
        return f"""
            WITH picked AS MATERIALIZED (
                SELECT id, coalesce(claim_count >= $7::int4, false) AS exhausted
                FROM {self.messages}
                WHERE queue_id = $1 AND NOT claimed AND id > $8
                  AND expires > $2 AND available <= $2
                ORDER BY id LIMIT {int(limit)} FOR UPDATE SKIP LOCKED
            ),
            claimed AS (
                UPDATE {self.messages} m SET
                    claim_id = $3::uuid, claim_expires = $4::float8,
                    claim_count = CASE WHEN picked.exhausted THEN m.claim_count
                                       ELSE m.claim_count + 1 END,
                    ttl = CASE WHEN NOT picked.exhausted AND m.expires < $4::float8
                               THEN $5::int4 + $6::int4 ELSE m.ttl END,
                    expires = CASE WHEN NOT picked.exhausted AND m.expires < $4::float8
                                   THEN $4::float8 + $6::int4 ELSE m.expires END
                FROM picked WHERE m.queue_id = $1 AND NOT m.claimed AND m.id = picked.id
                RETURNING {_qualified("m", MESSAGE_COLUMNS)}, picked.exhausted
            ),
            recorded AS (
                INSERT INTO {self.claims} (id, queue_id, ttl, updated, expires)
                SELECT $3::uuid, $1::int8, $5::int4, $2::float8, $4::float8
                WHERE EXISTS (SELECT 1 FROM claimed)
                ON CONFLICT (id) DO NOTHING
            )
            SELECT * FROM claimed ORDER BY id
            """
