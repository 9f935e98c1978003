"""Herald vs Zaqar, side by side, in one run: the same wrk workloads against every server.

Servers: Zaqar 23.0.1 (installed from PyPI into benchmarks/.zaqar-venv on first
use) on Redis under gunicorn; Herald on SQLite, Redis and PostgreSQL (a
backend whose driver is missing is skipped, with a message); and the bare
ASGI ceiling app (ceiling_app.py) for the POST workloads. Workloads (wrk Lua
scripts in wrk/): POST 1 message, POST 10 messages, claim 10 + delete each,
claim 10 + one bulk delete, observer listing with a marker. Every round runs
each workload against every server, in an order that rotates from round to
round, so that noise on the machine hits every server alike; the report
gives the median of the rounds and the ratios to Zaqar and to the ceiling.

    python benchmarks/compare.py --rounds 3 --duration 5
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import subprocess
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from benchlib import (
    HERE,
    WORK,
    Server,
    add_wrk_options,
    drop_redis_prefix,
    free_port,
    fresh_postgres_database,
    herald_server,
    machine,
    markdown_table,
    median,
    postgres_admin,
    remove_work,
    require_wrk,
    run_wrk,
    say,
    timestamp,
    with_query,
    write_results,
)
from http_stack import uvicorn_command

from herald.bench.runner import BenchError, prepare
from herald.bench.workload import BenchConfig

ZAQAR_VERSION = "23.0.1"
ZAQAR_VENV = HERE / ".zaqar-venv"
POSTGRES_DATABASE = "herald_bench"
REDIS_PREFIX = "bench_x"

ZAQAR_CONF = """\
[DEFAULT]
# noauth: the project comes from X-Project-ID, as with Herald.
auth_strategy =

[drivers]
transport = wsgi
message_store = redis
management_store = redis

[drivers:message_store:redis]
uri = {redis}

