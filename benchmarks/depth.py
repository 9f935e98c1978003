"""Claim and list latency with a deep queue vs a shallow one, on any of Herald's stores.

For each depth (1,000 and 1,000,000 messages by default) one queue is filled
with `herald bench`'s prefill; then wrk measures, in rounds that alternate
between the depths, claim 10 + release (so the queue keeps its depth) and
observers listing 10 messages at a time (echo=true) onwards from the head and
from a marker in the middle. A last phase piles claimed messages up at the
head of each queue (a share of its depth, claimed with a long ttl) and
measures claim 10 + release behind them. The report gives the medians of the
rounds and the ratio deepest / shallowest.

    python benchmarks/depth.py --depths 1000,1000000 --rounds 3 --duration 5
    python benchmarks/depth.py --store redis      # or postgres; SQLite by default

With --store redis each depth gets its own key prefix (bench_depth-N), with
--store postgres its own database (herald_depth_N); both are removed at the
end, as the SQLite files are.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from benchlib import (
    RESULTS,
    Server,
    add_wrk_options,
    api_json,
    drop_redis_prefix,
    fresh_postgres_database,
    herald_server,
    herald_sqlite,
    machine,
    markdown_table,
    median,
    memory_mib,
    postgres_admin,
    remove_work,
    require_wrk,
    run_wrk,
    say,
    timestamp,
    with_query,
    write_results,
)

from herald.bench.runner import BenchError, prepare
from herald.bench.workload import BenchConfig

# Long enough that no message expires during a run, short of the 14-day cap.
MESSAGE_TTL = 43_200
PILE_CLAIM_TTL = 43_200
PILE_BATCH = 20  # the default cap on messages per claim


@dataclasses.dataclass(frozen=True)
class Workload:
    key: str
    title: str
    script: str
    env: dict[str, str]


_LISTING = {"MESSAGES_PER_LIST": "10", "INCLUDE_CLAIMED": "no"}
CLAIM_RELEASE = Workload(
    "claim_release",
    "claim 10 + release",
    "claim_delete.lua",
    # The shortest claim ttl: claims still in flight when wrk stops expire
    # within a minute instead of lingering at the head for later runs.
    {"MESSAGES_PER_CLAIM": "10", "CLAIM_TTL": "60", "DELETE": "release"},
)
LIST_HEAD = Workload("list_head", "list 10 onwards from the head", "observe.lua", _LISTING)
LIST_MIDDLE = Workload("list_middle", "list 10 onwards from the middle", "observe.lua", _LISTING)
BEHIND_PILE = dataclasses.replace(
    CLAIM_RELEASE, key="claim_behind_pile", title="claim 10 + release behind a pile of claimed"
)
WORKLOADS = (CLAIM_RELEASE, LIST_HEAD, LIST_MIDDLE)


@dataclasses.dataclass
class DepthQueue:
    """One queue filled to one depth, and the Herald that holds it."""

    depth: int
    server: Server
    middle: str = ""
    fill_s: float = 0.0
    pile: int = 0
    pile_s: float = 0.0
    # The pile's claims and the id of its last message, where a scan for
    # claims that wrk left behind starts.
    pile_claims: set[str] = dataclasses.field(default_factory=set)
    pile_end: str = ""
    memory: dict[str, float] = dataclasses.field(default_factory=dict)

    @property
    def prefix(self) -> str:
        return f"depth-{self.depth}"

    @property
    def name(self) -> str:
        # herald bench and the wrk scripts name queues PREFIX-0..N-1.
        return f"{self.prefix}-0"


def fill(queue: DepthQueue, message_size: int) -> None:
    """Fill the queue to its depth, noting the id of the message halfway as the middle marker."""
    half = queue.depth // 2
    config = BenchConfig(
        url=queue.server.url,
        queues=1,
        queue_prefix=queue.prefix,
        message_size=message_size,
        message_ttl=MESSAGE_TTL,
        prefill=half,
    )
    began = time.monotonic()
    asyncio.run(prepare(config))
    queue.middle = newest_id(queue)
    asyncio.run(prepare(dataclasses.replace(config, prefill=queue.depth - half, reset=False)))
    queue.fill_s = time.monotonic() - began
    status, stats = api_json(queue.server.url, "GET", f"/v2/queues/{queue.name}/stats")
    total = stats["messages"]["total"] if status == 200 else None
    if total != queue.depth:
        raise RuntimeError(f"{queue.name} holds {total} messages, not {queue.depth}")


def newest_id(queue: DepthQueue) -> str:
    status, stats = api_json(queue.server.url, "GET", f"/v2/queues/{queue.name}/stats")
    if status != 200 or not stats["messages"].get("newest"):
        raise RuntimeError(f"no stats for {queue.name}: {status} {stats}")
    return str(stats["messages"]["newest"]["href"].rsplit("/", 1)[1])


def build_pile(queue: DepthQueue, count: int, limit_s: float) -> None:
    """Claim `count` messages at the head with a long ttl and keep the claims, within limit_s."""
    began = time.monotonic()
    path = f"/v2/queues/{queue.name}/claims?limit={PILE_BATCH}"
    body = {"ttl": PILE_CLAIM_TTL, "grace": 60}
    while queue.pile < count and time.monotonic() - began < limit_s:
        status, answer = api_json(queue.server.url, "POST", path, body)
        if status != 201:
            raise RuntimeError(f"claiming the pile of {queue.name} answered {status}")
        for message in answer["messages"]:
            queue.pile += 1
            queue.pile_end, _, claim = message["href"].rsplit("/", 1)[1].partition("?claim_id=")
            queue.pile_claims.add(claim)
    queue.pile_s = time.monotonic() - began
    if queue.pile < count:
        say(f"depth {queue.depth:,}: the pile reached {queue.pile:,} of {count:,} in {limit_s:g} s")


def release_leftovers(queue: DepthQueue, connections: int) -> int:
    """Release the claims a claiming wrk run left when it stopped; how many there were."""
    # Left alone they would keep up to connections x 10 messages claimed at
    # the head for a minute, which at a small depth starves the next run.
    # Claims take the first free messages, so every claimed message lies
    # within the most ever claimed at once (about connections x 10) past the
    # pile: scanning four times that is ample. Claims in flight when wrk
    # closed its connections still commit: give them a moment first.
    time.sleep(0.3)
    url = queue.server.url
    found: set[str] = set()
    marker = queue.pile_end
    scanned = 0
    while scanned < 4 * connections * 10 + 200:
        path = f"/v2/queues/{queue.name}/messages?limit=20&echo=true&include_claimed=true"
        status, page = api_json(url, "GET", path + (f"&marker={marker}" if marker else ""))
        messages = page.get("messages") if status == 200 and page else None
        if not messages:
            break
        for message in messages:
            _, _, claim = message["href"].partition("?claim_id=")
            if claim:
                found.add(claim)
        scanned += len(messages)
        marker = messages[-1]["id"]
    leftovers = found - queue.pile_claims
    for claim in leftovers:
        api_json(url, "DELETE", f"/v2/queues/{queue.name}/claims/{claim}")
    return len(leftovers)


def wrk_env(queue: DepthQueue, workload: Workload) -> dict[str, str]:
    """The wrk script's settings for a workload on a queue."""
    env = {**workload.env, "QUEUES": "1", "QUEUE_PREFIX": queue.prefix, "PROJECT": "herald-bench"}
    if workload is LIST_MIDDLE:
        env["START_MARKER"] = queue.middle
    return env


