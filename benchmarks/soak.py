"""Memory of one Herald worker under a long mixed load: SQLite, 1 worker.

Starts Herald on a fresh SQLite file, runs `herald bench` with producers,
consumers (claim + delete) and observers for --duration seconds, and samples
the server's resident set (VmRSS in /proc) every --interval seconds, with its
CPU use, its database's size and the messages queued. Reports the RSS before
the load, at its start, at its peak, at its end and after it, the slope over
the last half of the load, and the throughput; writes the samples as CSV, and
with --plot a PNG of them and `herald bench`'s own throughput plot.

    python benchmarks/soak.py --duration 600
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import json
import os
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from benchlib import (
    RESULTS,
    WORK,
    api_json,
    cpu_seconds,
    herald_sqlite,
    machine,
    markdown_table,
    memory_mib,
    remove_work,
    say,
    timestamp,
    write_results,
)

from herald.bench.plot import plotting_available, write_plot

NAME = "soak"
QUEUE_PREFIX = "soak"


@dataclasses.dataclass
class Sample:
    """What the server looked like at one moment, `t` seconds after it answered."""

    t: float
    phase: str  # before, load or after
    rss_mib: float
    hwm_mib: float
    cpu_percent: float
    db_mib: float
    queued: int | None


def database_mib(directory: Path) -> float:
    """The size of the SQLite file with its WAL and shared-memory files."""
    return sum(p.stat().st_size for p in directory.glob("herald.sqlite3*")) / 2**20


def queued(url: str, queues: int) -> int | None:
    """Messages in the soak's queues, from their stats; None if a stats call fails."""
    total = 0
    for i in range(queues):
        try:
            status, stats = api_json(url, "GET", f"/v2/queues/{QUEUE_PREFIX}-{i}/stats")
        except OSError:
            return None
        if status != 200:
            return None
        total += int(stats["messages"]["total"])
    return total


def bench_command(url: str, args: argparse.Namespace) -> list[str]:
    return [
        sys.executable,
        "-m",
        "herald",
        "bench",
        "-s",
        url,
        "-t",
        f"{args.duration:g}",
        "--warmup",
        f"{args.warmup:g}",
        "--producer",
        args.producer,
        "--consumer",
        args.consumer,
        "--observer",
        args.observer,
        "--queues",
        str(args.queues),
        "--queue-prefix",
        QUEUE_PREFIX,
        "--messages-per-post",
        str(args.messages_per_post),
        "--delete",
        args.delete,
        "--prefill",
        str(args.prefill),
        "--empty-wait",
        f"{args.empty_wait:g}",
        "--json",
        "--quiet",
    ]


def slope_mib_per_min(samples: list[Sample]) -> float:
    """Least-squares slope of RSS over time, in MiB per minute; 0 with fewer than 3 samples."""
    if len(samples) < 3:
        return 0.0
    fit = statistics.linear_regression([s.t / 60 for s in samples], [s.rss_mib for s in samples])
    return float(fit.slope)


def write_csv(path: Path, samples: list[Sample]) -> None:
    with open(path, "w", newline="") as out:
        writer = csv.writer(out)
        names = [f.name for f in dataclasses.fields(Sample)]
        writer.writerow(names)
        for sample in samples:
            writer.writerow(["" if v is None else v for v in dataclasses.astuple(sample)])


