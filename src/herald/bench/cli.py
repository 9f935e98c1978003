"""The `herald bench` subcommand: options, the summary table, `--json` and `--plot`."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from herald.bench.plot import MISSING, plotting_available, write_plot
from herald.bench.runner import BenchError, progress_printer, run_bench
from herald.bench.workload import ROLES, BenchConfig, RoleShape

DESCRIPTION = """\
Load a server that speaks the Zaqar v2 HTTP API (Herald or Zaqar itself) and
report, per role, requests/s, messages/s, latency p50/p90/p99 and errors by
status. Roles: producers POST messages; consumers claim messages and delete
them with their claim id (one DELETE each, or one bulk DELETE ?ids=);
observers list messages with marker paging (echo=true, include_claimed=true),
starting over from the head when they reach the end. Each role runs in
PROCESSES worker processes, each keeping CONCURRENCY requests in flight on as
many keep-alive connections; the queues are created first (and emptied, unless
--no-reset)."""

# Measured by benchmarks/client_ceiling.py (see docs/performance.md): keep it
# in step with that page when re-measured.
EPILOG = """\
its own ceiling: on a 2-core machine, POSTing one 200-byte message over 32
connections to nginx answering a fixed 201, one bench process sent about
54,000 requests/s and spent about 9 us of CPU per request; wrk -t1 -c32 sent
73,000 to 110,000 requests/s (bounded by nginx there) at about 7 us per
request. Against a server on the same host a bench process thus takes about
1.3 times the CPU wrk would (9% of a core at 10,000 requests/s). Give a role
more processes (e.g. --producer 2x16) above about 40,000 requests/s, or use
wrk with the Lua scripts in benchmarks/wrk/ when every cycle counts.

examples:
  herald bench -t 10 --producer 1x32
  herald bench --producer 0 --consumer 1x16 --prefill 20000 --delete bulk
  herald bench --producer 1x8 --observer 1x4 --json > run.json
  herald bench --producer 0 --prefill 50000     # only fill the queues
  herald bench -s http://127.0.0.1:8888 --producer 2x16 --plot run.png"""


def _shape(text: str) -> RoleShape:
    """PROCESSESxCONCURRENCY, or a bare CONCURRENCY meaning one process."""
    processes, sep, concurrency = text.lower().partition("x")
    try:
        shape = RoleShape(int(processes), int(concurrency)) if sep else RoleShape(1, int(processes))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected PROCESSESxCONCURRENCY such as 2x16, or a number: {text!r}"
        ) from None
    if shape.processes < 0 or shape.concurrency < 0 or shape.processes > 64:
        raise argparse.ArgumentTypeError(f"out of range: {text!r}")
    if shape.processes == 0 or shape.concurrency == 0:
        return RoleShape(0, 0)
    return shape


def _positive(kind: type[int] | type[float]) -> Any:
    def parse(text: str) -> int | float:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
        if value < 0:
            raise argparse.ArgumentTypeError(f"must not be negative: {text!r}")
        return value

    return parse


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register `bench` on the `herald` command's subparsers."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "bench",
        help="load-test a Zaqar v2 server (Herald or Zaqar)",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    count = _positive(int)
    seconds = _positive(float)
    add = parser.add_argument
    add("-s", "--server", default="http://127.0.0.1:8888", help="base URL (%(default)s)")
    add("--project", default="herald-bench", help="X-Project-ID to send (%(default)s)")
    add("-t", "--duration", type=seconds, default=10.0, help="measured seconds (%(default)s)")
    add("--warmup", type=seconds, default=1.0, help="unmeasured seconds first (%(default)s)")
    add(
        "-p",
        "--producer",
        type=_shape,
        default=RoleShape(1, 16),
        metavar="PxC",
        help="producer processes x concurrency per process (1x16); 0 disables",
    )
    add(
        "-c",
        "--consumer",
        type=_shape,
        default=RoleShape(0, 0),
        metavar="PxC",
        help="consumer processes x concurrency (0: off)",
    )
    add(
        "-o",
        "--observer",
        type=_shape,
        default=RoleShape(0, 0),
        metavar="PxC",
        help="observer processes x concurrency (0: off)",
    )
    add("--queues", type=count, default=4, help="number of queues (%(default)s)")
    add("--queue-prefix", default="herald-bench", help="queue names PREFIX-0..N-1 (%(default)s)")
    add(
        "--message-size",
        type=count,
        default=200,
        help="bytes of each message's JSON, ttl and body (%(default)s)",
    )
    add("--message-ttl", type=count, default=3600, help="message ttl (%(default)s)")
    add("--messages-per-post", type=count, default=1, help="messages per POST (%(default)s)")
    add("--messages-per-claim", type=count, default=10, help="claim limit (%(default)s)")
    add("--messages-per-list", type=count, default=10, help="observer page size (%(default)s)")
    add("--claim-ttl", type=count, default=300, help="claim ttl (%(default)s)")
    add("--claim-grace", type=count, default=60, help="claim grace (%(default)s)")
    add(
        "--delete",
        choices=("each", "bulk"),
        default="each",
        help="consumers delete each claimed message with its claim id, or all of them "
        "in one DELETE ?ids= (%(default)s)",
    )
    add(
        "--prefill",
        type=count,
        default=0,
        help="messages posted to each queue before the run, for consumers and observers; "
        "with every role off, only fill the queues (e.g. for benchmarks/wrk scripts)",
    )
    add(
        "--no-reset",
        dest="reset",
        action="store_false",
        help="keep the queues' messages instead of deleting the queues first",
    )
    add(
        "--empty-wait",
        type=seconds,
        default=0.0,
        help="seconds a consumer or observer waits after finding nothing (%(default)s)",
    )
    add("--json", action="store_true", help="print the report as JSON on stdout")
    add(
        "--plot",
        metavar="FILE.png",
        help="draw messages/s and p99 latency per second (needs the 'bench' extra)",
    )
    add("-q", "--quiet", action="store_true", help="no progress line on stderr")
    return parser