def measure(queue: DepthQueue, workload: Workload, args: argparse.Namespace) -> dict[str, Any]:
    """A warm-up, then one measured wrk run of a workload on a queue."""
    env = wrk_env(queue, workload)
    url = queue.server.url
    claims = workload.script == "claim_delete.lua"
    if args.warmup > 0:
        run_wrk(url, workload.script, duration=args.warmup, connections=args.connections, env=env)
        if claims:
            release_leftovers(queue, args.connections)
    result = run_wrk(
        url, workload.script, duration=args.duration, connections=args.connections, env=env
    )
    leftovers = release_leftovers(queue, args.connections) if claims else 0
    seconds = result["duration_s"]
    wrk_errors = sum(n for kind, n in result["errors"].items() if kind != "status")
    if claims:
        rate = result["claims_full"] / seconds
        # Claims that found nothing: claims sent minus those answered with
        # messages or failing, less the ones still in flight at the end.
        dry = result["claims_sent"] - result["claims_full"] - result["failed"]
        dry = max(0, dry - args.connections)
    else:
        rate = result["pages"] / seconds
        dry = 0
    return {
        "depth": queue.depth,
        "workload": workload.key,
        "p50_ms": result["p50_ms"],
        "p90_ms": result["p90_ms"],
        "p99_ms": result["p99_ms"],
        "rate": round(rate, 1),
        "requests_per_s": round(result["requests"] / seconds, 1),
        "errors": wrk_errors + result["failed"],
        "dry_claims": dry,
        "claims_left_by_wrk": leftovers,
        "wrk": result,
    }


