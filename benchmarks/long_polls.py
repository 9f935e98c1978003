"""Long polls: how soon a waiting consumer hears of a post, what an RPC round trip costs
with `wait`, and what idle waiters cost the server, on each backend.

    python benchmarks/long_polls.py [--backends sqlite,redis,postgres] [--rounds 200]

- wake-up: a consumer waits (`POST .../claims?wait=20`) on one server; a producer
  posts through the same server, or through a second `herald serve` on the same
  store (another process); the time from sending the post to the consumer's
  answer, beside the post's own round trip in the same run as the reference.
- rpc: a requester posts to a request queue and waits on its reply queue; a
  worker waits on the request queue, answers on the reply queue and deletes
  the request; the requester's round trip at concurrency 1.
- post1: wrk's POST 1 throughput with 100 idle waiters on other queues, and with none.
- idle: the server's CPU over a window while 1,000 long polls on 1,000 queues wait
  (each asked again when its wait ends), against the same server with none.

The clients speak HTTP/1.1 on raw keep-alive connections, so that what is timed is
the server, not a client library.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import statistics
import sys
import time
import uuid
from collections.abc import Iterator
from typing import Any

from benchlib import (
    WORK,
    Server,
    cpu_seconds,
    drop_redis_prefix,
    fresh_postgres_database,
    herald_server,
    machine,
    markdown_table,
    postgres_admin,
    remove_work,
    run_wrk,
    say,
    timestamp,
    with_query,
    write_results,
)

PROJECT = "long-poll-bench"
CLIENT_ID = "3f0b1a52-56b5-4d6a-9f0e-000000000001"
REDIS = "redis://127.0.0.1:6379/0"
POSTGRES = "postgresql://postgres@127.0.0.1:5432"


class Connection:
    """One keep-alive HTTP/1.1 connection sending Herald's headers."""

    def __init__(self, port: int, project: str = PROJECT) -> None:
        self.port = port
        self.head = (
            f"Host: 127.0.0.1\r\nClient-ID: {CLIENT_ID}\r\nX-Project-ID: {project}\r\n"
            "Content-Type: application/json\r\n"
        )
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def open(self) -> Connection:
        self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        return self

    def send(self, method: str, path: str, body: bytes = b"") -> None:
        assert self.writer is not None
        self.writer.write(
            f"{method} {path} HTTP/1.1\r\n{self.head}Content-Length: {len(body)}\r\n\r\n".encode()
            + body
        )

    async def answer(self) -> tuple[int, bytes]:
        assert self.reader is not None
        head = await self.reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        length = 0
        for line in lines[1:]:
            name, _, value = line.partition(":")
            if name.lower() == "content-length":
                length = int(value)
        body = await self.reader.readexactly(length) if length else b""
        return status, body

    async def call(self, method: str, path: str, body: bytes = b"") -> tuple[int, bytes]:
        self.send(method, path, body)
        return await self.answer()

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            with contextlib.suppress(Exception):
                await self.writer.wait_closed()


def post_body(value: object) -> bytes:
    return json.dumps({"messages": [{"body": value, "ttl": 300}]}).encode()


CLAIM = b'{"ttl": 60, "grace": 60}'


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def summary(values: list[float]) -> dict[str, float]:
    ms = [v * 1000 for v in values]
    return {
        "p50_ms": round(statistics.median(ms), 3),
        "p99_ms": round(percentile(ms, 0.99), 3),
        "max_ms": round(max(ms), 3),
    }


@contextlib.contextmanager
def store_of(backend: str, name: str) -> Iterator[str]:
    """A fresh store URI for one backend; cleaned up afterwards."""
    if backend == "sqlite":
        remove_work(name)
        (WORK / name).mkdir(parents=True, exist_ok=True)
        yield f"sqlite:///{WORK / name / 'herald.sqlite3'}"
        remove_work(name)
    elif backend == "redis":
        prefix = f"lpbench{uuid.uuid4().hex[:8]}"
        yield with_query(REDIS, prefix=prefix)
        drop_redis_prefix(REDIS, prefix)
    else:
        database = fresh_postgres_database(POSTGRES, "herald_long_polls")
        if database is None:
            raise SystemExit("PostgreSQL refused a database")
        yield database
        postgres_admin(POSTGRES, "DROP DATABASE IF EXISTS herald_long_polls WITH (FORCE)")


