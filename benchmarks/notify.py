"""Notifications in one run: webhook deliveries/s of Herald vs Zaqar, a post's cost with a
subscription, and topic fan-out to 100 queues.

Servers: a webhook receiver (webhook_receiver.py) on 127.0.0.1, one Herald
API process (`herald serve --workers 1`, SQLite by default), and Zaqar 23.0.1
on Redis under gunicorn with `[storage] message_pipeline =
zaqar.notification.notifier` (installed as compare.py installs it). Parts:

- `receiver`: wrk POSTs straight at the receiver, to show it is far faster than
  what sends to it;
- `deliveries`: into a fresh queue with one webhook subscription, post N
  messages (10 per request over a few connections), then wait until the
  receiver has seen all N; deliveries/s = N / (last delivery - first post).
  Herald and Zaqar take turns, in an order that swaps every round; N is sized
  from a warm-up so that a run takes about `--target-seconds`;
- `overhead`: wrk POST 1 to a queue with no subscription and to one with a
  webhook subscription on the same Herald, in turns; the ratio of the rates,
  and the server's CPU per message including its delivery;
- `fanout`: one topic with 100 `queue:NAME` subscribers; post M messages to the
  topic, then wait until every queue holds them; messages landed per second.

    python benchmarks/notify.py --rounds 3
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

from benchlib import (
    WORK,
    Server,
    api_json,
    cpu_seconds,
    free_port,
    herald_server,
    herald_sqlite,
    machine,
    markdown_table,
    median,
    remove_work,
    require_wrk,
    run_wrk,
    say,
    timestamp,
    write_results,
)
from compare import ZAQAR_VERSION, flush_zaqar_redis, zaqar_server

from herald.bench.client import Connection, ServerURL, build_request
from herald.bench.workload import header_block

HERE = Path(__file__).resolve().parent
PROJECT = "herald-bench"
CLIENT_ID = "3c5a6d8e-2b1f-4e7a-9c0d-6f4b2a1e8d35"
PIPELINE = "\n[storage]\nmessage_pipeline = zaqar.notification.notifier\n"
PARTS = ("receiver", "deliveries", "overhead", "fanout")


# The receiver


def receiver_server() -> Server:
    port = free_port()
    command = [sys.executable, str(HERE / "webhook_receiver.py"), "--port", str(port)]
    return Server("webhook-receiver", command, port, ready_path="/count")


def receiver_count(receiver: Server, *, reset: bool = False) -> dict[str, float]:
    request = urllib.request.Request(receiver.url + "/count", method="DELETE" if reset else "GET")
    with urllib.request.urlopen(request, timeout=10) as answer:
        counted: dict[str, float] = json.loads(answer.read())
    return counted


def wait_for_posts(receiver: Server, expected: int, deadline: float) -> dict[str, float]:
    """Poll the receiver until it has seen `expected` POSTs or the deadline passes."""
    while True:
        counted = receiver_count(receiver)
        if counted["posts"] >= expected or time.monotonic() >= deadline:
            return counted
        time.sleep(0.02)


def measure_receiver(receiver: Server, args: argparse.Namespace) -> float:
    """POSTs/s the receiver answers under wrk (wrk's own requests, whatever the status)."""
    result = run_wrk(
        receiver.url,
        "post.lua",
        duration=args.wrk_duration,
        connections=32,
        env={"MESSAGES_PER_POST": "1", "QUEUES": "1"},
    )
    receiver_count(receiver, reset=True)
    return float(result["requests"]) / float(result["duration_s"])


# Talking to the servers


def must(status: int, body: Any, wanted: tuple[int, ...], what: str) -> None:
    if status not in wanted:
        raise RuntimeError(f"{what}: HTTP {status} {body}")


def subscribe(base: str, root: str, name: str, subscriber: str) -> None:
    status, body = api_json(
        base,
        "POST",
        f"/v2/{root}/{name}/subscriptions",
        {"subscriber": subscriber, "ttl": 3600, "options": {}},
    )
    must(status, body, (200, 201), f"subscribing {subscriber} to {root}/{name}")


def fresh_queue(base: str, name: str, root: str = "queues") -> None:
    api_json(base, "DELETE", f"/v2/{root}/{name}")
    status, body = api_json(base, "PUT", f"/v2/{root}/{name}", {})
    must(status, body, (201, 204), f"creating {root}/{name}")


async def post_messages(
    base: str, path: str, total: int, per_post: int, connections: int, size: int
) -> None:
    """Post `total` messages to `path`, `per_post` per request over `connections` at once."""
    server = ServerURL(base)
    headers = header_block(server, PROJECT, CLIENT_ID)
    padding = "x" * max(0, size - 60)
    requests_left = [-(-total // per_post)]
    sent = [0]

    async def poster() -> None:
        connection = Connection(server.host, server.port)
        try:
            while requests_left[0] > 0:
                requests_left[0] -= 1
                count = min(per_post, total - sent[0])
                sent[0] += count
                document = {
                    "messages": [{"ttl": 3600, "body": {"event": "bench", "data": padding}}] * count
                }
                request = build_request("POST", path, headers, json.dumps(document).encode())
                status, body = await connection.send(request)
                if status != 201:
                    raise RuntimeError(f"POST {path}: HTTP {status} {body[:200]!r}")
        finally:
            connection.close()

    await asyncio.gather(*(poster() for _ in range(connections)))


# Deliveries: Herald vs Zaqar


def delivery_run(
    key: str, server: Server, receiver: Server, total: int, name: str, args: argparse.Namespace
) -> dict[str, Any]:
    """One queue, one webhook subscription, `total` messages; when each phase ended."""
    fresh_queue(server.url, name)
    subscribe(server.url, "queues", name, f"{receiver.url}/hook/{name}")
    receiver_count(receiver, reset=True)
    began = time.monotonic()
    asyncio.run(
        post_messages(
            server.url,
            f"/v2/queues/{name}/messages",
            total,
            args.per_post,
            args.posters,
            args.message_size,
        )
    )
    acknowledged = time.monotonic()
    counted = wait_for_posts(receiver, total, began + args.timeout)
    api_json(server.url, "DELETE", f"/v2/queues/{name}")
    seen = int(counted["posts"])
    end = counted["last"] if seen >= total else time.monotonic()
    return {
        "server": key,
        "messages": total,
        "delivered": seen,
        "complete": seen >= total,
        "connections": int(counted["connections"]),
        "posted_per_s": round(total / (acknowledged - began), 1),
        "deliveries_per_s": round(seen / (end - began), 1),
        "seconds": round(end - began, 3),
        "tail_after_ack_s": round(max(0.0, end - acknowledged), 3),
    }


def deliveries_part(
    servers: dict[str, Server], receiver: Server, args: argparse.Namespace, record: dict[str, Any]
) -> None:
    sizes: dict[str, int] = {}
    for key, server in servers.items():
        probe = delivery_run(
            key, server, receiver, args.probe_messages, f"notify-probe-{key}", args
        )
        rate = probe["deliveries_per_s"]
        sizes[key] = int(
            min(args.max_messages, max(args.probe_messages, rate * args.target_seconds))
        )
        say(f"deliveries probe {key}: {rate:,.0f}/s, so {sizes[key]:,} messages a run")
    record["deliveries_messages"] = sizes
    runs: list[dict[str, Any]] = record.setdefault("deliveries", [])
    keys = list(servers)
    for round_ in range(args.rounds):
        order = keys if round_ % 2 == 0 else keys[::-1]
        for key in order:
            run = delivery_run(
                key, servers[key], receiver, sizes[key], f"notify-{key}-{round_}", args
            )
            run["round"] = round_ + 1
            runs.append(run)
            say(
                f"round {round_ + 1} deliveries {key:<7} {run['deliveries_per_s']:>9,.0f}/s "
                f"({run['delivered']:,}/{run['messages']:,} in {run['seconds']:.1f} s, "
                f"posts {run['posted_per_s']:,.0f} msgs/s, tail {run['tail_after_ack_s']:.1f} s)"
            )


# A post's cost with a subscription


def tree_cpu(pid: int) -> float:
    """CPU seconds of a process and of every process below it."""
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents.setdefault(int(fields[1]), []).append(int(entry.name))
    total, todo = 0.0, [pid]
    while todo:
        current = todo.pop()
        try:
            total += cpu_seconds(current)
        except OSError:
            continue
        todo += parents.get(current, [])
    return total


def overhead_part(
    herald: Server, receiver: Server, args: argparse.Namespace, record: dict[str, Any]
) -> None:
    names = {"plain": "overhead-plain", "subscribed": "overhead-subscribed"}
    for kind, prefix in names.items():
        fresh_queue(herald.url, f"{prefix}-0")
        if kind == "subscribed":
            subscribe(herald.url, "queues", f"{prefix}-0", f"{receiver.url}/hook/overhead")
    assert herald.process is not None
    runs: list[dict[str, Any]] = record.setdefault("overhead", [])
    for round_ in range(args.rounds):
        order = list(names) if round_ % 2 == 0 else list(names)[::-1]
        for kind in order:
            env = {
                "MESSAGES_PER_POST": "1",
                "QUEUES": "1",
                "QUEUE_PREFIX": names[kind],
                "MESSAGE_SIZE": str(args.message_size),
                "PROJECT": PROJECT,
            }
            receiver_count(receiver, reset=True)
            cpu_before = tree_cpu(herald.process.pid)
            result = run_wrk(
                herald.url,
                "post.lua",
                duration=args.wrk_duration,
                connections=args.connections,
                env=env,
            )
            posted = int(result["posted"])
            # The deliveries the posts queued are part of their cost: wait for them.
            drained_at = time.monotonic()
            counted = (
                wait_for_posts(receiver, posted, time.monotonic() + args.timeout)
                if kind == "subscribed"
                else {"posts": 0}
            )
            drain = time.monotonic() - drained_at
            cpu = tree_cpu(herald.process.pid) - cpu_before
            run = {
                "round": round_ + 1,
                "kind": kind,
                "msgs_per_s": round(posted / float(result["duration_s"]), 1),
                "p99_ms": result["p99_ms"],
                "errors": sum(result["errors"].values()) + int(result["failed"]),
                "delivered": int(counted["posts"]),
                "drain_s": round(drain, 2),
                "server_cpu_us_per_msg": round(cpu / posted * 1e6, 1) if posted else 0.0,
            }
            runs.append(run)
            say(
                f"round {round_ + 1} overhead {kind:<10} {run['msgs_per_s']:>9,.0f} msgs/s "
                f"p99 {run['p99_ms']:.1f} ms, {run['server_cpu_us_per_msg']:.0f} µs CPU/msg, "
                f"delivered {run['delivered']:,}/{posted:,} (drain {drain:.1f} s)"
            )


# Fan-out from a topic


def landed(base: str, queues: list[str], expected: int, start: int) -> int:
    """Index of the first queue holding fewer than `expected` messages, from `start`."""
    for index in range(start, len(queues)):
        status, body = api_json(base, "GET", f"/v2/queues/{queues[index]}/stats")
        must(status, body, (200,), f"stats of {queues[index]}")
        if int(body["messages"]["total"]) < expected:
            return index
    return len(queues)


def fanout_run(
    herald: Server, queues: list[str], total: int, before: int, args: argparse.Namespace
) -> dict[str, Any]:
    began = time.monotonic()
    asyncio.run(
        post_messages(
            herald.url,
            "/v2/topics/fanout/messages",
            total,
            args.per_post,
            args.posters,
            args.message_size,
        )
    )
    acknowledged = time.monotonic()
    expected = before + total
    index = 0
    while time.monotonic() < began + args.timeout:
        index = landed(herald.url, queues, expected, index)
        if index == len(queues):
            break
        time.sleep(0.05)
    end = time.monotonic()
    done = index == len(queues)
    counted = len(queues) * total if done else index * total
    return {
        "messages": total,
        "queues": len(queues),
        "complete": done,
        "landed_per_s": round(counted / (end - began), 1),
        "seconds": round(end - began, 3),
        "posted_per_s": round(total / (acknowledged - began), 1),
    }


def fanout_part(herald: Server, args: argparse.Namespace, record: dict[str, Any]) -> None:
    fresh_queue(herald.url, "fanout", root="topics")
    queues = [f"fanout-{i}" for i in range(args.subscribers)]
    for name in queues:
        fresh_queue(herald.url, name)
        subscribe(herald.url, "topics", "fanout", f"queue:{name}")
    probe = fanout_run(herald, queues, args.probe_fanout, 0, args)
    held = args.probe_fanout
    size = int(
        min(
            args.max_messages // args.subscribers,
            max(args.probe_fanout, probe["landed_per_s"] * args.target_seconds / len(queues)),
        )
    )
    say(f"fan-out probe: {probe['landed_per_s']:,.0f} landed/s, so {size:,} messages a run")
    record["fanout_messages"] = size
    runs: list[dict[str, Any]] = record.setdefault("fanout", [])
    for round_ in range(args.rounds):
        run = fanout_run(herald, queues, size, held, args)
        held += size
        run["round"] = round_ + 1
        runs.append(run)
        say(
            f"round {round_ + 1} fan-out {run['landed_per_s']:>9,.0f} landed/s "
            f"({run['messages']:,} x {run['queues']} in {run['seconds']:.1f} s, "
            f"complete {run['complete']})"
        )
    for name in queues:
        api_json(herald.url, "DELETE", f"/v2/queues/{name}")
    api_json(herald.url, "DELETE", "/v2/topics/fanout")


# Report


def spread(values: list[float]) -> str:
    if not values:
        return "-"
    return f"{median(values):,.0f} ({min(values):,.0f} to {max(values):,.0f})"


def render(record: dict[str, Any], args: argparse.Namespace) -> str:
    info = record["machine"]
    lines = [
        f"Load average at start {info['load_average']}, at end {record['load_end']} "
        f"on {info['cores']} cores; {args.rounds} rounds, median (min to max); Herald's "
        f"notifications concurrency {args.concurrency or 'as the server defaults'}, "
        f"per-subscription window {args.window or 'as the server defaults'}.",
        "",
    ]
    if "receiver_posts_per_s" in record:
        lines += [f"Receiver alone: {record['receiver_posts_per_s']:,.0f} POSTs/s under wrk.", ""]
    runs = record.get("deliveries", [])
    if runs:
        rows, rates = [], {}
        for key, label in record["servers"].items():
            mine = [r for r in runs if r["server"] == key]
            if not mine:
                continue
            rates[key] = median([r["deliveries_per_s"] for r in mine])
            incomplete = sum(1 for r in mine if not r["complete"])
            rows.append(
                [
                    label,
                    f"{record['deliveries_messages'][key]:,}",
                    spread([r["deliveries_per_s"] for r in mine]),
                    spread([r["posted_per_s"] for r in mine]),
                    f"{median([r['tail_after_ack_s'] for r in mine]):.1f} s"
                    + (f" ⚠ {incomplete} incomplete" if incomplete else ""),
                ]
            )
        lines += [
            markdown_table(
                ["server", "N", "deliveries/s", "posts acknowledged, msgs/s", "tail after ack"],
                rows,
            ),
            "",
        ]
        if rates.get("herald") and rates.get("zaqar"):
            lines += [f"Herald / Zaqar deliveries/s: {rates['herald'] / rates['zaqar']:.2f}x", ""]
    runs = record.get("overhead", [])
    if runs:
        rows, rates = [], {}
        for kind in ("plain", "subscribed"):
            mine = [r for r in runs if r["kind"] == kind]
            rates[kind] = median([r["msgs_per_s"] for r in mine])
            rows.append(
                [
                    kind,
                    spread([r["msgs_per_s"] for r in mine]),
                    f"{median([r['p99_ms'] for r in mine]):.1f}",
                    f"{median([r['server_cpu_us_per_msg'] for r in mine]):.0f}",
                    f"{median([r['drain_s'] for r in mine]):.1f} s",
                    str(sum(r["errors"] for r in mine)),
                ]
            )
        lines += [
            markdown_table(
                [
                    "queue",
                    "POST 1, msgs/s",
                    "p99 ms",
                    "server CPU µs/msg",
                    "deliveries drain after",
                    "errors",
                ],
                rows,
            ),
            "",
        ]
        if rates["plain"] and rates["subscribed"]:
            lines += [
                f"Cost with a subscription (plain / subscribed rate): "
                f"{rates['plain'] / rates['subscribed']:.2f}x",
                "",
            ]
    runs = record.get("fanout", [])
    if runs:
        incomplete = sum(1 for r in runs if not r["complete"])
        lines += [
            f"Fan-out to {args.subscribers} queue subscribers, {record['fanout_messages']:,} "
            f"messages a run: {spread([r['landed_per_s'] for r in runs])} landed/s; posts to "
            f"the topic {spread([r['posted_per_s'] for r in runs])} msgs/s"
            + (f" ⚠ {incomplete} incomplete" if incomplete else ""),
            "",
        ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add = parser.add_argument
    add("--parts", default=",".join(PARTS), help="comma-separated subset of %(default)s")
    add("--rounds", type=int, default=3)
    add("--target-seconds", type=float, default=10.0, help="aimed length of a deliveries run")
    add("--timeout", type=float, default=60.0, help="most seconds a run waits for deliveries")
    add("--probe-messages", type=int, default=500)
    add("--max-messages", type=int, default=100_000)
    add("--per-post", type=int, default=10, help="messages per POST in deliveries and fanout")
    add("--posters", type=int, default=4, help="connections posting at once")
    add("--message-size", type=int, default=200)
    add("--wrk-duration", type=float, default=5.0)
    add("--connections", type=int, default=32, help="wrk connections in the overhead part")
    add("--subscribers", type=int, default=100)
    add("--probe-fanout", type=int, default=20)
    add("--store", default="sqlite", help="Herald's store: sqlite (a fresh file) or a URI")
    add("--durability", choices=("full", "normal"), default="full", help="Herald's SQLite")
    add(
        "--concurrency",
        type=int,
        default=None,
        help="Herald's [notifications] concurrency (default: the server's own)",
    )
    add(
        "--window",
        type=int,
        default=None,
        help="Herald's [notifications] per_subscription_window (default: the server's own)",
    )
    add(
        "--delivery-workers",
        type=int,
        default=0,
        help="Herald's delivery_workers: processes beside the API one that only deliver",
    )
    add("--zaqar-workers", type=int, default=2)
    add("--redis", default="redis://127.0.0.1:6379/0", help="the Redis Zaqar uses")
    add("--zaqar-redis-db", type=int, default=13)
    add("--no-install", action="store_true", help="do not install Zaqar if it is missing")
    add("--no-zaqar", action="store_true", help="Herald only")
    args = parser.parse_args(argv)
    parts = [p for p in args.parts.split(",") if p]
    unknown = set(parts) - set(PARTS)
    if unknown:
        parser.error(f"unknown parts: {', '.join(sorted(unknown))}")
    require_wrk()
    WORK.mkdir(parents=True, exist_ok=True)
    record: dict[str, Any] = {
        "started": time.strftime("%Y-%m-%d %H:%M:%S %z"),
        "machine": machine(),
        "settings": vars(args),
    }
    receiver = receiver_server()
    env = {}
    if args.concurrency is not None:
        env["HERALD_NOTIFICATIONS_CONCURRENCY"] = str(args.concurrency)
    if args.window is not None:
        env["HERALD_NOTIFICATIONS_PER_SUBSCRIPTION_WINDOW"] = str(args.window)
    processes = "1 process"
    if args.delivery_workers:
        env["HERALD_DELIVERY_WORKERS"] = str(args.delivery_workers)
        processes = f"1 API process, {args.delivery_workers} delivering"
    if args.store == "sqlite":
        herald = herald_sqlite("herald-notify", workers=1, durability=args.durability, env=env)
        labels = {"herald": f"Herald, SQLite durability {args.durability} ({processes})"}
    else:
        herald = herald_server("herald-notify", args.store, workers=1, env=env)
        labels = {"herald": f"Herald, {args.store.split(':')[0]} ({processes})"}
    servers: dict[str, Server] = {"herald": herald}
    if "deliveries" in parts and not args.no_zaqar:
        zaqar = zaqar_server(args, extra_conf=PIPELINE)
        if zaqar is not None:
            servers["zaqar"] = zaqar
            labels["zaqar"] = (
                f"Zaqar {ZAQAR_VERSION} (Redis, gunicorn {args.zaqar_workers} sync workers, "
                "notifier pipeline)"
            )
    record["servers"] = labels
    started: list[Server] = []
    try:
        for server in (receiver, *servers.values()):
            server.start()
            started.append(server)
        if "receiver" in parts:
            record["receiver_posts_per_s"] = measure_receiver(receiver, args)
            say(f"receiver alone: {record['receiver_posts_per_s']:,.0f} POSTs/s")
        if "deliveries" in parts:
            deliveries_part(servers, receiver, args, record)
        if "overhead" in parts:
            overhead_part(herald, receiver, args, record)
        if "fanout" in parts:
            fanout_part(herald, args, record)
    finally:
        for server in reversed(started):
            server.stop()
        remove_work("herald-notify")
        if "zaqar" in servers:
            flush_zaqar_redis(args)
    record["load_end"] = [round(x, 2) for x in os.getloadavg()]
    markdown = render(record, args)
    json_path, md_path = write_results(f"notify-{timestamp()}", record, markdown)
    print(markdown)
    say(f"wrote {json_path} and {md_path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