def profile(queue: DepthQueue, workload: Workload, args: argparse.Namespace, stem: str) -> Path:
    """Record the server with py-spy (raw, collapsed stacks) while wrk runs a workload on it."""
    assert queue.server.process is not None
    out = RESULTS / f"{stem}-profile-{queue.depth}-{workload.key}.txt"
    RESULTS.mkdir(parents=True, exist_ok=True)
    seconds = max(1, round(args.profile))
    # py-spy sits next to the interpreter in a virtualenv that is not activated.
    beside = Path(sys.executable).with_name("py-spy")
    spy_bin = str(beside) if beside.exists() else shutil.which("py-spy") or "py-spy"
    command = [spy_bin, "record", "-p", str(queue.server.process.pid), "-d", str(seconds)]
    command += ["-r", "200", "-f", "raw", "-o", str(out), "--nonblocking"]
    spy = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        env = wrk_env(queue, workload)
        run_wrk(
            queue.server.url,
            workload.script,
            duration=seconds + 1,
            connections=args.connections,
            env=env,
        )
    finally:
        _, errors = spy.communicate(timeout=seconds + 60)
        if workload.script == "claim_delete.lua":
            release_leftovers(queue, args.connections)
    if spy.returncode:
        say(f"py-spy failed: {errors.decode(errors='replace')[-500:]}")
    return out


def summarise(runs: list[dict[str, Any]]) -> dict[str, dict[int, dict[str, Any]]]:
    """Medians over the rounds, per workload and depth."""
    summary: dict[str, dict[int, dict[str, Any]]] = {}
    for run in runs:
        summary.setdefault(run["workload"], {}).setdefault(run["depth"], {"runs": []})
        summary[run["workload"]][run["depth"]]["runs"].append(run)
    for per_depth in summary.values():
        for cell in per_depth.values():
            mine = cell.pop("runs")
            for key in ("p50_ms", "p90_ms", "p99_ms", "rate", "requests_per_s"):
                cell[key] = round(median([r[key] for r in mine]), 3)
            cell["errors"] = sum(r["errors"] for r in mine)
            cell["dry_claims"] = sum(r["dry_claims"] for r in mine)
            cell["rounds"] = len(mine)
    return summary