@contextlib.contextmanager
def servers(backend: str, count: int) -> Iterator[list[Server]]:
    with store_of(backend, f"lp-{backend}") as store:
        started: list[Server] = []
        try:
            for n in range(count):
                started.append(herald_server(f"lp-{backend}-{n}", store).start())
            yield started
        finally:
            for server in started:
                server.stop()


async def timed(answer: Any) -> tuple[tuple[int, bytes], float]:
    """An answer and the moment it was in."""
    got = await answer
    return got, time.perf_counter()


async def wake_latency(consumer_port: int, producer_port: int, rounds: int) -> dict[str, Any]:
    consumer = await Connection(consumer_port).open()
    producer = await Connection(producer_port).open()
    wakes: list[float] = []
    posts: list[float] = []
    try:
        for n in range(rounds):
            consumer.send("POST", "/v2/queues/wake/claims?wait=20&limit=1", CLAIM)
            # Long enough for the claim to be waiting; the timing starts at the post.
            await asyncio.sleep(0.01)
            began = time.perf_counter()
            producer.send("POST", "/v2/queues/wake/messages", post_body(n))
            posted = asyncio.ensure_future(timed(producer.answer()))
            (status, body), woke = await timed(consumer.answer())
            assert status == 201, (status, body)
            (status, _), acknowledged = await posted
            assert status == 201
            posts.append(acknowledged - began)
            wakes.append(woke - began)
            href = json.loads(body)["messages"][0]["href"]
            assert (await consumer.call("DELETE", href))[0] == 204
    finally:
        await consumer.close()
        await producer.close()
    return {"wake": summary(wakes), "post_round_trip": summary(posts)}


async def rpc_round_trip(port: int, rounds: int) -> dict[str, Any]:
    requester = await Connection(port).open()
    worker = await Connection(port).open()

    async def serve() -> None:
        while True:
            status, body = await worker.call("POST", "/v2/queues/req/claims?wait=20&limit=1", CLAIM)
            if status != 201:
                continue
            (message,) = json.loads(body)["messages"]
            await worker.call("POST", "/v2/queues/rep/messages", post_body(message["body"]))
            await worker.call("DELETE", message["href"])

    serving = asyncio.ensure_future(serve())
    trips: list[float] = []
    try:
        await asyncio.sleep(0.05)
        for n in range(rounds):
            began = time.perf_counter()
            await requester.call("POST", "/v2/queues/req/messages", post_body(n))
            status, body = await requester.call(
                "POST", "/v2/queues/rep/claims?wait=20&limit=1", CLAIM
            )
            trips.append(time.perf_counter() - began)
            assert status == 201, status
            href = json.loads(body)["messages"][0]["href"]
            await requester.call("DELETE", href)
    finally:
        serving.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await serving
        await requester.close()
        await worker.close()
    return summary(trips)


async def hold_waiters(port: int, count: int, stop: asyncio.Event) -> int:
    """Keep `count` long polls waiting on queues of their own until `stop`; how many asked."""
    asked = 0

    async def one(n: int) -> None:
        nonlocal asked
        conn = await Connection(port, "idle-waiters").open()
        try:
            while not stop.is_set():
                conn.send("POST", f"/v2/queues/idle-{n}/claims?wait=20", CLAIM)
                asked += 1
                waited = asyncio.ensure_future(conn.answer())
                stopping = asyncio.ensure_future(stop.wait())
                await asyncio.wait((waited, stopping), return_when=asyncio.FIRST_COMPLETED)
                stopping.cancel()
                if not waited.done():
                    waited.cancel()
                    return
        finally:
            await conn.close()

    await asyncio.gather(*(one(n) for n in range(count)))
    return asked


def post1_with_waiters(server: Server, waiters: int, duration: float) -> dict[str, Any]:
    async def run() -> dict[str, Any]:
        stop = asyncio.Event()
        holding = asyncio.ensure_future(hold_waiters(server.port, waiters, stop))
        await asyncio.sleep(1.0)
        result = await asyncio.to_thread(
            run_wrk,
            server.url,
            "post.lua",
            duration=duration,
            connections=16,
            env={"MESSAGES_PER_POST": "1", "QUEUES": "4"},
        )
        stop.set()
        await holding
        return result

    return asyncio.run(run())


