"""Time the two ways Herald could validate a token against Keystone without blocking its loop.

* ksa-thread: keystoneauth1's Session (password auth of the service user),
  called in a pool of `--threads` threads through `loop.run_in_executor`;
* httpx-async: httpx's AsyncClient speaking Keystone v3 directly.

Both validate the same user token (`GET /v3/auth/tokens`) against the same
real Keystone (built by `tests/keystone_server.py`, served on a free port of
127.0.0.1), taking turns round by round. For each it reports validations per
second, the median and 95th-percentile latency, the CPU time the validating
process spends per validation (on a two-core machine that CPU is taken from
serving), and the longest the event loop was late for a 1 ms ticker. Run:

    python benchmarks/keystone_client_choice.py --rounds 5 --count 400 --tasks 8

Counts are bounded by `--count` and `--rounds`; Keystone stops at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx
from keystoneauth1 import session as ksa_session
from keystoneauth1.identity import v3

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

import keystone_server
from support import free_port

Validate = Callable[[], Awaitable[int]]


async def measure(validate: Validate, count: int, tasks: int) -> dict[str, float]:
    """Run `count` validations from `tasks` concurrent tasks; rate, latency, CPU, loop lag."""
    latencies: list[float] = []
    lag = 0.0
    done = asyncio.Event()

    async def ticker() -> None:
        nonlocal lag
        while not done.is_set():
            before = time.perf_counter()
            await asyncio.sleep(0.001)
            lag = max(lag, time.perf_counter() - before - 0.001)

    remaining = count

    async def worker() -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            started = time.perf_counter()
            status = await validate()
            if status != 200:
                raise RuntimeError(f"validation answered {status}")
            latencies.append(time.perf_counter() - started)

    tick = asyncio.create_task(ticker())
    cpu, wall = time.process_time(), time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(tasks)))
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    done.set()
    await tick
    latencies.sort()
    return {
        "rate": count / wall,
        "p50_ms": 1000 * statistics.median(latencies),
        "p95_ms": 1000 * latencies[int(0.95 * (len(latencies) - 1))],
        "cpu_us": 1e6 * cpu / count,
        "lag_ms": 1000 * lag,
    }


def ksa_validator(keystone: keystone_server.Keystone, token: str, threads: int) -> Validate:
    service = keystone.accounts["herald"]
    auth = v3.Password(
        auth_url=keystone.auth_url,
        username=service.name,
        password=service.password,
        project_name=service.project_name,
        user_domain_name="Default",
        project_domain_name="Default",
    )
    session = ksa_session.Session(auth=auth, timeout=5)
    pool = concurrent.futures.ThreadPoolExecutor(threads)

    def call() -> int:
        answer = session.get(
            "/auth/tokens",
            endpoint_filter={"service_type": "identity", "interface": "public"},
            headers={"X-Subject-Token": token},
            raise_exc=False,
        )
        return int(answer.status_code)

    async def validate() -> int:
        return await asyncio.get_running_loop().run_in_executor(pool, call)

    return validate


def httpx_validator(keystone: keystone_server.Keystone, token: str) -> Validate:
    service = keystone.accounts["herald"]
    client = httpx.AsyncClient(timeout=5, limits=httpx.Limits(max_connections=8))
    service_token = keystone.token(service.name, service.password, service.project_id)

    async def validate() -> int:
        answer = await client.get(
            f"{keystone.auth_url}/auth/tokens",
            headers={"X-Auth-Token": service_token, "X-Subject-Token": token},
        )
        return answer.status_code

    return validate


async def run(args: argparse.Namespace, keystone: keystone_server.Keystone) -> None:
    alice = keystone.accounts["alice"]
    token = keystone.token(alice.name, alice.password, alice.project_id)
    validators = {
        "ksa-thread": ksa_validator(keystone, token, args.threads),
        "httpx-async": httpx_validator(keystone, token),
    }
    for validate in validators.values():  # warm up: service tokens, connections
        await measure(validate, 20, args.tasks)
    runs: dict[str, list[dict[str, float]]] = {name: [] for name in validators}
    for _ in range(args.rounds):
        for name, validate in validators.items():
            runs[name].append(await measure(validate, args.count, args.tasks))
    print(
        f"\n{platform.processor() or platform.machine()}, Python {platform.python_version()}, "
        f"{args.rounds} rounds of {args.count} validations from {args.tasks} tasks "
        f"(ksa in {args.threads} threads), medians:\n"
    )
    print("| client | validations/s | p50 ms | p95 ms | CPU µs per validation | max loop lag ms |")
    print("|---|---|---|---|---|---|")
    for name, results in runs.items():
        m = {key: statistics.median(r[key] for r in results) for key in results[0]}
        print(
            f"| {name} | {m['rate']:.0f} | {m['p50_ms']:.1f} | {m['p95_ms']:.1f} "
            f"| {m['cpu_us']:.0f} | {m['lag_ms']:.1f} |"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--count", type=int, default=400)
    parser.add_argument("--tasks", type=int, default=8)
    parser.add_argument("--threads", type=int, default=4)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="herald-keystone-") as directory:
        keystone = keystone_server.launch(Path(directory), free_port())
        try:
            asyncio.run(run(args, keystone))
        finally:
            keystone.stop()


if __name__ == "__main__":
    main()
