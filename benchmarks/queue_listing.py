"""Filtered queue listings among 10,000 queues of one project, on every backend.

A name filter anchored with `^` starts with a plain prefix the store seeks to
in its name index; an unanchored filter that matches the same queues must
page through every queue of the project, as every filtered listing did
before. Both go through the service, as a request would, and are timed in
the same run, taking turns.

    python benchmarks/queue_listing.py --queues 10000 --rounds 5 --requests 20
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from benchlib import (
    WORK,
    drop_redis_prefix,
    fresh_postgres_database,
    machine,
    markdown_table,
    median,
    postgres_admin,
    say,
    timestamp,
    with_query,
    write_results,
)

from herald.identity import Caller
from herald.model import Limits
from herald.service import Service
from herald.storage.base import Store
from herald.storage.factory import open_store

PROJECT = "listing-bench"
CALLER = Caller(project=PROJECT, client_id=uuid.uuid4().hex)
QUERIES = {
    "anchored ^q-0500 (10 match)": "^q-0500",
    "unanchored q-0500 (same 10)": "q-0500",
    "no filter (first page)": None,
}


async def fill(store: Store, count: int) -> None:
    names = [f"q-{i:05d}" for i in range(count)]
    # Batches stay below the drivers' connection pools.
    for start in range(0, count, 50):
        batch = names[start : start + 50]
        await asyncio.gather(*(store.create_queue(PROJECT, n, {"n": n}) for n in batch))


async def time_queries(service: Service, rounds: int, requests: int) -> dict[str, list[float]]:
    """Milliseconds per listing, one median per round, the queries taking turns."""
    timings: dict[str, list[float]] = {label: [] for label in QUERIES}

    def listing(pattern: str | None) -> Callable[[], Awaitable[Any]]:
        return lambda: service.queues.listing(
            CALLER, marker=None, limit=20, name=pattern, with_count=False, filters={}
        )

    for _ in range(rounds):
        for label, pattern in QUERIES.items():
            run = listing(pattern)
            page = await run()
            if pattern is not None:
                assert [q.name for q in page.queues] == [f"q-0500{i}" for i in range(10)]
            samples = []
            for _ in range(requests):
                started = time.perf_counter()
                await run()
                samples.append((time.perf_counter() - started) * 1000)
            timings[label].append(median(samples))
    return timings


async def measure(uri: str, count: int, rounds: int, requests: int) -> dict[str, list[float]]:
    store = open_store(uri)
    await store.open()
    try:
        say(f"filling {count} queues in {uri.split('://')[0]}")
        await fill(store, count)
        return await time_queries(Service(store, Limits()), rounds, requests)
    finally:
        await store.delete_queue(PROJECT, "unused")
        await store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--queues", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--requests", type=int, default=20)
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432")
    args = parser.parse_args()

    run_id = uuid.uuid4().hex[:8]
    sqlite_path = Path(WORK) / f"listing-{run_id}.sqlite3"
    sqlite_path.parent.mkdir(parents=True, exist_ok=True)
    redis_prefix = f"herald_bench_listing_{run_id}"
    database = f"herald_bench_listing_{run_id}"
    stores = {
        "SQLite": f"sqlite:///{sqlite_path}",
        "Redis": with_query(args.redis, prefix=redis_prefix),
    }
    postgres = fresh_postgres_database(args.postgres, database)
    if postgres is not None:
        stores["PostgreSQL"] = postgres

    results: dict[str, dict[str, list[float]]] = {}
    try:
        for name, uri in stores.items():
            results[name] = asyncio.run(measure(uri, args.queues, args.rounds, args.requests))
    finally:
        for suffix in ("", "-wal", "-shm", "-writer-lock"):
            Path(f"{sqlite_path}{suffix}").unlink(missing_ok=True)
        drop_redis_prefix(args.redis, redis_prefix)
        if postgres is not None:
            postgres_admin(args.postgres, f"DROP DATABASE IF EXISTS {database}")

    header = ["store", *QUERIES, "unanchored / anchored"]
    rows = []
    for name, timings in results.items():
        medians = {label: median(values) for label, values in timings.items()}
        labels = list(QUERIES)
        ratio = medians[labels[1]] / medians[labels[0]] if medians[labels[0]] else 0.0
        rows.append([name, *(f"{medians[label]:.2f} ms" for label in labels), f"{ratio:.0f}x"])
    table = markdown_table(header, rows)
    print(table)
    document = {"args": vars(args), "machine": machine(), "results": results}
    write_results(f"queue-listing-{timestamp()}", document, table)
    print(json.dumps(machine()))


if __name__ == "__main__":
    main()