[drivers:management_store:redis]
uri = {redis}
"""


@dataclasses.dataclass(frozen=True)
class Workload:
    key: str
    title: str
    script: str
    env: dict[str, str]
    kind: str  # post, consume or observe


WORKLOADS = {
    w.key: w
    for w in (
        Workload("post1", "POST 1 message", "post.lua", {"MESSAGES_PER_POST": "1"}, "post"),
        Workload("post10", "POST 10 messages", "post.lua", {"MESSAGES_PER_POST": "10"}, "post"),
        Workload(
            "claim_each",
            "claim 10 + delete each",
            "claim_delete.lua",
            {"MESSAGES_PER_CLAIM": "10", "DELETE": "each"},
            "consume",
        ),
        Workload(
            "claim_bulk",
            "claim 10 + bulk delete",
            "claim_delete.lua",
            {"MESSAGES_PER_CLAIM": "10", "DELETE": "bulk"},
            "consume",
        ),
        Workload(
            "observe",
            "observer list 10 with marker",
            "observe.lua",
            {"MESSAGES_PER_LIST": "10"},
            "observe",
        ),
    )
}


@dataclasses.dataclass
class Target:
    """One server under test and what it is measured on."""

    key: str
    label: str
    server: Server
    workloads: tuple[str, ...]
    has_queues: bool = True
    # Guess of the consumers' messages/s, to prefill enough; learnt run by run.
    consume_rate: float = 5000.0


# Setup


def zaqar_target(args: argparse.Namespace) -> Target | None:
    server = zaqar_server(args)
    if server is None:
        return None
    label = f"Zaqar {ZAQAR_VERSION} (Redis, gunicorn {args.zaqar_workers} sync workers)"
    return Target("zaqar", label, server, tuple(WORKLOADS), consume_rate=3000.0)


def zaqar_server(args: argparse.Namespace, extra_conf: str = "") -> Server | None:
    """Zaqar on Redis under gunicorn, installed on first use; None if it cannot be.

    `args` brings `no_install`, `redis`, `zaqar_redis_db` and `zaqar_workers`;
    `extra_conf` is appended to its zaqar.conf (e.g. a `[storage]` pipeline)."""
    python = ZAQAR_VENV / "bin" / "python"
    gunicorn = ZAQAR_VENV / "bin" / "gunicorn"
    if not _zaqar_installed(python) or not gunicorn.exists():
        if args.no_install:
            say("skipping Zaqar: not installed in benchmarks/.zaqar-venv and --no-install given")
            return None
        say(f"installing Zaqar {ZAQAR_VERSION}, gunicorn and redis into {ZAQAR_VENV}")
        subprocess.run([sys.executable, "-m", "venv", str(ZAQAR_VENV)], check=True)
        subprocess.run(
            [
                str(ZAQAR_VENV / "bin" / "pip"),
                "install",
                "-q",
                f"zaqar=={ZAQAR_VERSION}",
                "gunicorn",
                "redis",
            ],
            check=True,
        )
        if not _zaqar_installed(python):
            say("skipping Zaqar: the installation failed")
            return None
    home = WORK / "zaqar-home"
    (home / ".zaqar").mkdir(parents=True, exist_ok=True)
    redis = urlsplit(args.redis)
    uri = f"redis://{redis.hostname}:{redis.port or 6379}?dbid={args.zaqar_redis_db}"
    # The WSGI app reads only the standard config places; ~/.zaqar/ is one.
    (home / ".zaqar" / "zaqar.conf").write_text(ZAQAR_CONF.format(redis=uri) + extra_conf)
    port = free_port()
    command = [
        str(gunicorn),
        "--workers",
        str(args.zaqar_workers),
        "--bind",
        f"127.0.0.1:{port}",
        "--log-level",
        "warning",
        "zaqar.transport.wsgi.app:app",
    ]
    return Server("zaqar", command, port, env={"HOME": str(home)}, cwd=home)


def _zaqar_installed(python: Path) -> bool:
    if not python.exists():
        return False
    answer = subprocess.run(
        [str(python), "-c", "import importlib.metadata as m; print(m.version('zaqar'))"],
        capture_output=True,
        text=True,
        check=False,
    )
    return answer.stdout.strip() == ZAQAR_VERSION


def driver_missing(store: str, label: str) -> bool:
    """Whether Herald has no driver for the store URI yet; says so if it has none."""
    from herald.storage.factory import open_store

    try:
        open_store(store)
    except (ValueError, ImportError) as exc:
        say(f"skipping {label}: its driver is not available yet ({exc})")
        return True
    return False


def herald_target(key: str, label: str, store: str, args: argparse.Namespace) -> Target | None:
    if driver_missing(store, label):
        return None
    sqlite = store.startswith("sqlite")
    workers = args.sqlite_workers if sqlite else args.herald_workers
    durability = args.durability if sqlite else None
    server = herald_server(key, store, workers=workers, durability=durability)
    full = f"{label} ({workers} worker{'s' if workers > 1 else ''})"
    return Target(key, full, server, tuple(WORKLOADS), consume_rate=15000.0)


def targets(args: argparse.Namespace) -> list[Target]:
    chosen = set(args.servers.split(","))
    found: list[Target] = []
    if "zaqar" in chosen:
        target = zaqar_target(args)
        if target:
            found.append(target)
    if "herald-sqlite" in chosen:
        remove_work("herald-sqlite")
        store = f"sqlite:///{WORK / 'herald-sqlite' / 'herald.sqlite3'}"
        target = herald_target("herald-sqlite", "Herald, SQLite", store, args)
        if target:
            found.append(target)
    if "herald-redis" in chosen:
        store = with_query(args.redis, prefix=REDIS_PREFIX)
        target = herald_target("herald-redis", "Herald, Redis", store, args)
        if target:
            found.append(target)
    if "herald-postgres" in chosen:
        label = "Herald, PostgreSQL"
        if not driver_missing(f"{args.postgres}/{POSTGRES_DATABASE}", label):
            database = fresh_postgres_database(args.postgres, POSTGRES_DATABASE)
            target = herald_target("herald-postgres", label, database, args) if database else None
            if target:
                found.append(target)
    if "asgi-ceiling" in chosen:
        port = free_port()
        server = Server("asgi-ceiling", uvicorn_command("bare", port, args.ceiling_workers), port)
        label = f"bare ASGI ceiling (msgspec parse, {args.ceiling_workers} worker)"
        found.append(Target("asgi-ceiling", label, server, ("post1", "post10"), has_queues=False))
    return found


# Runs


def prefill_for(target: Target, workload: Workload, args: argparse.Namespace) -> int:
    """Messages per queue to post before a run, so that consumers never find the queues empty."""
    if workload.kind == "observe":
        return 1000
    if workload.kind != "consume":
        return 0
    needed = target.consume_rate * (args.duration + args.warmup) * 1.5 + 2000
    return min(int(needed / args.queues) + 1, 250_000)


def run_one(target: Target, workload: Workload, args: argparse.Namespace) -> dict[str, Any]:
    """Reset and prefill the queues, warm up, then one measured wrk run."""
    env = {
        **workload.env,
        "QUEUES": str(args.queues),
        "QUEUE_PREFIX": f"bench-{workload.key}",
        "MESSAGE_SIZE": str(args.message_size),
        "PROJECT": "herald-bench",
    }
    prefill = prefill_for(target, workload, args)
    began = time.monotonic()
    if target.has_queues:
        config = BenchConfig(
            url=target.server.url,
            queues=args.queues,
            queue_prefix=f"bench-{workload.key}",
            message_size=args.message_size,
            prefill=prefill,
        )
        asyncio.run(prepare(config))
    setup = time.monotonic() - began
    if args.warmup > 0:
        run_wrk(
            target.server.url,
            workload.script,
            duration=args.warmup,
            connections=args.connections,
            env=env,
        )
    result = run_wrk(
        target.server.url,
        workload.script,
        duration=args.duration,
        connections=args.connections,
        env=env,
    )
    seconds = result["duration_s"]
    dry = False
    if workload.kind == "post":
        messages = result["posted"]
    elif workload.kind == "observe":
        messages = result["listed"]
    else:
        # wrk cannot tell a delete's 204 from an empty claim's 204; a claim
        # that found nothing is a claim sent that got no 201 (the last few
        # may still have been in flight when wrk stopped).
        empty = max(
            0, result["claims_sent"] - result["claims_full"] - result["failed"] - args.connections
        )
        deletes_done = max(0, result["answers_204"] - empty)
        sent = result["deletes_sent"]
        messages = round(result["ids_sent"] * min(1.0, deletes_done / sent)) if sent else 0
        dry = empty > 0
        rate = messages / seconds
        # Prefill for the next round from what this one consumed.
        target.consume_rate = max(target.consume_rate * (2.0 if dry else 1.0), rate)
    errors = sum(result["errors"].values())
    return {
        "server": target.key,
        "workload": workload.key,
        "msgs_per_s": round(messages / seconds, 1),
        "requests_per_s": round(result["requests"] / seconds, 1),
        "p50_ms": result["p50_ms"],
        "p90_ms": result["p90_ms"],
        "p99_ms": result["p99_ms"],
        "errors": errors,
        "ran_dry": dry,
        "prefill_per_queue": prefill,
        "setup_s": round(setup, 2),
        "wrk": result,
    }


# Report


def summarise(runs: list[dict[str, Any]], found: list[Target]) -> dict[str, dict[str, Any]]:
    summary: dict[str, dict[str, Any]] = {}
    for workload in WORKLOADS:
        summary[workload] = {}
        for target in found:
            mine = [r for r in runs if r["server"] == target.key and r["workload"] == workload]
            if not mine:
                continue
            summary[workload][target.key] = {
                "msgs_per_s": round(median([r["msgs_per_s"] for r in mine]), 1),
                "requests_per_s": round(median([r["requests_per_s"] for r in mine]), 1),
                "p50_ms": median([r["p50_ms"] for r in mine]),
                "p99_ms": median([r["p99_ms"] for r in mine]),
                "errors": sum(r["errors"] for r in mine),
                "ran_dry": sum(1 for r in mine if r["ran_dry"]),
                "rounds": len(mine),
            }
    return summary


def render(
    summary: dict[str, dict[str, Any]],
    found: list[Target],
    args: argparse.Namespace,
    info: dict[str, Any],
) -> str:
    keys = [t.key for t in found]
    measured = {w: per_server for w, per_server in summary.items() if per_server}
    rows = []
    for workload, per_server in measured.items():
        row = [WORKLOADS[workload].title]
        for key in keys:
            cell = per_server.get(key)
            if cell is None:
                row.append("-")
                continue
            text = f"{cell['msgs_per_s']:,.0f} (p99 {cell['p99_ms']:.1f} ms)"
            if cell["errors"]:
                text += f" ⚠ {cell['errors']} errors"
            if cell["ran_dry"]:
                text += " ⚠ queues ran dry"
            row.append(text)
        rows.append(row)
    # Ratios of each Herald to each reference that took part in the run.
    references = [
        (k, name) for k, name in (("zaqar", "Zaqar"), ("asgi-ceiling", "ceiling")) if k in keys
    ]
    heralds = [t.key for t in found if t.key.startswith("herald")]
    ratio_header = ["workload"]
    for herald in heralds:
        ratio_header += [f"{herald} / {name}" for _, name in references]
    ratio_rows = []
    for workload, per_server in measured.items():
        row = [WORKLOADS[workload].title]
        for herald in heralds:
            mine = per_server.get(herald, {}).get("msgs_per_s")
            for key, _ in references:
                theirs = per_server.get(key, {}).get("msgs_per_s")
                if not (mine and theirs):
                    row.append("-")
                elif key == "zaqar":
                    row.append(f"{mine / theirs:.2f}x")
                else:
                    row.append(f"{mine / theirs:.0%}")
        ratio_rows.append(row)
    ratios = markdown_table(ratio_header, ratio_rows) if heralds and references else ""
    legend = "\n".join(f"- `{t.key}`: {t.label}" for t in found)
    return "\n".join(
        [
            f"Messages/s, median of {args.rounds} rounds of {args.duration:g} s "
            f"(after {args.warmup:g} s warm-up), wrk -t1 -c{args.connections}, "
            f"{args.queues} queues, {args.message_size}-byte messages. "
            f"Load average at start {info['load_average']} on {info['cores']} cores.",
            "",
            legend,
            "",
            markdown_table(["workload", *keys], rows),
            "",
            ratios,
        ]
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add = parser.add_argument
    add_wrk_options(parser, rounds=3)
    add(
        "--servers",
        default="zaqar,herald-sqlite,herald-redis,herald-postgres,asgi-ceiling",
        help="comma-separated subset of %(default)s",
    )
    add("--workloads", default=",".join(WORKLOADS), help="comma-separated subset of %(default)s")
    add("--herald-workers", type=int, default=2, help="workers of Herald on Redis and PostgreSQL")
    # SQLite serialises writers: on two cores a second process mostly adds lock waits.
    add("--sqlite-workers", type=int, default=1, help="workers of Herald on SQLite")
    add("--durability", choices=("full", "normal"), help="Herald's SQLite durability")
    add("--zaqar-workers", type=int, default=2)
    add("--ceiling-workers", type=int, default=1)
    add("--redis", default="redis://127.0.0.1:6379/0", help="Redis for Herald (%(default)s)")
    add("--zaqar-redis-db", type=int, default=13, help="Redis database index Zaqar uses")
    add(
        "--postgres",
        default="postgresql://postgres@127.0.0.1:5432",
        help="PostgreSQL server; the script creates the database herald_bench",
    )
    add("--no-install", action="store_true", help="do not install Zaqar if it is missing")
    args = parser.parse_args(argv)
    require_wrk()
    info = machine()
    workloads = [w for w in args.workloads.split(",") if w]
    unknown = set(workloads) - set(WORKLOADS)
    if unknown:
        parser.error(f"unknown workloads: {', '.join(sorted(unknown))}")
    WORK.mkdir(parents=True, exist_ok=True)
    found = targets(args)
    runs: list[dict[str, Any]] = []
    started = time.strftime("%Y-%m-%d %H:%M:%S %z")
    try:
        for target in list(found):
            try:
                target.server.start()
                say(f"started {target.label} at {target.server.url}")
            except RuntimeError as exc:
                say(f"skipping {target.label}: {exc}")
                found.remove(target)
        for round_ in range(args.rounds):
            for index, key in enumerate(workloads):
                workload = WORKLOADS[key]
                eligible = [t for t in found if key in t.workloads]
                if not eligible:
                    continue
                shift = (round_ + index) % len(eligible)
                for target in eligible[shift:] + eligible[:shift]:
                    try:
                        run = run_one(target, workload, args)
                        # A run whose queues ran dry measured waiting, not
                        # consuming: run it again with the larger prefill it
                        # taught (at most twice).
                        for _ in range(2):
                            if not run["ran_dry"]:
                                break
                            say(f"{key} on {target.key}: the queues ran dry; again with more")
                            run = run_one(target, workload, args)
                    except (BenchError, RuntimeError, OSError) as exc:
                        say(f"round {round_ + 1} {key} {target.key}: failed: {exc}")
                        continue
                    run["round"] = round_ + 1
                    runs.append(run)
                    flags = " (queues ran dry)" if run["ran_dry"] else ""
                    say(
                        f"round {round_ + 1}/{args.rounds} {workload.title:<30} "
                        f"{target.key:<16} {run['msgs_per_s']:>9,.0f} msgs/s  "
                        f"p99 {run['p99_ms']:6.1f} ms  errors {run['errors']}{flags}"
                    )
    finally:
        for target in found:
            if target.has_queues and target.server.process is not None:
                _drop_queues(target, workloads, args)
            target.server.stop()
        if any(t.key == "herald-postgres" for t in found):
            postgres_admin(args.postgres, f"DROP DATABASE IF EXISTS {POSTGRES_DATABASE}")
        _clean_redis(args, {t.key for t in found})
    summary = summarise(runs, found)
    markdown = render(summary, found, args, info)
    document = {
        "started": started,
        "machine": info,
        "settings": vars(args),
        "servers": {t.key: t.label for t in found},
        "summary": summary,
        "runs": runs,
    }
    json_path, md_path = write_results(f"compare-{timestamp()}", document, markdown)
    print(markdown)
    say(f"wrote {json_path} and {md_path}")
    return 0


def _clean_redis(args: argparse.Namespace, keys: set[str]) -> None:
    """Remove what the servers keep in Redis beyond their queues (counters, claims)."""
    if "herald-redis" in keys:
        drop_redis_prefix(args.redis, REDIS_PREFIX)
    if "zaqar" in keys:
        flush_zaqar_redis(args)


def flush_zaqar_redis(args: argparse.Namespace) -> None:
    """Empty the Redis database Zaqar kept its queues, messages and subscriptions in."""
    import redis

    parts = urlsplit(args.redis)
    client = redis.Redis(
        host=parts.hostname or "127.0.0.1", port=parts.port or 6379, db=args.zaqar_redis_db
    )
    client.flushdb()
    client.close()


def _drop_queues(target: Target, workloads: list[str], args: argparse.Namespace) -> None:
    """Leave no benchmark messages behind in the shared Redis and PostgreSQL."""
    for key in workloads:
        config = BenchConfig(
            url=target.server.url, queues=args.queues, queue_prefix=f"bench-{key}", prefill=0
        )
        try:
            asyncio.run(_delete_queues(config))
        except (BenchError, OSError):
            return


async def _delete_queues(config: BenchConfig) -> None:
    from herald.bench.client import Connection, ServerURL, build_request
    from herald.bench.workload import header_block

    server = ServerURL(config.url)
    headers = header_block(server, config.project, "0b7d1f9e-0f6e-4a3c-9d1e-5a1c0e2b7f10")
    connection = Connection(server.host, server.port)
    try:
        for name in config.queue_names:
            request = build_request("DELETE", f"{server.prefix}/v2/queues/{name}", headers)
            await connection.send(request)
    finally:
        connection.close()


if __name__ == "__main__":
    raise SystemExit(main())
