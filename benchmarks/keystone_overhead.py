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
        servers = {
            "noauth": benchlib.herald_sqlite("keystone-overhead-noauth", durability="normal"),
            "keystone": benchlib.herald_sqlite("keystone-overhead-keystone", durability="normal"),
        }
        servers["keystone"].env.update(keystone_environ(keystone))
        try:
            for server in servers.values():
                server.start()
            alice = keystone.accounts["alice"]
            token = keystone.token(alice.name, alice.password, alice.project_id)
            warm(servers["keystone"].url, token)
            cost = asyncio.run(step_cost(keystone, token, 200_000))
            env = {"noauth": {}, "keystone": {"AUTH_TOKEN": token}}
            runs: dict[str, list[dict[str, Any]]] = {name: [] for name in servers}
            for number in range(args.rounds):
                for name, server in servers.items():
                    benchlib.say(f"round {number + 1}/{args.rounds}: {name}")
                    result = benchlib.run_wrk(
                        server.url,
                        "post.lua",
                        duration=args.duration,
                        connections=args.connections,
                        env=env[name],
                    )
                    if result["failed"] or result["errors"]["status"]:
                        raise RuntimeError(f"{name}: requests failed: {result}")
                    runs[name].append(result)
        finally:
            for server in servers.values():
                server.stop()
            keystone.stop()

    def rate(result: dict[str, Any]) -> float:
        return float(result["requests"]) / float(result["duration_s"])

    medians = {name: benchlib.median([rate(r) for r in results]) for name, results in runs.items()}
    p50 = {
        name: benchlib.median([float(r["p50_ms"]) for r in results])
        for name, results in runs.items()
    }
    overhead = 100 * (1 - medians["keystone"] / medians["noauth"])
    # Rounds take turns, so each round's ratio compares runs a few seconds apart.
    paired = benchlib.median(
        [rate(k) / rate(n) for k, n in zip(runs["keystone"], runs["noauth"], strict=True)]
    )
    rows = [
        [
            name,
            f"{medians[name]:,.0f}",
            f"{p50[name]:.2f}",
            f"{medians[name] / medians['noauth']:.3f}",
        ]
        for name in servers
    ]
    table = benchlib.markdown_table(["auth", "POST/s (median)", "p50 ms", "vs noauth"], rows)
    machine = benchlib.machine()
    markdown = (
        f"{args.rounds} rounds of {args.duration:g} s, wrk -t1 -c{args.connections}, "
        f"post.lua (1 message per POST), SQLite durability normal, 1 worker; "
        f"{machine['cpu']}, {machine['cores']} cores, Python {machine['python']}\n\n"
        f"{table}\n\nkeystone overhead: {overhead:.1f} % on the medians, "
        f"{100 * (1 - paired):.1f} % on the median of the rounds' ratios\n\n"
        f"identity step alone, in-process: noauth {cost['noauth']:.2f} µs, "
        f"keystone with a cached validation {cost['keystone']:.2f} µs per request"
    )
    print(markdown)
    benchlib.write_results(
        f"keystone-overhead-{benchlib.timestamp()}",
        {
            "machine": machine,
            "args": vars(args),
            "runs": runs,
            "overhead_percent": overhead,
            "paired_ratio": paired,
            "step_us": cost,
        },
        markdown,
    )


if __name__ == "__main__":
    main()
