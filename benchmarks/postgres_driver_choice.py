"""Time asyncpg against psycopg 3 on the two round trips the PostgreSQL store makes most.

Both drivers run the same statements against the same scratch database in the
same process, alternating round by round so that neither gets a warmer server:

* post: one single-row INSERT committed on its own (autocommit), as a 201 needs;
* claim: `UPDATE ... WHERE id IN (SELECT ... FOR UPDATE SKIP LOCKED) RETURNING`.

Each is timed on one connection (latency) and through a pool of `--pool`
connections shared by `--tasks` concurrent tasks (throughput, as under load).
Run:

    python benchmarks/postgres_driver_choice.py --dsn postgresql://postgres@127.0.0.1:5432/test

It creates a database `herald_bench_<random>` beside the one named and drops it
afterwards. Counts are bounded by `--count` and `--rounds`.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import statistics
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import psycopg
import psycopg_pool

try:
    import uvloop
except ImportError:  # pragma: no cover - Herald serves on uvloop where it exists
    uvloop = None

SCHEMA = """
CREATE TABLE bench_messages (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    queue_id bigint NOT NULL,
    body bytea NOT NULL,
    created double precision NOT NULL,
    expires double precision NOT NULL,
    claim_id uuid,
    claim_expires double precision NOT NULL DEFAULT 0
);
CREATE INDEX bench_messages_queue ON bench_messages (queue_id, id);
"""

INSERT = "INSERT INTO bench_messages (queue_id, body, created, expires) VALUES ({}, {}, {}, {})"
CLAIM = (
    "UPDATE bench_messages SET claim_id = {}, claim_expires = {} WHERE id IN ("
    "SELECT id FROM bench_messages WHERE queue_id = {} AND expires > {} AND claim_expires <= {} "
    "ORDER BY id LIMIT 5 FOR UPDATE SKIP LOCKED) RETURNING id, body"
)
BODY = b'{"event": "benchmark", "payload": "' + b"x" * 200 + b'"}'
CLAIM_QUEUE = 1  # preloaded; posts go to queue 2 so they never slow the claim scan
CLAIM_ROWS = 200


def _sql(template: str, style: str, count: int) -> str:
    marks = [f"${i}" for i in range(1, count + 1)] if style == "$" else ["%s"] * count
    return template.format(*marks)


class Clock:
    """Hands every claim a `now` past the previous claim's expiry, so the same rows recur."""

    def __init__(self) -> None:
        self.now = 1_000_000.0

    def tick(self) -> float:
        self.now += 2.0
        return self.now


# One clock for every run: a run that started its own clock again would find the
# rows still claimed by the previous run and time a scan over them instead.
clock = Clock()


async def asyncpg_run(dsn: str, count: int, pool_size: int, tasks: int) -> dict[str, Timing]:
    insert = _sql(INSERT, "$", 4)
    claim = _sql(CLAIM, "$", 5)
    results: dict[str, Timing] = {}

    conn = await asyncpg.connect(dsn)
    try:

        async def post_one(c: Any) -> None:
            await c.execute(insert, 2, BODY, 0.0, 1e12)

        async def claim_one(c: Any) -> None:
            now = clock.tick()
            await c.fetch(claim, uuid.uuid4(), now + 1.0, CLAIM_QUEUE, now, now)

        results["post, 1 connection"] = await _serial(lambda: post_one(conn), count)
        results["claim, 1 connection"] = await _serial(lambda: claim_one(conn), count)
    finally:
        await conn.close()

    async def keep_session(c: Any) -> None:
        """The store leaves no session state behind, so skip the pool's reset query."""

    # asyncpg's pool runs a reset query on every release unless told otherwise;
    # time both so the cost of that extra round trip is on record.
    for reset, suffix in ((keep_session, ""), (None, " (reset query)")):
        pool = await asyncpg.create_pool(dsn, min_size=pool_size, max_size=pool_size, reset=reset)
        try:

            async def pooled(op: Callable[[Any], Awaitable[None]], pool: Any = pool) -> None:
                async with pool.acquire() as c:
                    await op(c)

            results[f"post, pool {pool_size} x {tasks} tasks{suffix}"] = await _parallel(
                lambda: pooled(post_one), count, tasks
            )
            results[f"claim, pool {pool_size} x {tasks} tasks{suffix}"] = await _parallel(
                lambda: pooled(claim_one), count, tasks
            )
        finally:
            await pool.close()
    return results


async def psycopg_run(dsn: str, count: int, pool_size: int, tasks: int) -> dict[str, Timing]:
    insert = _sql(INSERT, "%", 4)
    claim = _sql(CLAIM, "%", 5)
    results: dict[str, Timing] = {}

    conn = await psycopg.AsyncConnection.connect(dsn, autocommit=True)
    try:

        async def post_one(c: Any) -> None:
            await c.execute(insert, (2, BODY, 0.0, 1e12))

        async def claim_one(c: Any) -> None:
            now = clock.tick()
            cur = await c.execute(claim, (uuid.uuid4(), now + 1.0, CLAIM_QUEUE, now, now))
            await cur.fetchall()

        results["post, 1 connection"] = await _serial(lambda: post_one(conn), count)
        results["claim, 1 connection"] = await _serial(lambda: claim_one(conn), count)
    finally:
        await conn.close()

    pool = psycopg_pool.AsyncConnectionPool(
        dsn,
        min_size=pool_size,
        max_size=pool_size,
        kwargs={"autocommit": True},
        open=False,
    )
    await pool.open(wait=True)
    try:

        async def pooled(op: Callable[[Any], Awaitable[None]]) -> None:
            async with pool.connection() as c:
                await op(c)

        results[f"post, pool {pool_size} x {tasks} tasks"] = await _parallel(
            lambda: pooled(post_one), count, tasks
        )
        results[f"claim, pool {pool_size} x {tasks} tasks"] = await _parallel(
            lambda: pooled(claim_one), count, tasks
        )
    finally:
        await pool.close()
    return results


