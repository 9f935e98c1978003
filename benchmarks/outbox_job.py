"""The SQLite write job of one POST 1, timed in-process; run by outbox.py per revision.

Prints the job's microseconds per post, the least of the repeats: on a shared
machine the least is the run the others disturbed least. With --subscriptions
N the queue has N live subscriptions first (only on code that has them).
Posts commit in groups of 32, as the writer thread's group commits do, on a
file in a fresh directory with `synchronous = OFF`: the commits' writes to
the file are timed, their fsyncs are not. This is the job's own cost, which
the writer thread pays per post.

    python benchmarks/outbox_job.py --posts 2000 --repeats 15 --subscriptions 1
"""

from __future__ import annotations

import argparse
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

import msgspec

from herald.model import NewMessage
from herald.storage.sqlite import messages
from herald.storage.sqlite.schema import migrate

NOW = 1_800_000_000.0
GROUP = 32
BODY = msgspec.Raw(b'{"event":"bench","data":"' + b"x" * 150 + b'"}')


def subscribe(conn: sqlite3.Connection, count: int) -> None:
    if not count:
        return  # older code has no subscriptions to import
    from herald.model import Subscription
    from herald.storage.sqlite import subscriptions

    for n in range(count):
        sub = Subscription(
            id=f"{n:032x}",
            project="p",
            source="q",
            subscriber=f"http://127.0.0.1:9/{n}",
            options={},
            ttl=86_400,
            renewed=NOW,
            expires=NOW + 86_400,
        )
        subscriptions.create(conn, sub, NOW)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--posts", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--subscriptions", type=int, default=0)
    args = parser.parse_args()
    made = [NewMessage(BODY, 3600, 0)]
    with tempfile.TemporaryDirectory() as directory:
        conn = sqlite3.connect(Path(directory) / "job.sqlite3", isolation_level=None)
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = OFF")
        migrate(conn)
        conn.execute("BEGIN")
        subscribe(conn, args.subscriptions)
        messages.post(conn, "p", "q", lambda m: made, "c", NOW)  # creates the queue
        conn.execute("COMMIT")
        best = float("inf")
        for _ in range(args.repeats):
            began = time.perf_counter()
            for n in range(args.posts):
                if n % GROUP == 0:
                    conn.execute("BEGIN IMMEDIATE")
                messages.post(conn, "p", "q", lambda m: made, "c", NOW)
                if n % GROUP == GROUP - 1 or n == args.posts - 1:
                    conn.execute("COMMIT")
            best = min(best, (time.perf_counter() - began) / args.posts)
        conn.close()
    print(f"{best * 1e6:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
