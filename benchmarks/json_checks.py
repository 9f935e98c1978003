"""What the JSON body checks cost on the post path: per decode, and under wrk.

Micro: `decode_document(body, _PostDocument)` (msgspec's decode, then the UTF-8
and number checks) against `msgspec.json.decode(body, type=_PostDocument)` for
typical post bodies, the two taking turns, median of the repeats.

wrk: POST 1 message (`wrk/post.lua`) against Herald on SQLite (1 worker) as it
is, and against the same code whose posts skip the checks
(`unchecked_server.py`), in rounds that alternate which goes first.

    python benchmarks/json_checks.py --rounds 5 --duration 5
"""

from __future__ import annotations

import argparse
import base64
import random
import sys
import timeit
import uuid
from collections.abc import Callable
from typing import Any

import msgspec
from benchlib import (
    HERE,
    add_wrk_options,
    api_json,
    cpu_seconds,
    herald_sqlite,
    machine,
    markdown_table,
    median,
    say,
    timestamp,
    write_results,
)
from compare import WORKLOADS, Target, Workload, run_one

from herald.service import documents
from herald.service.documents import decode_document
from herald.service.messages import _PostDocument

POST_SIZE = 262_144
# The largest message post.lua can send in one post: its body is "x" padding.
BIG = Workload(
    "post1big", "POST 1 message of 256 KiB", "post.lua", {"MESSAGES_PER_POST": "1"}, "post"
)
BIG_MESSAGE = POST_SIZE - 100
WORDS = ["order", "shipped", "to", "the", "customer", "warehouse", "invoice", "paid", "refund"]
FOREIGN = ["Grüße", "aus", "Köln,", "Zürich", "und", "Łódź;", "東京とソウルへ", "配送済み"]


def message(data: str, **extra: Any) -> dict[str, Any]:
    return {"ttl": 3600, "body": {"event": "order.created", "id": 12345, "data": data, **extra}}


def post(*messages: dict[str, Any]) -> bytes:
    return msgspec.json.encode({"messages": list(messages)})


def filled(make: Callable[[int], bytes], size: int) -> bytes:
    """`make(n)` with the largest n whose body fits in `size` bytes."""
    low, high = 0, size
    while low < high:
        mid = (low + high + 1) // 2
        if len(make(mid)) <= size:
            low = mid
        else:
            high = mid - 1
    return make(low)


def wrk_post(size: int) -> bytes:
    """The body wrk/post.lua sends with MESSAGE_SIZE=size and one message per post."""
    skeleton = '{"ttl":3600,"body":{"event":"bench","data":""}}'
    one = '{"ttl":3600,"body":{"event":"bench","data":"' + "x" * max(0, size - len(skeleton))
    return ('{"messages":[' + one + '"}}]}').encode()


def bodies() -> dict[str, bytes]:
    """The post bodies measured, by name; the big ones just under the 256 KiB limit."""
    rng = random.Random(7)
    prose = " ".join(rng.choice(WORDS) for _ in range(60_000))
    foreign = " ".join(rng.choice(FOREIGN) for _ in range(60_000))
    blob = base64.b64encode(rng.randbytes(POST_SIZE)).decode()
    small = message("x" * 28)
    return {
        "wrk's POST 1 (200-byte message)": wrk_post(200),
        "wrk's POST 1 of 256 KiB (x padding)": wrk_post(BIG_MESSAGE),
        "1 message, 100 bytes": post(small),
        "10 messages, 1 KB": post(*[small] * 10),
        "1 message, 256 KiB of English words": filled(
            lambda n: post(message(prose[:n])), POST_SIZE
        ),
        "1 message, 256 KiB of base64": filled(lambda n: post(message(blob[:n])), POST_SIZE),
        "10 messages, 256 KiB of base64": filled(
            lambda n: post(*[message(blob[i * n : (i + 1) * n]) for i in range(10)]), POST_SIZE
        ),
        "1 message, non-ASCII text": post(message("Grüße aus Köln")),
        "1 message, 256 KiB of non-ASCII text": filled(
            lambda n: post(message(foreign[:n])), POST_SIZE
        ),
        "1 message, 20 digits in a string": post(message("x" * 8, card="12345678901234567890")),
        "1 message, a UUID with e+3 digits": post(
            message("x" * 8, trace="b7e2301f-5c1d-4a8e-9f00-2d6c3e1a7b94")
        ),
    }