def render(
    summary: dict[str, dict[int, dict[str, Any]]],
    queues: list[DepthQueue],
    args: argparse.Namespace,
    info: dict[str, Any],
) -> str:
    depths = [q.depth for q in queues]
    low, high = depths[0], depths[-1]
    header = ["workload", "measure", *(f"{d:,} queued" for d in depths), f"{high:,} / {low:,}"]
    header.append(f"within {args.target:g}x")
    rows = []
    titles = {w.key: w.title for w in (*WORKLOADS, BEHIND_PILE)}
    for key, per_depth in summary.items():
        for measure_key, label in (
            ("p50_ms", "p50 ms"),
            ("p90_ms", "p90 ms"),
            ("p99_ms", "p99 ms"),
            ("rate", "claims/s" if "claim" in key else "pages/s"),
        ):
            values = [per_depth.get(d, {}).get(measure_key) for d in depths]
            cells = [
                "-" if v is None else (f"{v:,.0f}" if measure_key == "rate" else f"{v:.2f}")
                for v in values
            ]
            first, last = values[0], values[-1]
            if first and last:
                ratio = last / first
                spread = max(ratio, 1 / ratio)
                verdict = "yes" if spread <= args.target else "**no**"
                cells += [f"{ratio:.2f}x", verdict]
            else:
                cells += ["-", "-"]
            rows.append([titles[key], label, *cells])
    notes = []
    for queue in queues:
        rate = queue.depth / queue.fill_s if queue.fill_s else 0
        line = (
            f"- depth {queue.depth:,}: filled in {queue.fill_s:.1f} s ({rate:,.0f} messages/s); "
            f"middle marker {queue.middle}"
        )
        if queue.pile:
            line += f"; pile of {queue.pile:,} claimed messages built in {queue.pile_s:.1f} s"
        if queue.memory:
            line += "; server RSS " + ", ".join(
                f"{what} {mib:.0f} MiB" for what, mib in queue.memory.items()
            )
        notes.append(line)
    trouble = [
        f"- {titles[key]} at {depth:,}: {cell['errors']} errors, {cell['dry_claims']} empty claims"
        for key, per_depth in summary.items()
        for depth, cell in per_depth.items()
        if cell["errors"] or cell["dry_claims"]
    ]
    kind = {"sqlite": "SQLite", "redis": "Redis", "postgres": "PostgreSQL"}[args.store]
    layout = (
        f"one Herald and {kind} store per depth"
        if args.layout == "separate"
        else f"one Herald and {kind} store, a queue per depth"
    )
    durability = f", durability {args.durability}" if args.store == "sqlite" else ""
    return "\n".join(
        [
            f"Herald on {kind} (`--workers {args.workers}`{durability}; {layout}), "
            f"wrk -t1 -c{args.connections}, median of {args.rounds} rounds of "
            f"{args.duration:g} s after {args.warmup:g} s warm-up, {args.message_size}-byte "
            f"messages. Latency is per request (a claim and its release are two). "
            f"Load average at start {info['load_average']} on {info['cores']} cores.",
            "",
            markdown_table(header, rows),
            "",
            *notes,
            *(["", "Trouble:", *trouble] if trouble else []),
        ]
    )


def depth_server(name: str, args: argparse.Namespace) -> Server | None:
    """A Herald, not started yet, on a fresh store of the chosen kind for one depth."""
    if args.store == "sqlite":
        return herald_sqlite(name, workers=args.workers, durability=args.durability)
    if args.store == "redis":
        store = with_query(args.redis, prefix=f"bench_{name}")
        drop_redis_prefix(args.redis, f"bench_{name}")
    else:
        database = fresh_postgres_database(args.postgres, name.replace("-", "_"))
        if database is None:
            return None
        store = database
    return herald_server(name, store, workers=args.workers)


