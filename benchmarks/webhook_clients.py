"""The CPU one webhook POST costs the sender: Herald's own HTTP/1.1 client (what the delivery
engine uses, `herald.delivery.http1`, with a connection per request in flight and with
every request in one lane, pipelined) against httpx's AsyncClient and aiohttp's
ClientSession, on uvloop, to a receiver that answers 200 at once.

Each round starts `webhook_receiver.py` (from the notification benchmarks) on a free port,
then, in turns, sends N POSTs of a 200-byte JSON body with C in flight over kept-alive
connections and reports the sender's CPU seconds per request (process time) and the rate.

    python benchmarks/webhook_clients.py --requests 5000 --rounds 3
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx
import uvloop

HERE = Path(__file__).resolve().parent
BODY = b'{"ttl": 300, "body": {"k": "' + b"v" * 160 + b'"}, "Message_Type": "Notification"}'
HEADERS = {"Content-Type": "application/json", "User-Agent": "herald-notifier"}


async def with_httpx(url: str, count: int, concurrency: int) -> None:
    limits = httpx.Limits(max_connections=concurrency)
    async with httpx.AsyncClient(limits=limits, trust_env=False) as client:

        async def one() -> None:
            async with client.stream("POST", url, content=BODY, headers=HEADERS) as answer:
                await answer.aread()

        await fan_out(one, count, concurrency)


async def with_aiohttp(url: str, count: int, concurrency: int) -> None:
    import aiohttp

    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector, trust_env=False) as session:

        async def one() -> None:
            async with session.post(url, data=BODY, headers=HEADERS) as answer:
                await answer.read()

        await fan_out(one, count, concurrency)


async def with_herald(url: str, count: int, concurrency: int, lane: str | None = None) -> None:
    from herald.delivery.http1 import Client

    client = Client(timeout=10.0)
    try:

        async def one() -> None:
            await client.post(url, BODY, HEADERS, lane=lane)

        await fan_out(one, count, concurrency)
    finally:
        await client.aclose()


async def with_herald_pipelined(url: str, count: int, concurrency: int) -> None:
    """All requests in one lane, as the deliveries of one subscription are."""
    await with_herald(url, count, concurrency, lane="one subscription")


CLIENTS: dict[str, Callable[[str, int, int], Awaitable[None]]] = {
    "herald": with_herald,
    "herald, one lane": with_herald_pipelined,
    "httpx": with_httpx,
    "aiohttp": with_aiohttp,
}


async def fan_out(one: Callable[[], Awaitable[None]], count: int, concurrency: int) -> None:
    left = count

    async def worker() -> None:
        nonlocal left
        while left > 0:
            left -= 1
            await one()

    await asyncio.gather(*(worker() for _ in range(concurrency)))


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def measure(client: str, url: str, count: int, concurrency: int) -> tuple[float, float]:
    """Microseconds of sender CPU per request, and requests per second."""
    run = CLIENTS[client]
    cpu, wall = time.process_time(), time.perf_counter()
    uvloop.run(run(url, count, concurrency))
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    return cpu / count * 1e6, count / wall


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=5000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    port = free_port()
    receiver = subprocess.Popen(
        [sys.executable, str(HERE / "webhook_receiver.py"), "--port", str(port)]
    )
    try:
        url = f"http://127.0.0.1:{port}/hook"
        deadline = time.monotonic() + 10
        while True:
            try:
                httpx.get(f"http://127.0.0.1:{port}/count")
                break
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        found: dict[str, list[tuple[float, float]]] = {name: [] for name in CLIENTS}
        names = list(CLIENTS)
        for round_ in range(args.rounds):
            # Each round starts with another client, so none always runs on a cold receiver.
            shift = round_ % len(names)
            for client in names[shift:] + names[:shift]:
                found[client].append(measure(client, url, args.requests, args.concurrency))
        print(f"{args.requests} POSTs, {args.concurrency} in flight, {args.rounds} rounds (median)")
        print("| client | sender CPU µs/request | requests/s |")
        print("|---|---|---|")
        for client, runs in found.items():
            cpu = statistics.median(r[0] for r in runs)
            rate = statistics.median(r[1] for r in runs)
            print(f"| {client} | {cpu:.0f} | {rate:,.0f} |")
    finally:
        receiver.terminate()
        receiver.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
