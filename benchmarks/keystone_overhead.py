"""What keystone auth costs a single-message POST once the token's validation is cached.

Two `herald serve` processes (SQLite, `--durability normal`, 1 worker) run
side by side, one with `auth = noauth` and one with `auth = keystone` against
a real Keystone (built by `tests/keystone_server.py`, on a free port of
127.0.0.1). Each round runs wrk's `post.lua` (one ~200-byte message per POST)
against each in turn, the keystone one with a single user token that it
validated once before the runs, so every measured request is a cache hit.
Run:

    python benchmarks/keystone_overhead.py --rounds 7 --duration 5

Prints a Markdown table of the medians and the overhead, and writes it with
the raw runs to results/. Runs are bounded by `--rounds` and `--duration`.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import benchlib

sys.path.insert(0, str(benchlib.REPO / "tests"))

import keystone_server
from herald.auth.keystone import KeystoneAuth
from herald.config import load_settings
from herald.identity import ClientIdRule, NoAuth, Presented


def keystone_environ(keystone: keystone_server.Keystone) -> dict[str, str]:
    service = keystone.accounts["herald"]
    return {
        "HERALD_AUTH": "keystone",
        "HERALD_KEYSTONE_AUTH_URL": keystone.auth_url,
        "HERALD_KEYSTONE_USERNAME": service.name,
        "HERALD_KEYSTONE_PASSWORD": service.password,
        "HERALD_KEYSTONE_PROJECT_NAME": service.project_name,
    }


def warm(url: str, token: str) -> None:
    """One request with the token, so that its validation is cached before the runs."""
    request = urllib.request.Request(
        url + "/v2/queues",
        headers={"X-Auth-Token": token, "Client-ID": str(uuid.uuid4())},
    )
    with urllib.request.urlopen(request, timeout=30) as answer:
        assert answer.status == 200


async def step_cost(keystone: keystone_server.Keystone, token: str, calls: int) -> dict[str, float]:
    """Microseconds per identity decision in this process: noauth, and keystone on a cache hit."""
    settings = load_settings(environ=keystone_environ(keystone))
    steps = {
        "noauth": NoAuth(ClientIdRule()),
        "keystone": KeystoneAuth(settings.keystone, ClientIdRule()),
    }
    headers = {
        "client-id": str(uuid.uuid4()),
        "x-project-id": "bench",
        "x-auth-token": token,
        "content-type": "application/json",
    }
    presented = Presented("POST", "/v2/queues/q/messages", headers)
    cost: dict[str, float] = {}
    for name, step in steps.items():
        await step.start()
        await step(presented)  # the keystone step validates here, once
        started = time.perf_counter()
        for _ in range(calls):
            await step(presented)
        cost[name] = 1e6 * (time.perf_counter() - started) / calls
        await step.stop()
    return cost


def process_cpu(server: benchlib.Server) -> float:
    """CPU seconds the server's process has used: unlike its rate, not shared with others."""
    assert server.process is not None
    fields = Path(f"/proc/{server.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measure(
    args: argparse.Namespace, keystone: keystone_server.Keystone
) -> tuple[dict[str, list[dict[str, Any]]], dict[str, float]]:
    """The wrk runs of each server, round by round, and the identity step's own cost."""
    servers = {
        "noauth": benchlib.herald_sqlite("keystone-overhead-noauth", durability="normal"),
        "keystone": benchlib.herald_sqlite("keystone-overhead-keystone", durability="normal"),
    }
    servers["keystone"].env.update(keystone_environ(keystone))
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in servers}
    try:
        for server in servers.values():
            server.start()
        alice = keystone.accounts["alice"]
        token = keystone.token(alice.name, alice.password, alice.project_id)
        warm(servers["keystone"].url, token)
        cost = asyncio.run(step_cost(keystone, token, 200_000))
        env = {"noauth": {}, "keystone": {"AUTH_TOKEN": token}}
        for number in range(args.rounds):
            # The order alternates, so that what a run leaves behind (a WAL
            # checkpoint, a collection) burdens each server's runs alike.
            order = list(servers) if number % 2 == 0 else list(reversed(servers))
            for name in order:
                server = servers[name]
                benchlib.say(f"round {number + 1}/{args.rounds}: {name}")
                cpu = process_cpu(server)
                result = benchlib.run_wrk(
                    server.url,
                    "post.lua",
                    duration=args.duration,
                    connections=args.connections,
                    env=env[name],
                )
                result["server_cpu_s"] = process_cpu(server) - cpu
                if result["failed"] or result["errors"]["status"]:
                    raise RuntimeError(f"{name}: requests failed: {result}")
                runs[name].append(result)
    finally:
        for server in servers.values():
            server.stop()
    return runs, cost


def report(
    args: argparse.Namespace, runs: dict[str, list[dict[str, Any]]], cost: dict[str, float]
) -> None:
    def rates(name: str) -> list[float]:
        return [r["requests"] / r["duration_s"] for r in runs[name]]

    median = {name: benchlib.median(rates(name)) for name in runs}
    p50 = {name: benchlib.median([r["p50_ms"] for r in runs[name]]) for name in runs}
    cpu_us = {
        name: benchlib.median([1e6 * r["server_cpu_s"] / r["requests"] for r in runs[name]])
        for name in runs
    }
    # Each round's ratio compares runs a few seconds apart: less noise than the medians.
    paired = benchlib.median(
        [k / n for k, n in zip(rates("keystone"), rates("noauth"), strict=True)]
    )
    rows = [
        [
            name,
            f"{median[name]:,.0f}",
            f"{min(rates(name)):,.0f}-{max(rates(name)):,.0f}",
            f"{p50[name]:.2f}",
            f"{cpu_us[name]:.1f}",
            f"{median[name] / median['noauth']:.3f}",
        ]
        for name in runs
    ]
    table = benchlib.markdown_table(
        ["auth", "POST/s (median)", "range", "p50 ms", "server CPU µs per POST", "vs noauth"],
        rows,
    )
    machine = benchlib.machine()
    markdown = (
        f"{args.rounds} rounds of {args.duration:g} s, wrk -t1 -c{args.connections}, "
        f"post.lua (1 message per POST), SQLite durability normal, 1 worker; "
        f"{machine['cpu']}, {machine['cores']} cores, Python {machine['python']}, "
        f"load average at the end {machine['load_average']}\n\n{table}\n\n"
        f"keystone overhead: {100 * (1 - median['keystone'] / median['noauth']):.1f} % "
        f"on the medians, {100 * (1 - paired):.1f} % on the median of the rounds' ratios, "
        f"{100 * (cpu_us['keystone'] / cpu_us['noauth'] - 1):.1f} % more server CPU per POST"
        f"\n\nidentity step alone, in-process: noauth {cost['noauth']:.2f} µs, "
        f"keystone with a cached validation {cost['keystone']:.2f} µs per request"
    )
    print(markdown)
    benchlib.write_results(
        f"keystone-overhead-{benchlib.timestamp()}",
        {
            "machine": machine,
            "args": vars(args),
            "runs": runs,
            "paired_ratio": paired,
            "server_cpu_us_per_post": cpu_us,
            "step_us": cost,
        },
        markdown,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--connections", type=int, default=32)
    args = parser.parse_args()
    benchlib.require_wrk()
    with tempfile.TemporaryDirectory(prefix="herald-keystone-") as directory:
        benchlib.say("starting Keystone")
        keystone = keystone_server.launch(Path(directory), benchlib.free_port())
        try:
            runs, cost = measure(args, keystone)
        finally:
            keystone.stop()
    report(args, runs, cost)


if __name__ == "__main__":
    main()