def idle_cpu(server: Server, waiters: int, window: float) -> dict[str, float]:
    assert server.process is not None
    pid = server.process.pid

    async def run() -> dict[str, float]:
        stop = asyncio.Event()
        holding = asyncio.ensure_future(hold_waiters(server.port, waiters, stop))
        await asyncio.sleep(3.0)  # every waiter in place
        before = cpu_seconds(pid)
        await asyncio.sleep(window)
        used = cpu_seconds(pid) - before
        stop.set()
        asked = await holding
        return {"cpu_share_of_core": round(used / window, 4), "requests": asked}

    return asyncio.run(run())


COLUMNS = [
    "wake, same process p50 / p99 (post's own p50)",
    "wake, across processes p50 / p99",
    "RPC round trip p50 / p99",
    "POST 1 per s, no waiters / 100 idle waiters",
    "CPU, no long polls / 1,000 idle",
]


def table_row(found: dict[str, Any]) -> list[str]:
    def wake(name: str) -> str:
        if name not in found:
            return "-"
        w, p = found[name]["wake"], found[name]["post_round_trip"]
        return f"{w['p50_ms']} / {w['p99_ms']} ms ({p['p50_ms']} ms)"

    rpc = found.get("rpc")
    none, some = found.get("post1_per_s_0_waiters"), found.get("post1_per_s_100_waiters")
    idle0, idle = found.get("idle_cpu_0"), found.get("idle_cpu_1000")
    return [
        wake("wake_same_process"),
        wake("wake_across_processes"),
        f"{rpc['p50_ms']} / {rpc['p99_ms']} ms" if rpc else "-",
        f"{none} / {some}" if none and some else "-",
        f"{idle0['cpu_share_of_core']:.1%} / {idle['cpu_share_of_core']:.1%}"
        if idle0 and idle
        else "-",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backends", default="sqlite,redis,postgres")
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--duration", type=float, default=8.0, help="seconds per wrk run")
    parser.add_argument("--window", type=float, default=30.0, help="seconds of idle CPU")
    parser.add_argument("--only", default="wake,rpc,post1,idle")
    args = parser.parse_args()
    parts = set(args.only.split(","))
    results: dict[str, Any] = {"machine": machine(), "backends": {}}
    rows: list[list[str]] = []
    for backend in args.backends.split(","):
        found: dict[str, Any] = {}
        results["backends"][backend] = found
        with servers(backend, 2) as (one, two):
            if "wake" in parts:
                say(f"{backend}: wake-up, same process")
                found["wake_same_process"] = asyncio.run(
                    wake_latency(one.port, one.port, args.rounds)
                )
                say(f"{backend}: wake-up, across processes")
                found["wake_across_processes"] = asyncio.run(
                    wake_latency(one.port, two.port, args.rounds)
                )
            if "rpc" in parts:
                say(f"{backend}: rpc")
                found["rpc"] = asyncio.run(rpc_round_trip(one.port, args.rounds))
            if "post1" in parts:
                for waiters in (0, 100, 0, 100):
                    say(f"{backend}: POST 1 with {waiters} idle waiters")
                    run = post1_with_waiters(one, waiters, args.duration)
                    rate = round(run["posted"] / run["duration_s"])
                    found.setdefault(f"post1_per_s_{waiters}_waiters", []).append(rate)
            if "idle" in parts:
                for waiters in (0, 1000):
                    say(f"{backend}: CPU with {waiters} idle long polls")
                    found[f"idle_cpu_{waiters}"] = idle_cpu(two, waiters, args.window)
        say(json.dumps(found))
        rows.append([backend, *table_row(found)])
    markdown = markdown_table(["backend", *COLUMNS], rows)
    paths = write_results(f"long_polls-{timestamp()}", results, markdown)
    print(markdown)
    say(f"written: {', '.join(map(str, paths))}")


if __name__ == "__main__":
    sys.exit(main())
