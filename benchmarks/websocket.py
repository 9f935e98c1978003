"""WebSocket costs: RPC round trips at concurrency 1 (against the same calls over HTTP),
memory per idle socket, and the CPU a server spends holding many idle sockets.

    python benchmarks/websocket.py [--requests 3000] [--idle 10000] [--window 30]

One `herald serve` (SQLite, durability normal, 1 worker) on 127.0.0.1; every
run is bounded by its counts and its window.
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import resource
import time
import uuid
from typing import Any

import msgspec
from benchlib import (
    cpu_seconds,
    herald_sqlite,
    machine,
    markdown_table,
    memory_mib,
    say,
    timestamp,
    write_results,
)
from websockets.asyncio.client import ClientConnection, connect

CLIENT_ID = str(uuid.uuid4())
HEADERS = {"Client-ID": CLIENT_ID, "X-Project-ID": "bench-ws"}
MESSAGE = {"body": {"event": "x" * 160}, "ttl": 300}

# The same calls both ways: (name, WebSocket action and body, HTTP method, path, body).
Call = tuple[str, str, dict[str, Any], str, str, Any]
CALLS: list[Call] = [
    ("ping", "ping_node", {}, "GET", "/v2/ping", None),
    (
        "list 1 message",
        "message_list",
        {"queue_name": "rpc", "limit": 1, "echo": True},
        "GET",
        "/v2/queues/rpc/messages?limit=1&echo=true",
        None,
    ),
    (
        "post 1 message",
        "message_post",
        {"queue_name": "rpc", "messages": [MESSAGE]},
        "POST",
        "/v2/queues/rpc/messages",
        {"messages": [MESSAGE]},
    ),
]


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


async def ws_round_trips(url: str, action: str, body: dict[str, Any], count: int) -> list[float]:
    frame = msgspec.json.encode({"action": action, "headers": HEADERS, "body": body}).decode()
    took = []
    async with connect(url, compression=None) as ws:
        for _ in range(count // 10):
            await ws.send(frame)
            await ws.recv()
        for _ in range(count):
            began = time.perf_counter()
            await ws.send(frame)
            await ws.recv()
            took.append(time.perf_counter() - began)
    return took


def http_round_trips(port: int, method: str, path: str, body: Any, count: int) -> list[float]:
    data = json.dumps(body).encode() if body is not None else None
    headers = {**HEADERS, "Content-Type": "application/json"}
    connection = http.client.HTTPConnection("127.0.0.1", port)
    took = []
    try:
        for i in range(count + count // 10):
            began = time.perf_counter()
            connection.request(method, path, body=data, headers=headers)
            connection.getresponse().read()
            if i >= count // 10:
                took.append(time.perf_counter() - began)
    finally:
        connection.close()
    return took


async def open_idle(url: str, count: int, subscribe: bool) -> list[ClientConnection]:
    sockets: list[ClientConnection] = []
    gate = asyncio.Semaphore(64)

    async def one(i: int) -> None:
        async with gate:
            ws = await connect(url, compression=None, open_timeout=60, ping_interval=None)
            if subscribe:
                body = {"queue_name": f"idle-{i % 100}"}
                frame = {"action": "subscription_create", "headers": HEADERS, "body": body}
                await ws.send(msgspec.json.encode(frame).decode())
                await ws.recv()
            sockets.append(ws)

    await asyncio.gather(*(one(i) for i in range(count)))
    return sockets


async def close_all(sockets: list[ClientConnection]) -> None:
    gate = asyncio.Semaphore(256)

    async def one(ws: ClientConnection) -> None:
        async with gate:
            await ws.close()

    await asyncio.gather(*(one(ws) for ws in sockets))


async def idle_costs(
    url: str, pid: int, count: int, window: float, subscribe: bool
) -> dict[str, float]:
    await asyncio.sleep(1)
    rss_before, _ = memory_mib(pid)
    sockets = await open_idle(url, count, subscribe)
    await asyncio.sleep(2)
    rss_after, _ = memory_mib(pid)
    cpu_before = cpu_seconds(pid)
    began = time.monotonic()
    await asyncio.sleep(window)
    cpu = cpu_seconds(pid) - cpu_before
    elapsed = time.monotonic() - began
    await close_all(sockets)
    return {
        "sockets": count,
        "rss_mib_before": rss_before,
        "rss_mib_after": rss_after,
        "kib_per_socket": (rss_after - rss_before) * 1024 / count,
        "cpu_percent_of_a_core": 100 * cpu / elapsed,
    }


FIGURES = ("ws_p50_ms", "ws_p99_ms", "http_p50_ms", "http_p99_ms")


def measure_call(
    port: int, call: tuple[str, str, dict[str, Any], str, str, Any], count: int
) -> dict[str, float]:
    _, action, body, method, path, http_body = call
    ws = asyncio.run(ws_round_trips(f"ws://127.0.0.1:{port}/", action, body, count))
    plain = http_round_trips(port, method, path, http_body, count)
    return {
        "ws_p50_ms": 1000 * percentile(ws, 0.5),
        "ws_p99_ms": 1000 * percentile(ws, 0.99),
        "http_p50_ms": 1000 * percentile(plain, 0.5),
        "http_p99_ms": 1000 * percentile(plain, 0.99),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--idle", type=int, default=10000)
    parser.add_argument("--window", type=float, default=30.0)
    parser.add_argument("--subscribed", type=int, default=2000)
    parser.add_argument(
        "--ping-interval", type=float, default=None, help="the server's ping_interval, seconds"
    )
    parser.add_argument("--skip-rpc", action="store_true")
    args = parser.parse_args()
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    env = {"HERALD_MAX_CONNECTIONS": str(max(args.idle, args.subscribed) + 100)}
    if args.ping_interval is not None:
        env["HERALD_WEBSOCKET_PING_INTERVAL"] = str(args.ping_interval)
    document: dict[str, Any] = {"machine": machine(), "args": vars(args), "calls": {}}
    rows = []
    if not args.skip_rpc:
        server = herald_sqlite("websocket", durability="normal", env=env).start()
        try:
            for call in CALLS:
                say(f"round trips: {call[0]}")
                figures = measure_call(server.port, call, args.requests)
                document["calls"][call[0]] = figures
                rows.append(
                    [
                        call[0],
                        *(f"{figures[k]:.3f}" for k in FIGURES),
                        f"{figures['ws_p50_ms'] / figures['http_p50_ms']:.2f}",
                    ]
                )
        finally:
            server.stop()
    idle_rows = []
    for subscribe, count in ((False, args.idle), (True, args.subscribed)):
        if not count:
            continue
        # A fresh server each time: memory freed by the last run would hide this one's.
        server = herald_sqlite("websocket", durability="normal", env=env).start()
        assert server.process is not None
        try:
            say(f"idle sockets: {count}, subscribed={subscribe}")
            url = f"ws://127.0.0.1:{server.port}/"
            costs = asyncio.run(idle_costs(url, server.process.pid, count, args.window, subscribe))
        finally:
            server.stop()
        document["idle_subscribed" if subscribe else "idle"] = costs
        idle_rows.append(
            [
                "subscribed to a queue" if subscribe else "idle",
                str(count),
                f"{costs['kib_per_socket']:.1f}",
                f"{costs['cpu_percent_of_a_core']:.2f}",
            ]
        )
    markdown = "\n\n".join(
        [
            markdown_table(
                ["call", "WS p50 ms", "WS p99 ms", "HTTP p50 ms", "HTTP p99 ms", "WS/HTTP p50"],
                rows,
            ),
            markdown_table(["sockets", "count", "KiB each", "server CPU % of a core"], idle_rows),
        ]
    )
    print(markdown)
    write_results(f"websocket-{timestamp()}", document, markdown)


if __name__ == "__main__":
    main()
