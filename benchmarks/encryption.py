"""What encrypting a queue costs: the same wrk workloads on plain and encrypted queues of one
Herald, taking turns in every round, plus the cipher's own time per body.

One `herald serve` (a fresh SQLite file by default, `--store` for another) with an
encryption key; for each workload 4 plain queues and 4 with `_enable_encrypt_messages`,
reset and prefilled before each run. Workloads: POST 1 message, and claim 10 + delete
each. The report gives the medians, the encrypted/plain ratios (of the medians, and
within each round, whose two runs were back to back), p99, and the server's CPU time
per message, which other load on a shared host moves less than the rates.

    python benchmarks/encryption.py --rounds 5 --duration 5
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import dataclasses
import json
import os
import time
import timeit
import urllib.request
from pathlib import Path
from typing import Any

from benchlib import (
    WORK,
    Server,
    add_wrk_options,
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
from soak import cpu_seconds

from herald.bench.runner import prepare
from herald.bench.workload import BenchConfig

PROJECT = "herald-bench"
PATCH_TYPE = "application/openstack-messaging-v2.0-json-patch"
ENCRYPTED = {"_enable_encrypt_messages": True}


@dataclasses.dataclass(frozen=True)
class Workload:
    key: str
    title: str
    script: str
    env: dict[str, str]
    consumes: bool


WORKLOADS = (
    Workload("post1", "POST 1 message", "post.lua", {"MESSAGES_PER_POST": "1"}, False),
    Workload(
        "claim_each",
        "claim 10 + delete each",
        "claim_delete.lua",
        {"MESSAGES_PER_CLAIM": "10", "DELETE": "each"},
        True,
    ),
)
VARIANTS = ("plain", "encrypted")


def encrypt_queues(url: str, names: list[str]) -> None:
    """Turn on `_enable_encrypt_messages` on each queue with a JSON-patch PATCH."""
    body = json.dumps(
        [{"op": "add", "path": "/metadata/_enable_encrypt_messages", "value": True}]
    ).encode()
    for name in names:
        request = urllib.request.Request(
            f"{url}/v2/queues/{name}",
            method="PATCH",
            data=body,
            headers={
                "Client-ID": "3c5a6d8e-2b1f-4e7a-9c0d-6f4b2a1e8d35",
                "X-Project-ID": PROJECT,
                "Content-Type": PATCH_TYPE,
            },
        )
        with urllib.request.urlopen(request, timeout=30) as answer:
            if answer.status != 200:
                raise RuntimeError(f"PATCH {name} answered {answer.status}")


def server_cpu(pid: int) -> float:
    """CPU seconds of the server process and its worker processes so far."""
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return cpu_seconds(pid) + sum(cpu_seconds(int(child)) for child in children)


def run_one(
    server: Server,
    workload: Workload,
    variant: str,
    args: argparse.Namespace,
    rate: dict[str, float],
) -> dict[str, Any]:
    """Reset the variant's queues, encrypt them if asked, prefill, warm up, measure once."""
    url = server.url
    assert server.process is not None
    prefix = f"{variant}-{workload.key}"
    config = BenchConfig(
        url=url,
        project=PROJECT,
        queues=args.queues,
        queue_prefix=prefix,
        message_size=args.message_size,
    )
    asyncio.run(prepare(config))
    if variant == "encrypted":
        encrypt_queues(url, list(config.queue_names))
    prefill = 0
    if workload.consumes:
        # Enough for the run at the best rate seen so far, with room to spare.
        needed = rate[variant] * (args.duration + args.warmup) * 1.5 + 2000
        prefill = min(int(needed / args.queues) + 1, 250_000)
        asyncio.run(prepare(dataclasses.replace(config, prefill=prefill, reset=False)))
    env = {
        **workload.env,
        "QUEUES": str(args.queues),
        "QUEUE_PREFIX": prefix,
        "MESSAGE_SIZE": str(args.message_size),
        "PROJECT": PROJECT,
    }
    if args.warmup > 0:
        run_wrk(url, workload.script, duration=args.warmup, connections=args.connections, env=env)
    cpu_before = server_cpu(server.process.pid)
    result = run_wrk(
        url, workload.script, duration=args.duration, connections=args.connections, env=env
    )
    cpu = server_cpu(server.process.pid) - cpu_before
    seconds = result["duration_s"]
    dry = False
    if workload.consumes:
        # As in compare.py: a claim that found nothing is a claim sent without a 201.
        empty = max(
            0, result["claims_sent"] - result["claims_full"] - result["failed"] - args.connections
        )
        done = max(0, result["answers_204"] - empty)
        sent = result["deletes_sent"]
        messages = round(result["ids_sent"] * min(1.0, done / sent)) if sent else 0
        dry = empty > 0
        rate[variant] = max(rate[variant] * (2.0 if dry else 1.0), messages / seconds)
    else:
        messages = result["posted"]
    return {
        "workload": workload.key,
        "variant": variant,
        "msgs_per_s": round(messages / seconds, 1),
        # Less moved by other load on the host than the rate is.
        "server_cpu_us_per_msg": round(cpu / messages * 1e6, 1) if messages else None,
        "p50_ms": result["p50_ms"],
        "p99_ms": result["p99_ms"],
        "errors": sum(result["errors"].values()),
        "ran_dry": dry,
        "prefill_per_queue": prefill,
        "wrk": result,
    }


