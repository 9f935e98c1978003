"""uvicorn's WebSocket implementations side by side: `websockets-sansio` (Herald's),
`wsproto` and `websockets` (the legacy asyncio one), each serving an echo app.

    python benchmarks/websocket_protocols.py [--requests 3000] [--idle 2000]

Round trips at concurrency 1 and the server's memory per idle socket, one
uvicorn process per implementation on 127.0.0.1, uvloop, no compression.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from typing import Any

from benchlib import (
    HERE,
    Server,
    free_port,
    machine,
    markdown_table,
    memory_mib,
    say,
    timestamp,
    write_results,
)
from websockets.asyncio.client import ClientConnection, connect

IMPLEMENTATIONS = ("websockets-sansio", "wsproto", "websockets")


async def round_trips(url: str, count: int) -> list[float]:
    took = []
    async with connect(url, compression=None) as ws:
        for i in range(count + count // 10):
            began = time.perf_counter()
            await ws.send('{"action": "ping_node"}')
            await ws.recv()
            if i >= count // 10:
                took.append(time.perf_counter() - began)
    return sorted(took)


async def memory_per_socket(url: str, pid: int, count: int) -> float:
    await asyncio.sleep(1)
    before, _ = memory_mib(pid)
    sockets: list[ClientConnection] = []
    gate = asyncio.Semaphore(64)

    async def one() -> None:
        async with gate:
            sockets.append(await connect(url, compression=None, ping_interval=None))

    await asyncio.gather(*(one() for _ in range(count)))
    await asyncio.sleep(2)
    after, _ = memory_mib(pid)
    await asyncio.gather(*(ws.close() for ws in sockets))
    return (after - before) * 1024 / count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--idle", type=int, default=2000)
    args = parser.parse_args()
    rows = []
    document: dict[str, Any] = {"machine": machine(), "args": vars(args), "results": {}}
    for implementation in IMPLEMENTATIONS:
        port = free_port()
        command = [sys.executable, "-m", "uvicorn", "--app-dir", str(HERE), "ws_echo_app:app"]
        command += ["--port", str(port), "--loop", "uvloop", "--ws", implementation]
        command += ["--ws-per-message-deflate", "false", "--log-level", "warning"]
        server = Server(f"ws-{implementation}", command, port, ready_path="/nothing").start()
        assert server.process is not None
        url = f"ws://127.0.0.1:{port}/"
        try:
            say(f"{implementation}: round trips")
            took = asyncio.run(round_trips(url, args.requests))
            say(f"{implementation}: {args.idle} idle sockets")
            kib = asyncio.run(memory_per_socket(url, server.process.pid, args.idle))
        finally:
            server.stop()
        p50, p99 = took[len(took) // 2], took[int(len(took) * 0.99)]
        document["results"][implementation] = {"p50_ms": p50 * 1e3, "p99_ms": p99 * 1e3, "kib": kib}
        rows.append([implementation, f"{p50 * 1e3:.3f}", f"{p99 * 1e3:.3f}", f"{kib:.1f}"])
    base = document["results"][IMPLEMENTATIONS[0]]
    for row, implementation in zip(rows, IMPLEMENTATIONS, strict=True):
        mine = document["results"][implementation]
        row.append(f"{mine['p50_ms'] / base['p50_ms']:.2f}")
        row.append(f"{mine['kib'] / base['kib']:.2f}")
    markdown = markdown_table(
        ["--ws", "p50 ms", "p99 ms", "KiB per idle socket", "p50 ratio", "memory ratio"], rows
    )
    print(markdown)
    write_results(f"websocket-protocols-{timestamp()}", document, markdown)


if __name__ == "__main__":
    main()
