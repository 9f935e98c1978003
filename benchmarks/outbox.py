"""What writing the delivery outbox costs a post: POST 1 on SQLite (1 worker) before the
outbox existed, with it and no subscription, and with one subscription per queue.

Two parts. `job`: the SQLite write job of one post alone (`outbox_job.py`, no
HTTP, no fsync), in child processes that take turns, the least of each; it
resolves differences of a microsecond where wrk, on a shared machine, cannot.
`wrk`: the whole server under wrk.

"Before" is the same server from an older revision (`--before`, by default
`main`), unpacked under .work/ and run from there. Rounds rotate which server
goes first. The queues are never reset (a reset would delete the queues'
subscriptions with them): they grow alike on all three servers. After the runs
it checks what each server wrote: no outbox before, none without
subscriptions, one delivery per message posted with one. Nothing delivers
them, so this is the store's cost alone.

    python benchmarks/outbox.py --rounds 6 --duration 5 --job-rounds 12
"""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import sqlite3
import subprocess
import sys
import tarfile
import time
import uuid
from pathlib import Path
from typing import Any

from benchlib import (
    HERE,
    REPO,
    WORK,
    Server,
    add_wrk_options,
    cpu_seconds,
    herald_sqlite,
    machine,
    markdown_table,
    median,
    remove_work,
    run_wrk,
    say,
    timestamp,
    write_results,
)

from herald.model import Subscription
from herald.storage.sqlite import SQLiteStore

PROJECT = "herald-bench"
QUEUE_PREFIX = "outbox"
SERVERS = {
    "before": "before the outbox",
    "none": "outbox, no subscription",
    "one": "outbox, one subscription per queue",
}


def unpack(revision: str) -> Path:
    """The revision's `src/` under .work/, to run the server from."""
    name = "outbox-before-src"
    remove_work(name)
    archive = subprocess.run(
        ["git", "-C", str(REPO), "archive", "--format=tar", revision, "src"],
        capture_output=True,
        check=True,
    ).stdout
    target = WORK / name
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(target, filter="data")
    return target / "src"


def database(server: Server) -> Path:
    store = server.command[server.command.index("--store") + 1]
    return Path(store.removeprefix("sqlite:///"))


async def subscribe(path: Path, queues: int) -> None:
    """One subscription on each queue the workload posts to, before the server starts."""
    store = SQLiteStore(str(path))
    await store.open()
    try:
        now = time.time()
        for n in range(queues):
            sub = Subscription(
                id=uuid.uuid4().hex,
                project=PROJECT,
                source=f"{QUEUE_PREFIX}-{n}",
                subscriber="http://127.0.0.1:9/never-called",
                options={},
                ttl=86_400,
                renewed=now,
                expires=now + 86_400,
            )
            await store.create_subscription(sub, now)
    finally:
        await store.close()


def written(path: Path) -> dict[str, Any]:
    """The schema version, messages and deliveries in a server's database."""
    conn = sqlite3.connect(path)
    try:
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        messages = conn.execute("SELECT count(*) FROM messages").fetchone()[0]
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
        deliveries = None
        if "deliveries" in tables:
            deliveries = conn.execute("SELECT count(*) FROM deliveries").fetchone()[0]
        return {"user_version": version, "messages": messages, "deliveries": deliveries}
    finally:
        conn.close()


def job(args: argparse.Namespace, before_src: Path) -> dict[str, list[float]]:
    """Microseconds of the write job per post, per server variant, one value a child."""
    variants = {
        "before": ({"PYTHONPATH": str(before_src)}, 0),
        "none": ({}, 0),
        "one": ({}, 1),
    }
    runs: dict[str, list[float]] = {key: [] for key in variants}
    order = list(variants)
    for round_ in range(args.job_rounds):
        shift = round_ % len(order)
        for key in order[shift:] + order[:shift]:
            env, subscriptions = variants[key]
            command = [sys.executable, str(HERE / "outbox_job.py"), "--posts", "500"]
            command += ["--repeats", "20", "--subscriptions", str(subscriptions)]
            done = subprocess.run(
                command, env={**os.environ, **env}, capture_output=True, text=True, check=True
            )
            runs[key].append(float(done.stdout))
        say(f"job round {round_ + 1}: " + ", ".join(f"{k} {v[-1]:.2f} us" for k, v in runs.items()))
    return runs


def render_job(runs: dict[str, list[float]]) -> str:
    least = {key: min(values) for key, values in runs.items()}
    rows = [
        [SERVERS[key], f"{least[key]:.2f}", f"{median(values):.2f}", f"{max(values):.2f}"]
        for key, values in runs.items()
    ]
    header = ["server", "least µs/post", "median µs/post", "most µs/post"]
    return "\n".join(
        [
            markdown_table(header, rows),
            "",
            f"least, no subscription minus before: {least['none'] - least['before']:+.2f} µs; "
            f"one subscription minus no subscription: {least['one'] - least['none']:+.2f} µs",
        ]
    )