def timer(call: Callable[[], object], budget: float) -> Callable[[], float]:
    """A timing of `call` over about `budget` seconds, in microseconds per call."""
    clock = timeit.Timer(call)
    number, seconds = clock.autorange()
    number = max(1, round(number * budget / seconds))
    return lambda: clock.timeit(number) / number * 1e6


def micro(args: argparse.Namespace) -> dict[str, Any]:
    rows: dict[str, Any] = {}
    for name, body in bodies().items():
        checked = decode_document(body, _PostDocument)
        assert checked == msgspec.json.decode(body, type=_PostDocument)
        timings = {
            "checked": timer(lambda b=body: decode_document(b, _PostDocument), args.budget),
            "plain": timer(lambda b=body: msgspec.json.decode(b, type=_PostDocument), args.budget),
        }
        runs: dict[str, list[float]] = {"checked": [], "plain": []}
        # Taking turns spreads the machine's noise over both.
        for _ in range(args.repeats):
            for key, timing in timings.items():
                runs[key].append(timing())
        rows[name] = {
            "bytes": len(body),
            "ascii": body.isascii(),
            # Which of the two paths the body takes: the pre-scan alone, or a second decode.
            "second_decode": not body.isascii() or documents._may_overflow(body),
            "checked_us": median(runs["checked"]),
            "plain_us": median(runs["plain"]),
            "runs_us": runs,
        }
        say(f"{name:<40} {rows[name]['checked_us']:10.2f} us {rows[name]['plain_us']:10.2f} us")
    ids = [str(uuid.UUID(int=random.Random(i).getrandbits(128), version=4)) for i in range(10_000)]
    share = sum(documents._may_overflow(i.encode()) for i in ids) / len(ids)
    return {"bodies": rows, "uuid4_share_second_decode": share}


def render_micro(result: dict[str, Any]) -> str:
    rows = []
    for name, row in result["bodies"].items():
        checked, plain = row["checked_us"], row["plain_us"]
        rows.append(
            [
                name,
                f"{row['bytes']:,}",
                "second decode" if row["second_decode"] else "pre-scan only",
                f"{plain:,.2f}",
                f"{checked:,.2f}",
                f"{checked - plain:+,.2f}",
                f"{checked / plain:.2f}x",
            ]
        )
    header = [
        "body",
        "bytes",
        "checks take",
        "msgspec alone µs",
        "decode_document µs",
        "difference µs",
        "ratio",
    ]
    share = result["uuid4_share_second_decode"]
    return "\n".join(
        [
            markdown_table(header, rows),
            "",
            f"Of 10,000 random UUID4s, {share:.0%} match the pre-scan (an `e` and three digits), "
            "so a body carrying one takes the second decode.",
        ]
    )


# Under wrk


def unchecked_launcher() -> list[str]:
    return [sys.executable, str(HERE / "unchecked_server.py")]


def confirm_bypass(targets: list[Target]) -> dict[str, int]:
    """The status each server gives a post holding an integer beyond 64 bits."""
    statuses = {}
    for target in targets:
        url = target.server.url
        api_json(url, "PUT", "/v2/queues/bypass-check", {})
        body = {"messages": [{"ttl": 3600, "body": {"n": 2**64}}]}
        statuses[target.key], _ = api_json(url, "POST", "/v2/queues/bypass-check/messages", body)
        api_json(url, "DELETE", "/v2/queues/bypass-check")
    return statuses


def measured(target: Target, workload: Workload, settings: argparse.Namespace) -> dict[str, Any]:
    """compare.py's run, with the server's CPU per request over the measured part alone."""
    assert target.server.process is not None
    pid = target.server.process.pid
    if settings.warmup > 0:
        warmup = {**vars(settings), "duration": settings.warmup, "warmup": 0}
        run_one(target, workload, argparse.Namespace(**warmup))
    before = cpu_seconds(pid)
    run = run_one(target, workload, argparse.Namespace(**{**vars(settings), "warmup": 0}))
    spent = cpu_seconds(pid) - before
    run["server_cpu_us_per_request"] = round(spent / max(1, run["wrk"]["requests"]) * 1e6, 1)
    return run


