"""Herald beside RabbitMQ and NATS, every figure from a Go load generator in the same run:
RPC round trips at concurrency 1, and consume + acknowledge with 32 consumers.

    python benchmarks/peers.py [--rounds 5] [--only rpc,consume] [--rpc-count 2000]

- rpc: RabbitMQ direct reply-to (a responder consuming an exclusive queue), NATS core
  request-reply, Herald over HTTP (claims with `wait` on the request and reply queues)
  and over WebSocket (the same with `claim_create` frames), Herald on SQLite with
  `durability = full` and `normal`.
- consume: 32 consumers over 4 queues, each Herald consumer claiming 10 over WebSocket
  and deleting them with one `message_delete_many`: Herald `durability = full` against
  RabbitMQ quorum queues (manual acks one per message, prefetch 10), Herald `normal`
  against NATS JetStream file streams (pull 10, ack each), which acknowledge a publish
  before syncing it.

Systems run in an order that rotates from round to round, so that the load other work
puts on the machine falls on all of them alike; each figure is the median of the rounds,
with the lowest and highest beside it. The Go program (`peers/main.go`) is built first,
offline, against the Go client libraries Debian packages (see `benchmarks/README.md`).
RabbitMQ (127.0.0.1:5672, guest) and NATS (127.0.0.1:4222) must be running.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from typing import Any

from benchlib import (
    HERE,
    WORK,
    herald_sqlite,
    machine,
    markdown_table,
    median,
    say,
    timestamp,
    write_results,
)

AMQP = "amqp://guest:guest@127.0.0.1:5672/"
NATS = "nats://127.0.0.1:4222"
PROGRAM = WORK / "peerbench"
DEBIAN_GOPATH = "/usr/share/gocode"


def build() -> None:
    """Build peers/main.go in GOPATH mode, against the Debian packages of the libraries."""
    go = shutil.which("go")
    if go is None:
        sys.exit("peers.py needs Go and the client libraries; see benchmarks/README.md")
    WORK.mkdir(parents=True, exist_ok=True)
    env = {
        **os.environ,
        "GO111MODULE": "off",
        "GOPATH": os.environ.get("GOPATH", DEBIAN_GOPATH),
        "GOCACHE": str(WORK / "go-cache"),
        "GOFLAGS": "",
    }
    subprocess.run([go, "build", "-o", str(PROGRAM), "."], cwd=HERE / "peers", env=env, check=True)


def peerbench(mode: str, url: str, *options: str) -> dict[str, Any]:
    command = [str(PROGRAM), "-mode", mode, "-url", url, *options]
    done = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)}: {done.stderr.strip()}")
    result: dict[str, Any] = json.loads(done.stdout.splitlines()[-1])
    return result


def rotated(items: list[str], by: int) -> list[str]:
    by %= len(items)
    return items[by:] + items[:by]


def spread(values: list[float]) -> str:
    return f"{median(values):,.2f} ({min(values):,.2f}-{max(values):,.2f})"


def rpc_rounds(args: argparse.Namespace) -> dict[str, list[dict[str, Any]]]:
    options = ["-n", str(args.rpc_count), "-warmup", str(args.rpc_count // 10)]
    servers = {d: herald_sqlite(f"peers-rpc-{d}", durability=d).start() for d in ("full", "normal")}
    runs: dict[str, Callable[[], dict[str, Any]]] = {
        "RabbitMQ direct reply-to": lambda: peerbench("rpc-amqp", AMQP, *options),
        "NATS request-reply": lambda: peerbench("rpc-nats", NATS, *options),
    }
    for durability, server in servers.items():
        ws = server.url.replace("http://", "ws://") + "/"
        runs[f"Herald HTTP wait ({durability})"] = lambda url=server.url: peerbench(
            "rpc-http", url, *options
        )
        runs[f"Herald WebSocket wait ({durability})"] = lambda url=ws: peerbench(
            "rpc-ws", url, *options
        )
    found: dict[str, list[dict[str, Any]]] = {name: [] for name in runs}
    try:
        for n in range(args.rounds):
            for name in rotated(list(runs), n):
                say(f"round {n + 1}: rpc, {name}")
                found[name].append(runs[name]())
    finally:
        for server in servers.values():
            server.stop()
    return found


def rpc_table(found: dict[str, list[dict[str, Any]]]) -> str:
    rows = []
    for name, results in found.items():
        p50 = [r["p50_ms"] for r in results]
        p99 = [r["p99_ms"] for r in results]
        rows.append(
            [name, spread(p50), spread(p99), f"{median([r['max_ms'] for r in results]):,.2f}"]
        )
    return markdown_table(
        [
            "RPC round trip, concurrency 1",
            "p50 ms (min-max of rounds)",
            "p99 ms",
            "max ms (median)",
        ],
        rows,
    )


RABBIT = "RabbitMQ quorum, manual ack, prefetch 10"
JETSTREAM = "NATS JetStream file stream, pull 10, ack each"


def consume_rounds(args: argparse.Namespace) -> dict[str, list[dict[str, Any]]]:
    servers = {
        d: herald_sqlite(f"peers-consume-{d}", workers=args.herald_workers, durability=d).start()
        for d in ("full", "normal")
    }
    ws = {d: server.url.replace("http://", "ws://") + "/" for d, server in servers.items()}
    options = ["-c", "32", "-queues", "4", "-prefetch", "10", "-d", f"{args.duration}s"]
    systems = {
        RABBIT: ("consume-amqp", AMQP),
        "Herald WebSocket, claim 10 + delete_many (full)": ("consume-ws", ws["full"]),
        JETSTREAM: ("consume-jetstream", NATS),
        "Herald WebSocket, claim 10 + delete_many (normal)": ("consume-ws", ws["normal"]),
    }
    # Enough messages for the run: from the rate seen so far, with room to spare.
    prefill = dict.fromkeys(systems, args.prefill)
    found: dict[str, list[dict[str, Any]]] = {name: [] for name in systems}
    try:
        for n in range(args.consume_rounds or args.rounds):
            for name in rotated(list(systems), n):
                mode, url = systems[name]
                for _ in range(4):
                    say(f"round {n + 1}: consume, {name}, {prefill[name]} queued")
                    result = peerbench(mode, url, *options, "-n", str(prefill[name]))
                    needed = int(result["per_second"] * args.duration * 1.3)
                    prefill[name] = max(prefill[name], needed)
                    if not result["dry"]:
                        break
                    prefill[name] *= 2
                else:
                    raise RuntimeError(f"{name}: the queues ran dry four times")
                found[name].append(result)
    finally:
        for server in servers.values():
            server.stop()
    return found


def consume_table(found: dict[str, list[dict[str, Any]]]) -> str:
    """Herald `full` against RabbitMQ's quorum queues, `normal` against JetStream, which
    acknowledges before it syncs to disk."""
    rows = []
    for name, results in found.items():
        reference = JETSTREAM if "normal" in name or name == JETSTREAM else RABBIT
        rates = [r["per_second"] for r in results]
        ratios = [
            r["per_second"] / b["per_second"]
            for r, b in zip(results, found[reference], strict=True)
        ]
        rows.append(
            [
                name,
                f"{median(rates):,.0f} ({min(rates):,.0f}-{max(rates):,.0f})",
                "-" if name == reference else f"{spread(ratios)}x {reference.split(',')[0]}",
            ]
        )
    return markdown_table(
        [
            "consume + acknowledge, 32 consumers, 4 queues",
            "messages/s (min-max)",
            "ratio per round",
        ],
        rows,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--consume-rounds", type=int, default=0, help="if not --rounds")
    parser.add_argument("--only", default="rpc,consume")
    parser.add_argument("--rpc-count", type=int, default=2000, help="timed round trips per run")
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per consume run")
    parser.add_argument(
        "--prefill",
        type=int,
        default=60000,
        help="messages queued before a consume run, to start with",
    )
    parser.add_argument(
        "--herald-workers", type=int, default=2, help="Herald's workers for consume"
    )
    args = parser.parse_args()
    build()
    parts = set(args.only.split(","))
    document: dict[str, Any] = {"machine": machine(), "args": vars(args)}
    tables = []
    if "rpc" in parts:
        document["rpc"] = rpc_rounds(args)
        tables.append(rpc_table(document["rpc"]))
        write_results(f"peers-rpc-{timestamp()}", document, tables[-1])
    if "consume" in parts:
        document["consume"] = consume_rounds(args)
        tables.append(consume_table(document["consume"]))
    document["machine_after"] = machine()
    markdown = "\n\n".join(tables)
    paths = write_results(f"peers-{timestamp()}", document, markdown)
    print(markdown)
    say(
        f"load average before {document['machine']['load_average']},"
        f" after {document['machine_after']['load_average']}"
    )
    say(f"written: {', '.join(map(str, paths))}")


if __name__ == "__main__":
    main()