def measure(key: str, server: Server, args: argparse.Namespace) -> dict[str, Any]:
    """A warm-up, then one measured wrk POST 1 run, with the server's CPU per request."""
    assert server.process is not None
    env = {
        "MESSAGES_PER_POST": "1",
        "QUEUES": str(args.queues),
        "QUEUE_PREFIX": QUEUE_PREFIX,
        "MESSAGE_SIZE": str(args.message_size),
        "PROJECT": PROJECT,
    }
    if args.warmup > 0:
        run_wrk(server.url, "post.lua", duration=args.warmup, connections=args.connections, env=env)
    before = cpu_seconds(server.process.pid)
    result = run_wrk(
        server.url, "post.lua", duration=args.duration, connections=args.connections, env=env
    )
    spent = cpu_seconds(server.process.pid) - before
    seconds = result["duration_s"]
    return {
        "server": key,
        "msgs_per_s": round(result["posted"] / seconds, 1),
        "p99_ms": result["p99_ms"],
        "errors": sum(result["errors"].values()),
        "server_cpu_us_per_request": round(spent / max(1, result["requests"]) * 1e6, 1),
        "wrk": result,
    }


def run(args: argparse.Namespace, before_src: Path) -> dict[str, Any]:
    servers = {key: herald_sqlite(f"outbox-{key}") for key in SERVERS}
    servers["before"].env["PYTHONPATH"] = str(before_src)
    # Schema first, subscriptions next, and only then the server.
    asyncio.run(subscribe(database(servers["one"]), args.queues))
    runs: list[dict[str, Any]] = []
    try:
        for server in servers.values():
            server.start()
        order = list(servers)
        for round_ in range(args.rounds):
            shift = round_ % len(order)
            for key in order[shift:] + order[:shift]:
                result = measure(key, servers[key], args)
                result["round"] = round_ + 1
                runs.append(result)
                say(
                    f"round {round_ + 1} {key:<6} {result['msgs_per_s']:9,.0f} msgs/s "
                    f"p99 {result['p99_ms']:.1f} ms "
                    f"server CPU {result['server_cpu_us_per_request']:,.0f} us/request "
                    f"errors {result['errors']}"
                )
    finally:
        for server in servers.values():
            server.stop()
    return {
        "before": args.before,
        "runs": runs,
        "written": {key: written(database(server)) for key, server in servers.items()},
    }


def render(result: dict[str, Any]) -> str:
    cells: dict[str, dict[str, float]] = {}
    for key in SERVERS:
        mine = [r for r in result["runs"] if r["server"] == key]
        rates = [r["msgs_per_s"] for r in mine]
        cells[key] = {
            "median": median(rates),
            "low": min(rates),
            "high": max(rates),
            "p99": median([r["p99_ms"] for r in mine]),
            "cpu": median([r["server_cpu_us_per_request"] for r in mine]),
            "errors": sum(r["errors"] for r in mine),
        }
    rows = [
        [
            SERVERS[key],
            f"{c['median']:,.0f} ({c['low']:,.0f}-{c['high']:,.0f})",
            f"{c['p99']:.1f}",
            f"{c['cpu']:,.0f}",
            f"{c['errors']:.0f}",
            str(result["written"][key]),
        ]
        for key, c in cells.items()
    ]
    header = ["server", "POST 1 msgs/s (range)", "p99 ms", "server CPU µs/request"]
    header += ["errors", "wrote"]
    before, none, one = (cells[k]["median"] for k in SERVERS)
    ratios = (
        f"no subscription / before: {none / before:.3f}; "
        f"one subscription / no subscription: {one / none:.3f}; "
        f"server CPU per request, no subscription / before: "
        f"{cells['none']['cpu'] / cells['before']['cpu']:.3f}, "
        f"one / none: {cells['one']['cpu'] / cells['none']['cpu']:.3f}"
    )
    return "\n".join([markdown_table(header, rows), "", ratios])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", default="main", help="the revision without the outbox")
    parser.add_argument("--parts", default="job,wrk", help="comma-separated subset of %(default)s")
    parser.add_argument("--job-rounds", type=int, default=12)
    add_wrk_options(parser, rounds=6)
    args = parser.parse_args(argv)
    parts = {p for p in args.parts.split(",") if p}
    info = machine()
    document: dict[str, Any] = {"machine": info, "settings": vars(args)}
    before_src = unpack(args.before)
    sections = [f"Load average at start {info['load_average']} on {info['cores']} cores."]
    if "job" in parts:
        document["job"] = job(args, before_src)
        sections += [
            "",
            f"## The write job of one post ({args.job_rounds} children each)",
            "",
            render_job(document["job"]),
        ]
    if "wrk" in parts:
        document["result"] = run(args, before_src)
        sections += [
            "",
            f"## POST 1 under wrk (median of {args.rounds} rounds of {args.duration:g} s, "
            f"wrk -t1 -c{args.connections})",
            "",
            render(document["result"]),
        ]
    markdown = "\n".join(sections)
    json_path, md_path = write_results(f"outbox-{timestamp()}", document, markdown)
    print(markdown)
    say(f"wrote {json_path} and {md_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
