"""Measure the HTTP-stack ceiling: bare ASGI vs Falcon vs Starlette under uvicorn, with wrk.

Each app parses a message POST with msgspec and answers 201 (ceiling_app.py);
the apps take turns in every round so that machine noise hits them alike, and
the report gives the median of the rounds.

    python benchmarks/http_stack.py --rounds 5 --duration 5
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
from typing import Any

from benchlib import (
    HERE,
    Server,
    free_port,
    machine,
    markdown_table,
    median,
    require_wrk,
    run_wrk,
    say,
    timestamp,
    write_results,
)

APPS = {
    "bare ASGI": ("bare", None),
    "Falcon (ASGI)": ("falcon_app", "falcon"),
    "Starlette": ("starlette_app", "starlette"),
}


def uvicorn_command(attr: str, port: int, workers: int) -> list[str]:
    """uvicorn serving ceiling_app:<attr> the way `herald serve` runs (uvloop, httptools)."""
    return [
        sys.executable,
        "-m",
        "uvicorn",
        "--app-dir",
        str(HERE),
        f"ceiling_app:{attr}",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--loop",
        "uvloop",
        "--http",
        "httptools",
        "--no-access-log",
        "--log-level",
        "warning",
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per wrk run")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--workers", type=int, default=1, help="uvicorn workers per app")
    parser.add_argument("--messages-per-post", type=int, default=1)
    parser.add_argument("--message-size", type=int, default=200)
    args = parser.parse_args(argv)
    require_wrk()
    apps = {}
    for label, (attr, module) in APPS.items():
        if module is not None and importlib.util.find_spec(module) is None:
            say(f"skipping {label}: {module} is not installed (pip install {module})")
            continue
        apps[label] = attr
    env = {
        "MESSAGES_PER_POST": str(args.messages_per_post),
        "MESSAGE_SIZE": str(args.message_size),
    }
    servers = {
        label: Server(f"stack-{attr}", uvicorn_command(attr, port, args.workers), port)
        for label, attr in apps.items()
        for port in [free_port()]
    }
    runs: list[dict[str, Any]] = []
    try:
        for server in servers.values():
            server.start()
        labels = list(servers)
        for round_ in range(args.rounds):
            # Rotate the order each round: no app always runs first or last.
            shift = round_ % len(labels)
            for label in labels[shift:] + labels[:shift]:
                result = run_wrk(
                    servers[label].url,
                    "post.lua",
                    duration=args.duration,
                    connections=args.connections,
                    env=env,
                )
                rate = result["requests"] / result["duration_s"]
                say(
                    f"round {round_ + 1}: {label:<14} {rate:>9,.0f} req/s  "
                    f"p99 {result['p99_ms']} ms"
                )
                runs.append({"round": round_ + 1, "app": label, "requests_per_s": rate, **result})
    finally:
        for server in servers.values():
            server.stop()
    summary: dict[str, dict[str, float]] = {}
    for label in servers:
        mine = [r for r in runs if r["app"] == label]
        summary[label] = {
            "requests_per_s": round(median([r["requests_per_s"] for r in mine])),
            "p50_ms": median([r["p50_ms"] for r in mine]),
            "p99_ms": median([r["p99_ms"] for r in mine]),
            "errors": sum(sum(r["errors"].values()) for r in mine),
        }
    bare = summary.get("bare ASGI", {}).get("requests_per_s", 0)
    rows = [
        [
            label,
            f"{s['requests_per_s']:,.0f}",
            f"{s['requests_per_s'] / bare:.2f}" if bare else "-",
            f"{s['p50_ms']:.2f}",
            f"{s['p99_ms']:.2f}",
            str(s["errors"]),
        ]
        for label, s in summary.items()
    ]
    command = (
        f"wrk -t1 -c{args.connections} -d{args.duration:g}s -s benchmarks/wrk/post.lua "
        f"(MESSAGES_PER_POST={args.messages_per_post}, MESSAGE_SIZE={args.message_size}); "
        f"uvicorn --workers {args.workers} --loop uvloop --http httptools"
    )
    markdown = "\n".join(
        [
            f"HTTP-stack ceiling, median of {args.rounds} rounds of {args.duration:g} s: {command}",
            "",
            markdown_table(["app", "requests/s", "vs bare", "p50 ms", "p99 ms", "errors"], rows),
        ]
    )
    document = {
        "machine": machine(),
        "command": command,
        "settings": vars(args),
        "summary": summary,
        "runs": runs,
    }
    json_path, md_path = write_results(f"http-stack-{timestamp()}", document, markdown)
    print(markdown)
    say(f"wrote {json_path} and {md_path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