def drop_stores(names: list[str], args: argparse.Namespace) -> None:
    """Remove the depths' SQLite files, Redis keys or PostgreSQL databases."""
    for name in names:
        remove_work(name)
        if args.store == "redis":
            drop_redis_prefix(args.redis, f"bench_{name}")
        elif args.store == "postgres":
            postgres_admin(args.postgres, f"DROP DATABASE IF EXISTS {name.replace('-', '_')}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add = parser.add_argument
    add("--depths", default="1000,1000000", help="comma-separated queue depths (%(default)s)")
    add_wrk_options(parser, rounds=3, queues=False)
    add("--store", choices=("sqlite", "redis", "postgres"), default="sqlite")
    add("--workers", type=int, default=1, help="Herald worker processes (%(default)s)")
    add("--durability", choices=("full", "normal"), default="full", help="SQLite's")
    add("--redis", default="redis://127.0.0.1:6379/0", help="Redis for --store redis")
    add(
        "--postgres",
        default="postgresql://postgres@127.0.0.1:5432",
        help="PostgreSQL server for --store postgres; the script creates a database per depth",
    )
    add(
        "--layout",
        choices=("separate", "shared"),
        default="separate",
        help="separate: a Herald and store per depth, so the shallow queue lives in a "
        "small database; shared: one Herald and store with a queue per depth (%(default)s)",
    )
    add(
        "--pile",
        type=float,
        default=0.1,
        help="share of each queue's depth to claim and keep before the last phase; 0 skips "
        "it (%(default)s)",
    )
    add("--pile-limit", type=float, default=300.0, help="seconds at most to build each pile")
    add(
        "--profile",
        type=float,
        default=0.0,
        help="after the rounds, record the server with py-spy for this many seconds per "
        "workload and depth (0: no profile)",
    )
    add("--target", type=float, default=1.5, help="the ratio the issue allows (%(default)s)")
    add("--keep", action="store_true", help="keep the stores (SQLite files, keys, databases)")
    args = parser.parse_args(argv)
    depths = sorted({int(d.replace("_", "")) for d in args.depths.split(",") if d})
    if not depths or depths[0] < 2:
        parser.error("--depths needs depths of at least 2")
    require_wrk()
    info = machine()
    stem = f"depth-{timestamp()}"
    started = time.strftime("%Y-%m-%d %H:%M:%S %z")
    names = [f"depth-{d}" for d in depths] if args.layout == "separate" else ["depth-shared"]
    servers = []
    for name in names:
        server = depth_server(name, args)
        if server is None:
            drop_stores(names, args)
            return 1
        servers.append(server)
    queues = [
        DepthQueue(d, servers[i] if args.layout == "separate" else servers[0])
        for i, d in enumerate(depths)
    ]
    runs: list[dict[str, Any]] = []
    profiles: list[str] = []
    try:
        for server in servers:
            server.start()
            say(f"started {server.name} at {server.url}")
        for queue in queues:
            fill(queue, args.message_size)
            assert queue.server.process is not None
            queue.memory["after fill"] = memory_mib(queue.server.process.pid)[0]
            say(f"depth {queue.depth:,}: filled in {queue.fill_s:.1f} s")
        for round_ in range(args.rounds):
            # Alternate the depths so that noise on the machine hits both alike.
            shift = round_ % len(queues)
            order = queues[shift:] + queues[:shift]
            for workload in WORKLOADS:
                for queue in order:
                    run = measure(queue, workload, args)
                    run["round"] = round_ + 1
                    runs.append(run)
                    say(
                        f"round {round_ + 1}/{args.rounds} {workload.title:<32} "
                        f"{queue.depth:>9,}  p50 {run['p50_ms']:6.2f}  p99 {run['p99_ms']:6.2f} ms"
                        f"  {run['rate']:>8,.0f}/s  errors {run['errors']}"
                    )
        if args.profile > 0:
            for workload in WORKLOADS:
                for queue in queues:
                    profiles.append(str(profile(queue, workload, args, stem)))
        if args.pile > 0:
            for queue in queues:
                build_pile(queue, round(queue.depth * args.pile), args.pile_limit)
                say(f"depth {queue.depth:,}: {queue.pile:,} claimed in {queue.pile_s:.1f} s")
            for round_ in range(args.rounds):
                shift = round_ % len(queues)
                for queue in queues[shift:] + queues[:shift]:
                    run = measure(queue, BEHIND_PILE, args)
                    run["round"] = round_ + 1
                    runs.append(run)
                    say(
                        f"round {round_ + 1}/{args.rounds} behind {queue.pile:,} claimed "
                        f"{queue.depth:>9,}  p50 {run['p50_ms']:6.2f}  p99 {run['p99_ms']:6.2f} ms"
                        f"  {run['rate']:>8,.0f}/s"
                    )
            if args.profile > 0:
                for queue in queues:
                    profiles.append(str(profile(queue, BEHIND_PILE, args, stem)))
        for queue in queues:
            assert queue.server.process is not None
            rss, peak = memory_mib(queue.server.process.pid)
            queue.memory["at the end"] = rss
            queue.memory["peak"] = peak
    except (BenchError, RuntimeError, OSError) as exc:
        say(f"depth.py: {exc}")
        for server in servers:
            say(f"{server.name} log:\n{server.log_tail()}")
        return 1
    finally:
        for server in servers:
            server.stop()
        if not args.keep:
            drop_stores(names, args)
    summary = summarise(runs)
    markdown = render(summary, queues, args, info)
    document = {
        "started": started,
        "machine": info,
        "load_average_at_end": [round(x, 2) for x in os.getloadavg()],
        "settings": vars(args),
        "queues": [
            {
                "depth": q.depth,
                "fill_s": round(q.fill_s, 2),
                "middle_marker": q.middle,
                "pile": q.pile,
                "pile_s": round(q.pile_s, 2),
                "memory_mib": {k: round(v, 1) for k, v in q.memory.items()},
            }
            for q in queues
        ],
        "summary": {k: {str(d): c for d, c in v.items()} for k, v in summary.items()},
        "profiles": profiles,
        "runs": runs,
    }
    json_path, md_path = write_results(stem, document, markdown)
    print(markdown)
    say(f"wrote {json_path} and {md_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