async def service_costs(
    store_uri: str, size: int, rounds: int
) -> dict[str, dict[str, list[float]]]:
    """CPU µs per message of the service over the store in this process, without HTTP:
    posts of one message (32 in flight) and claims of 10 with a delete each, on a plain
    and an encrypted queue taking turns; one figure per round."""
    import resource

    from herald.identity import Caller
    from herald.model import Limits
    from herald.service import BodyCipher, Service
    from herald.storage.factory import open_store

    store = open_store(store_uri)
    await store.open()
    service = Service(store, Limits(), cipher=BodyCipher(os.urandom(32)))
    caller = Caller(project="herald-bench-inprocess", client_id="0" * 32)
    metadata = {"plain": b"", "encrypted": json.dumps(ENCRYPTED).encode()}
    data = "x" * max(0, size - 40)
    post = json.dumps({"messages": [{"ttl": 3600, "body": {"data": data}}]}).encode()
    count = 3000

    def cpu() -> float:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return usage.ru_utime + usage.ru_stime

    async def gathered(job: Any, times: int) -> None:
        slots = asyncio.Semaphore(32)

        async def one() -> None:
            async with slots:
                await job()

        await asyncio.gather(*(one() for _ in range(times)))

    async def claim_and_delete(queue: str) -> None:
        claim = await service.claims.create(caller, queue, 10, b'{"ttl": 60}')
        assert claim is not None
        for message in claim.messages:
            await service.messages.delete(caller, queue, message.id, claim.id)

    found: dict[str, dict[str, list[float]]] = {
        "post1": {v: [] for v in VARIANTS},
        "claim_each": {v: [] for v in VARIANTS},
    }
    try:
        for round_ in range(rounds):
            for variant in VARIANTS if round_ % 2 == 0 else VARIANTS[::-1]:
                queue = f"inprocess-{variant}"
                await service.queues.delete(caller, queue)
                await service.queues.create(caller, queue, metadata[variant])
                began = cpu()
                await gathered(lambda q=queue: service.messages.post(caller, q, post), count)
                found["post1"][variant].append(round((cpu() - began) / count * 1e6, 1))
                began = cpu()
                await gathered(lambda q=queue: claim_and_delete(q), count // 10)
                found["claim_each"][variant].append(round((cpu() - began) / count * 1e6, 1))
                await service.queues.delete(caller, queue)
    finally:
        await store.close()
    return found


def cipher_costs(size: int) -> dict[str, float]:
    """Microseconds to seal and to open one body of `size` bytes, in this process."""
    import msgspec

    from herald.model import StoredMessage
    from herald.service.encryption import BodyCipher

    cipher = BodyCipher(os.urandom(32))
    body = msgspec.Raw(json.dumps({"event": "bench", "data": "x" * max(0, size - 30)}).encode())
    sealed = StoredMessage("1", cipher.seal(PROJECT, body), 3600, 0.0, None, 0)
    plain = StoredMessage("1", body, 3600, 0.0, None, 0)
    count = 20_000

    def best(statement: Any) -> float:
        return min(timeit.repeat(statement, number=count, repeat=5)) / count * 1e6

    return {
        "seal_us": round(best(lambda: cipher.seal(PROJECT, body)), 2),
        "open_us": round(best(lambda: cipher.open(PROJECT, "q", sealed)), 2),
        "open_plain_us": round(best(lambda: cipher.open(PROJECT, "q", plain)), 3),
    }


def round_ratios(runs: list[dict[str, Any]], workload: str, measure: str) -> list[float]:
    """Encrypted over plain `measure` within each round."""
    by_round: dict[int, dict[str, float]] = {}
    for run in runs:
        if run["workload"] == workload and run[measure] is not None:
            by_round.setdefault(run["round"], {})[run["variant"]] = run[measure]
    return [
        pair["encrypted"] / pair["plain"]
        for pair in by_round.values()
        if pair.get("plain") and "encrypted" in pair
    ]


def render(
    runs: list[dict[str, Any]],
    costs: dict[str, float],
    inprocess: dict[str, dict[str, list[float]]],
    args: argparse.Namespace,
    info: Any,
) -> str:
    rows = []
    cpu_rows = []
    summary: dict[str, Any] = {}
    for workload in WORKLOADS:
        cells = {}
        for variant in VARIANTS:
            mine = [r for r in runs if r["workload"] == workload.key and r["variant"] == variant]
            cells[variant] = {
                "msgs_per_s": median([r["msgs_per_s"] for r in mine]),
                "p99_ms": median([r["p99_ms"] for r in mine]),
                "range": (
                    min((r["msgs_per_s"] for r in mine), default=0),
                    max((r["msgs_per_s"] for r in mine), default=0),
                ),
                "cpu_us": median([r["server_cpu_us_per_msg"] or 0.0 for r in mine]),
                "errors": sum(r["errors"] for r in mine),
                "ran_dry": sum(1 for r in mine if r["ran_dry"]),
            }
        summary[workload.key] = cells
        plain, sealed = cells["plain"], cells["encrypted"]
        ratio = sealed["msgs_per_s"] / plain["msgs_per_s"] if plain["msgs_per_s"] else 0.0
        # The two variants of a round ran back to back: their ratio is spared the
        # drift of a shared host between rounds.
        paired = round_ratios(runs, workload.key, "msgs_per_s")
        cpu_paired = round_ratios(runs, workload.key, "server_cpu_us_per_msg")
        row = [workload.title]
        for cell in (plain, sealed):
            text = (
                f"{cell['msgs_per_s']:,.0f} ({cell['range'][0]:,.0f}-{cell['range'][1]:,.0f}; "
                f"p99 {cell['p99_ms']:.1f} ms)"
            )
            if cell["errors"]:
                text += f" ⚠ {cell['errors']} errors"
            if cell["ran_dry"]:
                text += " ⚠ queues ran dry"
            row.append(text)
        spread = f"{min(paired):.2f}-{max(paired):.2f}" if paired else "-"
        rows.append([*row, f"{ratio:.2f}x", f"{median(paired):.2f}x ({spread})"])
        cpu_spread = f"{min(cpu_paired):.2f}-{max(cpu_paired):.2f}" if cpu_paired else "-"
        cpu_rows.append(
            [
                workload.title,
                f"{plain['cpu_us']:.1f}",
                f"{sealed['cpu_us']:.1f}",
                f"{median(cpu_paired):.2f}x ({cpu_spread})",
            ]
        )
    inprocess_rows = []
    for workload in WORKLOADS:
        figures = inprocess[workload.key]
        pairs = zip(figures["plain"], figures["encrypted"], strict=True)
        ratios = [sealed / plain for plain, sealed in pairs if plain]
        inprocess_rows.append(
            [
                workload.title,
                f"{median(figures['plain']):.1f} ({min(figures['plain'])}-{max(figures['plain'])})",
                f"{median(figures['encrypted']):.1f} "
                f"({min(figures['encrypted'])}-{max(figures['encrypted'])})",
                f"{median(ratios):.2f}x ({min(ratios):.2f}-{max(ratios):.2f})",
            ]
        )
    return "\n".join(
        [
            f"Messages/s, median (range) of {args.rounds} rounds of {args.duration:g} s after "
            f"{args.warmup:g} s warm-up, wrk -t1 -c{args.connections}, {args.queues} queues, "
            f"{args.message_size}-byte messages, store {args.store or 'SQLite'} "
            f"({args.workers} worker). Load average at start {info['load_average']} "
            f"on {info['cores']} cores.",
            "",
            markdown_table(
                [
                    "workload",
                    "plain queues",
                    "encrypted queues",
                    "encrypted / plain, medians",
                    "encrypted / plain, per round: median (range)",
                ],
                rows,
            ),
            "",
            "Server CPU (user + system, all its threads) per message, µs, median of the rounds:",
            "",
            markdown_table(
                [
                    "workload",
                    "plain queues",
                    "encrypted queues",
                    "encrypted / plain, per round: median (range)",
                ],
                cpu_rows,
            ),
            "",
            "The service alone, in this process over the same store (no HTTP), CPU µs per "
            f"message, median (range) of {args.rounds} rounds:",
            "",
            markdown_table(
                ["workload", "plain queue", "encrypted queue", "encrypted / plain per round"],
                inprocess_rows,
            ),
            "",
            f"The cipher alone, per {args.message_size}-byte body: seal {costs['seal_us']} µs, "
            f"open {costs['open_us']} µs, a plain body passed through "
            f"{costs['open_plain_us']} µs.",
        ]
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add = parser.add_argument
    add_wrk_options(parser, rounds=5)
    add("--workers", type=int, default=1)
    add("--store", help="store URI (default: a fresh SQLite file under benchmarks/.work/)")
    args = parser.parse_args(argv)
    require_wrk()
    info = machine()
    WORK.mkdir(parents=True, exist_ok=True)
    name = "encryption"
    if args.store:
        server = herald_server(name, args.store, workers=args.workers)
    else:
        server = herald_sqlite(name, workers=args.workers)
    server.env["HERALD_ENCRYPTION_KEY"] = base64.b64encode(os.urandom(32)).decode()
    runs: list[dict[str, Any]] = []
    started = time.strftime("%Y-%m-%d %H:%M:%S %z")
    rate = dict.fromkeys(VARIANTS, 5000.0)
    costs = cipher_costs(args.message_size)
    say("timing the service in this process")
    inprocess = asyncio.run(
        service_costs(
            args.store or f"sqlite:///{WORK / name / 'inprocess.sqlite3'}",
            args.message_size,
            args.rounds,
        )
    )
    server.start()
    try:
        for round_ in range(args.rounds):
            for index, workload in enumerate(WORKLOADS):
                # Alternate which variant goes first, so drift on the host hits both alike.
                order = VARIANTS if (round_ + index) % 2 == 0 else VARIANTS[::-1]
                for variant in order:
                    run = run_one(server, workload, variant, args, rate)
                    for _ in range(2):
                        if not run["ran_dry"]:
                            break
                        run = run_one(server, workload, variant, args, rate)
                    run["round"] = round_ + 1
                    runs.append(run)
                    say(
                        f"round {round_ + 1}/{args.rounds} {workload.title:<24} {variant:<9} "
                        f"{run['msgs_per_s']:>9,.0f} msgs/s  p99 {run['p99_ms']:6.1f} ms  "
                        f"server CPU {run['server_cpu_us_per_msg']} µs/msg  "
                        f"errors {run['errors']}"
                    )
    finally:
        server.stop()
        if not args.store:
            remove_work(name)
    markdown = render(runs, costs, inprocess, args, info)
    document = {
        "started": started,
        "machine": info,
        "settings": vars(args),
        "cipher": costs,
        "in_process_cpu_us_per_msg": inprocess,
        "runs": runs,
    }
    json_path, md_path = write_results(f"encryption-{timestamp()}", document, markdown)
    print(markdown)
    say(f"wrote {json_path} and {md_path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
