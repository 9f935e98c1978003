"""What Prometheus metrics and the access log cost a single-message POST.

Three `herald serve` processes (SQLite, `--durability normal`, 1 worker) run
side by side: `plain` with no metrics and no access log, `metrics` with
`/metrics` served (the request counter and histogram, the service's counters,
the depth sampler) and no access log, and `metrics+access` with both, logging
at `info` to a file. Each round runs wrk's `post.lua` (one ~200-byte message
per POST) against each in turn, in an order that rotates.

On a shared machine those rates and CPU times move by tens of percent from
run to run, more than metrics could cost, so the script also times what
metrics add to one POST (the calls `RequestMetrics` and `MetricEvents` make)
in a loop, and relates it to `plain`'s server CPU per POST. Run:

    python benchmarks/metrics_overhead.py --rounds 7 --duration 5
    python benchmarks/metrics_overhead.py --calls-only   # memory against metric files

Prints Markdown tables of both, each against `plain`, and writes them with
the raw runs to results/.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from typing import Any

import benchlib

from herald.metric_files import MULTIPROCESS_ENV


def servers() -> dict[str, benchlib.Server]:
    made = {}
    for name, metrics, access in (
        ("plain", False, False),
        ("metrics", True, False),
        ("metrics+access", True, True),
    ):
        server = benchlib.herald_sqlite(
            f"metrics-overhead-{name.replace('+', '-')}",
            durability="normal",
            env={"HERALD_ACCESS_LOG": "true" if access else "false"},
        )
        if metrics:
            server.command += ["--metrics-port", str(benchlib.free_port())]
        if access:
            # benchlib serves at warning, which would drop the access lines unwritten.
            server.command += ["--log-level", "info"]
        made[name] = server
    return made


def measure(args: argparse.Namespace) -> dict[str, list[dict[str, Any]]]:
    running = servers()
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in running}
    names = list(running)
    try:
        for server in running.values():
            server.start()
        for number in range(args.rounds):
            # Each server goes first, second and last equally often over the rounds.
            shift = number % len(names)
            for name in names[shift:] + names[:shift]:
                server = running[name]
                assert server.process is not None
                benchlib.say(f"round {number + 1}/{args.rounds}: {name}")
                benchlib.run_wrk(server.url, "post.lua", duration=args.warmup)
                cpu = benchlib.cpu_seconds(server.process.pid)
                result = benchlib.run_wrk(
                    server.url, "post.lua", duration=args.duration, connections=args.connections
                )
                result["server_cpu_s"] = benchlib.cpu_seconds(server.process.pid) - cpu
                if result["failed"] or result["errors"]["status"]:
                    raise RuntimeError(f"{name}: requests failed: {result}")
                runs[name].append(result)
    finally:
        for server in running.values():
            server.stop()
    return runs


def counting_cost(calls: int, rounds: int) -> list[float]:
    """Seconds per POST of what metrics add to one: the request counter and histogram,
    the posted counter and the depth sampler's note of the queue; `rounds` timings."""
    from herald.metrics import MetricEvents, RequestMetrics

    requests, events = RequestMetrics(), MetricEvents(50)
    route = "/v2/queues/{queue}/messages"
    timings = []
    for _ in range(rounds):
        started = time.process_time()
        for _ in range(calls):
            events.messages_posted(1)
            events.queue_used("bench", "q")
            requests.observe(route, "POST", 201, 0.001)
        timings.append((time.process_time() - started) / calls)
    return timings


def report(
    args: argparse.Namespace, runs: dict[str, list[dict[str, Any]]], counting: list[float]
) -> None:
    def rates(name: str) -> list[float]:
        return [r["requests"] / r["duration_s"] for r in runs[name]]

    def cpu_us(name: str) -> float:
        return benchlib.median([1e6 * r["server_cpu_s"] / r["requests"] for r in runs[name]])

    rows = []
    for name in runs:
        # Each round's ratio compares runs seconds apart: less noise than the medians.
        paired = benchlib.median(
            [x / plain for x, plain in zip(rates(name), rates("plain"), strict=True)]
        )
        rows.append(
            [
                name,
                f"{benchlib.median(rates(name)):,.0f}",
                f"{min(rates(name)):,.0f}-{max(rates(name)):,.0f}",
                f"{benchlib.median([r['p50_ms'] for r in runs[name]]):.2f}",
                f"{cpu_us(name):.1f}",
                f"{paired:.3f}",
                f"{cpu_us(name) / cpu_us('plain'):.3f}",
            ]
        )
    counting_us = 1e6 * benchlib.median(counting)
    table = benchlib.markdown_table(
        [
            "server",
            "POST/s (median)",
            "range",
            "p50 ms",
            "server CPU µs per POST",
            "rate vs plain (median of rounds)",
            "CPU per POST vs plain",
        ],
        rows,
    )
    machine = benchlib.machine()
    markdown = (
        f"{args.rounds} rounds of {args.duration:g} s, wrk -t1 -c{args.connections}, "
        f"post.lua (1 message per POST), SQLite durability normal, 1 worker; "
        f"{machine['cpu']}, {machine['cores']} cores, Python {machine['python']}, "
        f"load average at the end {machine['load_average']}\n\n{table}\n\n"
        f"metrics' own calls per POST, in a loop of {args.calls:,}: {counting_us:.2f} µs "
        f"CPU (median of {len(counting)}), {100 * counting_us / cpu_us('plain'):.1f} % of "
        f"plain's server CPU per POST"
    )
    print(markdown)
    benchlib.write_results(
        f"metrics-overhead-{benchlib.timestamp()}",
        {"machine": machine, "args": vars(args), "runs": runs, "counting_s": counting},
        markdown,
    )


def counting_cost_apart(calls: int, rounds: int, files: bool) -> list[float]:
    """`counting_cost` in a fresh interpreter, its samples in memory or, as with several
    processes counting, in multiprocess files (prometheus-client decides at import)."""
    env = {k: v for k, v in os.environ.items() if k != MULTIPROCESS_ENV}
    with tempfile.TemporaryDirectory() as directory:
        if files:
            env[MULTIPROCESS_ENV] = directory
        command = [sys.executable, __file__, "--count-here", str(calls), str(rounds)]
        done = subprocess.run(command, env=env, capture_output=True, text=True, check=True)
    timings: list[float] = json.loads(done.stdout)
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    benchlib.add_wrk_options(parser, rounds=7, queues=False)
    parser.add_argument("--calls", type=int, default=200_000)
    parser.add_argument(
        "--calls-only",
        action="store_true",
        help="only time the metric calls of one POST, in memory and in multiprocess files",
    )
    parser.add_argument("--count-here", nargs=2, type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.count_here:
        print(json.dumps(counting_cost(*args.count_here)))
        return
    if args.calls_only:
        for files in (False, True):
            timings = counting_cost_apart(args.calls, 3, files)
            where = "multiprocess files" if files else "memory"
            spread = ", ".join(f"{t * 1e6:.2f}" for t in timings)
            print(f"metric calls of one POST, samples in {where}: {spread} µs")
        return
    benchlib.require_wrk()
    runs = measure(args)
    report(args, runs, counting_cost(args.calls, rounds=7))


if __name__ == "__main__":
    sys.exit(main())