Timing = tuple[float, float]


async def _serial(op: Callable[[], Awaitable[None]], count: int) -> Timing:
    """Wall-clock and client-CPU microseconds per operation, one after another."""
    for _ in range(min(50, count)):
        await op()  # warm-up: statement caches, server-side plans
    started, cpu = time.perf_counter(), time.process_time()
    for _ in range(count):
        await op()
    return _per_op(started, cpu, count)


async def _parallel(op: Callable[[], Awaitable[None]], count: int, tasks: int) -> Timing:
    """Wall-clock and client-CPU microseconds per operation, `tasks` running at once."""
    per_task = max(1, count // tasks)

    async def worker() -> None:
        for _ in range(per_task):
            await op()

    started, cpu = time.perf_counter(), time.process_time()
    await asyncio.gather(*(worker() for _ in range(tasks)))
    return _per_op(started, cpu, per_task * tasks)


def _per_op(started: float, cpu: float, count: int) -> Timing:
    wall = (time.perf_counter() - started) / count * 1e6
    return wall, (time.process_time() - cpu) / count * 1e6


async def _vacuum(dsn: str) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("VACUUM ANALYZE bench_messages")
    finally:
        await conn.close()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dsn", default="postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--count", type=int, default=2000, help="operations per measurement")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds per driver")
    parser.add_argument("--pool", type=int, default=4, help="pool size for the pooled runs")
    parser.add_argument("--tasks", type=int, default=16, help="concurrent tasks on the pool")
    args = parser.parse_args()
    if not 1 <= args.count <= 100_000 or not 1 <= args.rounds <= 20:
        parser.error("--count must be 1..100000 and --rounds 1..20")

    name = f"herald_bench_{uuid.uuid4().hex[:10]}"
    parts = urlsplit(args.dsn)
    dsn = urlunsplit(parts._replace(path="/" + name))
    admin = await asyncpg.connect(args.dsn)
    await admin.execute(f'CREATE DATABASE "{name}"')
    try:
        setup = await asyncpg.connect(dsn)
        try:
            await setup.execute(SCHEMA)
            await setup.execute(
                "INSERT INTO bench_messages (queue_id, body, created, expires) "
                "SELECT $1, $2, 0, 1e12 FROM generate_series(1, $3)",
                CLAIM_QUEUE,
                BODY,
                CLAIM_ROWS,
            )
            await setup.execute("VACUUM ANALYZE bench_messages")
            server = await setup.fetchval("SHOW server_version")
            sync = await setup.fetchval("SHOW synchronous_commit")
        finally:
            await setup.close()

        runs: dict[str, dict[str, list[Timing]]] = {"asyncpg": {}, "psycopg": {}}
        for round_number in range(args.rounds):
            # Alternate who goes first so neither always meets a warmer server.
            order = [("asyncpg", asyncpg_run), ("psycopg", psycopg_run)]
            if round_number % 2:
                order.reverse()
            for driver, run in order:
                # The claim rows are rewritten thousands of times a run; without a
                # vacuum between runs the later runner would scan the earlier one's
                # dead versions and the numbers would measure bloat, not drivers.
                await _vacuum(dsn)
                started = time.perf_counter()
                numbers = await run(dsn, args.count, args.pool, args.tasks)
                print(
                    f"round {round_number + 1} {driver}: {time.perf_counter() - started:.1f} s "
                    + ", ".join(f"{w:.0f}/{c:.0f}" for w, c in numbers.values()),
                    file=sys.stderr,
                )
                for label, value in numbers.items():
                    runs[driver].setdefault(label, []).append(value)
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()

    print(
        f"machine: {platform.machine()} {platform.processor() or ''} {os.cpu_count()} cpus, "
        f"{platform.system()} {platform.release()}; Python {platform.python_version()}; "
        f"loop {'uvloop' if uvloop else 'asyncio'}"
    )
    print(
        f"server: PostgreSQL {server} at {parts.hostname}:{parts.port or 5432}, "
        f"synchronous_commit={sync}"
    )
    print(
        f"asyncpg {asyncpg.__version__}, psycopg {psycopg.__version__} "
        f"(impl {psycopg.pq.__impl__}); count {args.count} x {args.rounds} rounds; "
        "median of rounds, microseconds per operation"
    )
    print(
        f"{'measurement (wall us, client CPU us)':46} {'asyncpg':>14} {'psycopg':>14} "
        f"{'psycopg/asyncpg':>16}"
    )
    for label, values in runs["asyncpg"].items():
        a = _medians(values)
        theirs = runs["psycopg"].get(label)
        if theirs is None:
            print(f"{label:46} {a[0]:7.1f}{a[1]:7.1f} {'-':>14} {'-':>16}")
            continue
        p = _medians(theirs)
        ratio = f"{p[0] / a[0]:.2f} / {p[1] / a[1]:.2f}"
        print(f"{label:46} {a[0]:7.1f}{a[1]:7.1f} {p[0]:7.1f}{p[1]:7.1f} {ratio:>16}")


def _medians(values: list[Timing]) -> Timing:
    return statistics.median(v[0] for v in values), statistics.median(v[1] for v in values)


if __name__ == "__main__":
    if uvloop is not None:
        uvloop.run(main())
    else:
        asyncio.run(main())