def plot(path: Path, samples: list[Sample], load: tuple[float, float], target_mb: float) -> None:
    """RSS with its peak, server CPU and messages queued over time, the load shaded."""
    import matplotlib

    # No display is needed to write a file.
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    minutes = [s.t / 60 for s in samples]
    figure, (top, middle, bottom) = plt.subplots(3, 1, figsize=(9, 8), sharex=True)
    top.plot(minutes, [s.rss_mib for s in samples], marker=".", label="VmRSS")
    top.plot(minutes, [s.hwm_mib for s in samples], linestyle="--", label="VmHWM (peak)")
    target = target_mb * 1e6 / 2**20
    top.axhline(target, color="red", linewidth=0.8, label=f"target {target_mb:g} MB")
    top.set_ylabel("server memory (MiB)")
    top.set_ylim(bottom=0)
    top.legend(loc="center left", frameon=False)
    middle.plot(minutes, [s.cpu_percent for s in samples], marker=".")
    middle.set_ylabel("server CPU (% of a core)")
    middle.set_ylim(bottom=0)
    bottom.plot(minutes, [s.queued or 0 for s in samples], marker=".")
    bottom.set_ylabel("messages queued")
    bottom.set_ylim(bottom=0)
    bottom.set_xlabel("minutes since the server answered")
    for axes in (top, middle, bottom):
        axes.axvspan(load[0] / 60, load[1] / 60, color="grey", alpha=0.1)
        axes.grid(True, alpha=0.3)
    figure.suptitle("Herald on SQLite, 1 worker, under herald bench (load shaded)", fontsize=10)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def render(result: dict[str, Any], report: dict[str, Any] | None, args: argparse.Namespace) -> str:
    memory = result["memory_mib"]
    rows = [
        [
            f"{memory['before']:.1f}",
            f"{memory['start']:.1f}",
            f"{memory['peak']:.1f}",
            f"{memory['end']:.1f}",
            f"{memory['after']:.1f}",
            f"{result['slope_last_half_mib_per_min']:+.3f}",
            f"{result['growth_last_half_mib']:+.1f}",
        ]
    ]
    memory_table = markdown_table(
        [
            "before load",
            "start (first sample under load)",
            "peak (VmHWM)",
            "end",
            "after load",
            "slope, last half (MiB/min)",
            "growth over last half (MiB)",
        ],
        rows,
    )
    lines = [
        f"Herald on SQLite (`--workers 1`, durability {args.durability}) under `herald bench` "
        f"for {args.duration:g} s after {args.warmup:g} s warm-up: producer {args.producer} "
        f"({args.messages_per_post} message per POST), consumer {args.consumer} "
        f"(claim 10 + delete {args.delete}), observer {args.observer}, {args.queues} queues "
        f"prefilled with {args.prefill:,} each. RSS of the server process in MiB, sampled every "
        f"{args.interval:g} s. Load average at start {result['machine']['load_average']} on "
        f"{result['machine']['cores']} cores.",
        "",
        memory_table,
        "",
        f"Target ≤ {args.target_mb:g} MB ({args.target_mb * 1e6 / 2**20:.0f} MiB) and flat: "
        f"peak {'within' if result['peak_within_target'] else '**over**'} the target; "
        f"the last half {'is flat' if result['flat'] else '**grows**'} "
        f"(flat: growth over the last half below {args.flat_mib:g} MiB).",
    ]
    if report is not None:
        throughput = []
        for role, data in report["roles"].items():
            for op, latency in data["latency"].items():
                throughput.append(
                    [
                        role,
                        op,
                        f"{data['msgs_per_s']:,.0f}",
                        f"{data['requests_per_s']:,.0f}",
                        f"{latency['p50_ms']:.2f}",
                        f"{latency['p99_ms']:.2f}",
                        " ".join(f"{k}:{v}" for k, v in data["errors"].items()) or "0",
                    ]
                )
        lines += [
            "",
            markdown_table(
                ["role", "op", "msgs/s", "req/s", "p50 ms", "p99 ms", "errors"], throughput
            ),
        ]
    depth = result["queued"]
    lines += [
        "",
        f"Messages queued: {depth['start']} at the start of the load, {depth['end']} at its "
        f"end; database {result['database_mib']['end']:.0f} MiB at the end. Server CPU "
        f"{result['server_cpu_percent']:.0f}% of a core on average under load.",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add = parser.add_argument
    add("--duration", type=float, default=600.0, help="seconds of measured load (%(default)s)")
    add("--warmup", type=float, default=5.0, help="seconds of unmeasured load first")
    add("--interval", type=float, default=5.0, help="seconds between samples (%(default)s)")
    add("--producer", default="1x8", help="herald bench PxC (%(default)s)")
    add("--consumer", default="1x8", help="herald bench PxC (%(default)s)")
    add("--observer", default="1x4", help="herald bench PxC (%(default)s)")
    add("--queues", type=int, default=4)
    add("--messages-per-post", type=int, default=1)
    add("--delete", choices=("each", "bulk"), default="each")
    add("--prefill", type=int, default=20_000, help="messages per queue first (%(default)s)")
    add("--empty-wait", type=float, default=0.05, help="a consumer's pause on an empty queue")
    add("--durability", choices=("full", "normal"), default="full")
    add("--target-mb", type=float, default=150.0, help="RSS the issue allows (%(default)s MB)")
    add(
        "--flat-mib",
        type=float,
        default=5.0,
        help="most the fitted RSS may grow over the last half of the load to count as flat",
    )
    add("--plot", action="store_true", help="also write PNGs of the samples and the throughput")
    add("--keep", action="store_true", help="keep the SQLite file under .work/")
    args = parser.parse_args(argv)
    if args.duration > 3600:
        parser.error("--duration is capped at 3600 s")
    if args.plot and not plotting_available():
        parser.error("--plot needs matplotlib")
    info = machine()
    stem = f"soak-{timestamp()}"
    server = herald_sqlite(NAME, durability=args.durability)
    directory = WORK / NAME
    samples: list[Sample] = []
    report: dict[str, Any] | None = None
    bench_out = WORK / f"{NAME}-bench.json"
    bench_err = WORK / f"{NAME}-bench.log"
    try:
        server.start()
        assert server.process is not None
        pid = server.process.pid
        say(f"started Herald at {server.url} (pid {pid})")
        began = time.monotonic()
        last_cpu = (began, cpu_seconds(pid))

        def sample(phase: str) -> Sample:
            nonlocal last_cpu
            now = time.monotonic()
            cpu = cpu_seconds(pid)
            percent = 100 * (cpu - last_cpu[1]) / max(now - last_cpu[0], 1e-6)
            last_cpu = (now, cpu)
            rss, hwm = memory_mib(pid)
            taken = Sample(
                t=round(now - began, 2),
                phase=phase,
                rss_mib=round(rss, 2),
                hwm_mib=round(hwm, 2),
                cpu_percent=round(percent, 1),
                db_mib=round(database_mib(directory), 2),
                queued=queued(server.url, args.queues),
            )
            samples.append(taken)
            return taken

        # A few samples of the idle server, for the RSS it starts from.
        for _ in range(2):
            time.sleep(args.interval / 2)
            sample("before")
        load_start = time.monotonic() - began
        with open(bench_out, "wb") as out, open(bench_err, "wb") as err:
            bench = subprocess.Popen(
                bench_command(server.url, args), stdout=out, stderr=err, start_new_session=True
            )
        # Prefill, worker start-up and the warm-up come before the measured window.
        deadline = time.monotonic() + args.duration + args.warmup + 300
        next_sample = time.monotonic() + args.interval
        while bench.poll() is None:
            if time.monotonic() > deadline:
                os.killpg(bench.pid, signal.SIGKILL)
                bench.wait()
                raise RuntimeError("herald bench overran its time; killed")
            time.sleep(max(0.0, min(0.5, next_sample - time.monotonic())))
            if time.monotonic() >= next_sample:
                taken = sample("load")
                next_sample += args.interval
                say(
                    f"[{taken.t:6.0f} s] RSS {taken.rss_mib:6.1f} MiB  CPU "
                    f"{taken.cpu_percent:5.1f}%  queued {taken.queued}"
                )
        load_end = time.monotonic() - began
        if bench.returncode != 0:
            raise RuntimeError(
                f"herald bench failed ({bench.returncode}): {bench_err.read_text()[-2000:]}"
            )
        report = json.loads(bench_out.read_text())
        # Whether memory comes back down once the load stops.
        for _ in range(3):
            time.sleep(args.interval)
            sample("after")
    except (RuntimeError, OSError, json.JSONDecodeError) as exc:
        say(f"soak.py: {exc}\n{server.log_tail()}")
        return 1
    finally:
        server.stop()
        if not args.keep:
            remove_work(NAME)
    under_load = [s for s in samples if s.phase == "load"]
    if not under_load:
        say("soak.py: no sample was taken under load")
        return 1
    middle = (load_start + load_end) / 2
    last_half = [s for s in under_load if s.t >= middle]
    slope = slope_mib_per_min(last_half)
    growth = slope * (load_end - middle) / 60
    before = [s for s in samples if s.phase == "before"]
    after = [s for s in samples if s.phase == "after"]
    peak = max(s.hwm_mib for s in samples)
    result = {
        "machine": info,
        "load_average_at_end": [round(x, 2) for x in os.getloadavg()],
        "settings": vars(args),
        "bench_command": bench_command("URL", args),
        "load_window_s": [round(load_start, 1), round(load_end, 1)],
        "memory_mib": {
            "before": before[-1].rss_mib if before else 0.0,
            "start": under_load[0].rss_mib,
            "peak": peak,
            "end": under_load[-1].rss_mib,
            "after": after[-1].rss_mib if after else 0.0,
        },
        "slope_last_half_mib_per_min": round(slope, 4),
        "growth_last_half_mib": round(growth, 2),
        "peak_within_target": peak * 2**20 <= args.target_mb * 1e6,
        "flat": growth < args.flat_mib,
        "queued": {"start": under_load[0].queued, "end": under_load[-1].queued},
        "database_mib": {"end": under_load[-1].db_mib},
        "server_cpu_percent": statistics.fmean(s.cpu_percent for s in under_load),
        "sample_count": len(samples),
    }
    markdown = render(result, report, args)
    document = {**result, "bench": report, "samples": [dataclasses.asdict(s) for s in samples]}
    RESULTS.mkdir(parents=True, exist_ok=True)
    csv_path = RESULTS / f"{stem}.csv"
    write_csv(csv_path, samples)
    json_path, md_path = write_results(stem, document, markdown)
    print(markdown)
    say(f"wrote {csv_path}, {json_path} and {md_path}")
    if args.plot:
        png = RESULTS / f"{stem}.png"
        plot(png, samples, (load_start, load_end), args.target_mb)
        if report is not None:
            write_plot(report, str(RESULTS / f"{stem}-throughput.png"))
        say(f"wrote {png} and {stem}-throughput.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