def config_from(args: argparse.Namespace) -> BenchConfig:
    """The run's settings from parsed arguments."""
    return BenchConfig(
        url=args.server,
        project=args.project,
        duration=args.duration,
        warmup=args.warmup,
        producer=args.producer,
        consumer=args.consumer,
        observer=args.observer,
        queues=max(1, args.queues),
        queue_prefix=args.queue_prefix,
        message_size=args.message_size,
        message_ttl=args.message_ttl,
        messages_per_post=max(1, args.messages_per_post),
        messages_per_claim=max(1, args.messages_per_claim),
        messages_per_list=max(1, args.messages_per_list),
        claim_ttl=args.claim_ttl,
        claim_grace=args.claim_grace,
        bulk_delete=args.delete == "bulk",
        empty_wait=args.empty_wait,
        prefill=args.prefill,
        reset=args.reset,
    )


def run(args: argparse.Namespace) -> int:
    """Run `herald bench`; 0 when the run completed, 2 when it could not be done."""
    if args.plot and not plotting_available():
        print(f"herald bench: {MISSING}", file=sys.stderr)
        return 2
    try:
        config = config_from(args)
        progress = None if args.quiet else progress_printer(sys.stderr)
        result = run_bench(config, progress)
    except (BenchError, ValueError) as exc:
        print(f"herald bench: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\nherald bench: interrupted", file=sys.stderr)
        return 130
    report = result.report()
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(format_report(report))
    if args.plot:
        write_plot(report, args.plot)
        if not args.quiet:
            print(f"herald bench: wrote {args.plot}", file=sys.stderr)
    return 0


def format_report(report: dict[str, Any]) -> str:
    """The human-readable summary table."""
    config = report["config"]
    lines = [
        f"herald bench  {report['server']}  {report['duration_s']:g} s measured after "
        f"{report['warmup_s']:g} s warm-up, {config['queues']} queues, "
        f"{config['message_size']}-byte messages",
        "",
        f"{'role':<9} {'PxC':>6} {'requests':>9} {'req/s':>9} {'msgs':>9} {'msgs/s':>9}  "
        f"{'op':<6} {'p50 ms':>8} {'p90 ms':>8} {'p99 ms':>8}  errors",
    ]
    notes = []
    for role in ROLES:
        data = report["roles"].get(role)
        if data is None:
            continue
        errors = " ".join(f"{k}:{v}" for k, v in data["errors"].items()) or "0"
        ops = list(data["latency"].items()) or [("-", None)]
        for i, (op, latency) in enumerate(ops):
            head = (
                f"{role:<9} {config[role]:>6} {data['requests']:>9} "
                f"{data['requests_per_s']:>9.1f} {data['messages']:>9} {data['msgs_per_s']:>9.1f}"
                if i == 0
                else " " * 56
            )
            cells = (
                f"{latency['p50_ms']:>8.2f} {latency['p90_ms']:>8.2f} {latency['p99_ms']:>8.2f}"
                if latency
                else f"{'-':>8} {'-':>8} {'-':>8}"
            )
            lines.append(f"{head}  {op:<6} {cells}  {errors if i == 0 else ''}".rstrip())
        if data["idle_requests"]:
            what = "claims found no message" if role == "consumer" else "pages were empty"
            notes.append(f"{role}: {data['idle_requests']} {what}")
    if notes:
        lines += ["", *notes]
    return "\n".join(lines)