def under_wrk(args: argparse.Namespace) -> dict[str, Any]:
    targets = [
        Target("checked", "Herald as it is", herald_sqlite("checks-on"), tuple(WORKLOADS)),
        Target(
            "unchecked",
            "Herald, post checks bypassed",
            herald_sqlite("checks-off", program=unchecked_launcher()),
            tuple(WORKLOADS),
        ),
    ]
    known = {**WORKLOADS, BIG.key: BIG}
    workloads = [known[w] for w in args.workloads.split(",") if w]
    runs: list[dict[str, Any]] = []
    try:
        for target in targets:
            target.server.start()
        bypass = confirm_bypass(targets)
        if bypass != {"checked": 400, "unchecked": 201}:
            raise SystemExit(f"the bypass is not in effect: {bypass}")
        for round_ in range(args.rounds):
            for workload in workloads:
                order = targets if round_ % 2 == 0 else targets[::-1]
                settings = args
                if workload is BIG:
                    settings = argparse.Namespace(**{**vars(args), "message_size": BIG_MESSAGE})
                for target in order:
                    run = measured(target, workload, settings)
                    run["round"] = round_ + 1
                    runs.append(run)
                    say(
                        f"round {round_ + 1} {workload.title} {target.key:<9} "
                        f"{run['msgs_per_s']:9,.0f} msgs/s p99 {run['p99_ms']:.1f} ms "
                        f"server CPU {run['server_cpu_us_per_request']:,.0f} us/request "
                        f"errors {run['errors']}"
                    )
    finally:
        for target in targets:
            target.server.stop()
    return {"bypass_check": bypass, "runs": runs}


def render_wrk(result: dict[str, Any]) -> str:
    rows = []
    for key in dict.fromkeys(r["workload"] for r in result["runs"]):
        cells: dict[str, dict[str, Any]] = {}
        for server in ("checked", "unchecked"):
            mine = [r for r in result["runs"] if (r["workload"], r["server"]) == (key, server)]
            rates = [r["msgs_per_s"] for r in mine]
            cells[server] = {
                "median": median(rates),
                "range": (min(rates), max(rates)),
                "p99": median([r["p99_ms"] for r in mine]),
                "errors": sum(r["errors"] for r in mine),
                "cpu": median([r["server_cpu_us_per_request"] for r in mine]),
            }
        row = [{**WORKLOADS, BIG.key: BIG}[key].title]
        for server in ("checked", "unchecked"):
            cell = cells[server]
            row.append(
                f"{cell['median']:,.0f} ({cell['range'][0]:,.0f}-{cell['range'][1]:,.0f}), "
                f"p99 {cell['p99']:.1f} ms, errors {cell['errors']}"
            )
        on, off = cells["checked"], cells["unchecked"]
        row.append(f"{on['median'] / off['median']:.3f}")
        row += [f"{on['cpu']:,.0f}", f"{off['cpu']:,.0f}", f"{on['cpu'] / off['cpu']:.3f}"]
        rows.append(row)
    header = [
        "workload",
        "checks on: msgs/s (range), p99",
        "checks bypassed: msgs/s (range), p99",
        "msgs/s on / bypassed",
        "server CPU µs/request, on",
        "server CPU µs/request, bypassed",
        "CPU on / bypassed",
    ]
    return markdown_table(header, rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add = parser.add_argument
    add("--parts", default="micro,wrk", help="comma-separated subset of %(default)s")
    add("--repeats", type=int, default=7, help="timings per body and decoder")
    add("--budget", type=float, default=0.2, help="seconds per timing")
    add_wrk_options(parser, rounds=5)
    add(
        "--workloads",
        default=f"post1,{BIG.key}",
        help=f"compare.py's (post1, post10, ...) or {BIG.key}: one message of 256 KiB",
    )
    args = parser.parse_args(argv)
    parts = {p for p in args.parts.split(",") if p}
    info = machine()
    document: dict[str, Any] = {"machine": info, "settings": vars(args)}
    sections = [f"Load average at start {info['load_average']} on {info['cores']} cores."]
    if "micro" in parts:
        document["micro"] = micro(args)
        sections += ["", "## Per decode", "", render_micro(document["micro"])]
    if "wrk" in parts:
        document["wrk"] = under_wrk(args)
        sections += [
            "",
            f"## Under wrk (median of {args.rounds} rounds of {args.duration:g} s, "
            f"wrk -t1 -c{args.connections})",
            "",
            render_wrk(document["wrk"]),
        ]
    markdown = "\n".join(sections)
    json_path, md_path = write_results(f"json-checks-{timestamp()}", document, markdown)
    print(markdown)
    say(f"wrote {json_path} and {md_path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
