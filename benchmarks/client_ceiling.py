"""How fast can the load generators go? `herald bench` vs wrk against a trivial server.

The trivial server is nginx answering every request with a fixed 201 (when
nginx is installed; otherwise the bare ASGI app of ceiling_app.py, which is
slower, so the figures are then lower bounds). Both clients send the same
POST of one 200-byte message over 32 keep-alive connections; each round runs
them in turn. Reported: requests/s and the client's CPU time per request.

    python benchmarks/client_ceiling.py --rounds 3 --duration 5
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from typing import Any

from benchlib import (
    WORK,
    Server,
    free_port,
    machine,
    markdown_table,
    median,
    require_wrk,
    run_measured,
    run_wrk,
    say,
    timestamp,
    write_results,
)
from http_stack import uvicorn_command

NGINX_CONF = """\
daemon off;
worker_processes {workers};
pid {work}/nginx.pid;
error_log {work}/nginx-error.log;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    keepalive_requests 100000000;
    client_body_temp_path {work}/nginx-body;
    server {{
        listen 127.0.0.1:{port};
        location / {{
            default_type application/json;
            return 201 '{{"resources":["/v2/queues/q/messages/0123456789abcdef01234567"]}}';
        }}
    }}
}}
"""


def trivial_server(workers: int) -> Server:
    port = free_port()
    nginx = shutil.which("nginx")
    if nginx is None:
        say("nginx is not installed (apt-get install -y nginx-light): using the bare ASGI app")
        return Server("trivial-asgi", uvicorn_command("bare", port, workers), port)
    work = WORK / "nginx"
    work.mkdir(parents=True, exist_ok=True)
    conf = work / "nginx.conf"
    conf.write_text(NGINX_CONF.format(workers=workers, work=work, port=port))
    return Server("trivial-nginx", [nginx, "-c", str(conf), "-p", str(work)], port)


def bench_run(url: str, shape: str, duration: float) -> tuple[dict[str, Any], float]:
    """One `herald bench` producer run; its report and CPU seconds."""
    command = [
        sys.executable,
        "-m",
        "herald",
        "bench",
        "-s",
        url,
        "-t",
        str(duration),
        "--warmup",
        "0",
        "--producer",
        shape,
        "--json",
        "-q",
    ]
    stdout, _, cpu = run_measured(command, timeout=duration + 60)
    report: dict[str, Any] = json.loads(stdout)
    return report, cpu


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--server-workers", type=int, default=1)
    args = parser.parse_args(argv)
    require_wrk()
    server = trivial_server(args.server_workers)
    c = args.connections
    clients = [
        f"wrk -t1 -c{c}",
        f"herald bench --producer 1x{c}",
        f"herald bench --producer 2x{c // 2}",
    ]
    runs: list[dict[str, Any]] = []
    try:
        server.start()
        # The startup cost of herald bench (spawning, imports), taken out of its CPU per request.
        _, startup_cpu = bench_run(server.url, "1x1", 0)
        for round_ in range(args.rounds):
            shift = round_ % len(clients)
            for client in clients[shift:] + clients[:shift]:
                if client.startswith("wrk"):
                    result = run_wrk(server.url, "post.lua", duration=args.duration, connections=c)
                    requests = result["requests"]
                    rate = requests / result["duration_s"]
                    cpu = result["client_cpu_s"]
                    p99 = result["p99_ms"]
                else:
                    report, cpu = bench_run(server.url, client.rsplit(" ", 1)[1], args.duration)
                    producer = report["roles"]["producer"]
                    requests = producer["requests"]
                    rate = producer["requests_per_s"]
                    cpu = max(0.0, cpu - startup_cpu)
                    p99 = producer["latency"]["post"]["p99_ms"]
                cpu_us = cpu / requests * 1e6 if requests else 0.0
                say(
                    f"round {round_ + 1}: {client:<28} {rate:>9,.0f} req/s  "
                    f"{cpu_us:5.1f} µs CPU/req"
                )
                runs.append(
                    {
                        "round": round_ + 1,
                        "client": client,
                        "requests_per_s": rate,
                        "cpu_us_per_request": cpu_us,
                        "p99_ms": p99,
                    }
                )
    finally:
        server.stop()
    rows = []
    summary = {}
    for client in clients:
        mine = [r for r in runs if r["client"] == client]
        rate = median([r["requests_per_s"] for r in mine])
        cpu_us = median([r["cpu_us_per_request"] for r in mine])
        summary[client] = {"requests_per_s": round(rate), "cpu_us_per_request": round(cpu_us, 2)}
        rows.append([f"`{client}`", f"{rate:,.0f}", f"{cpu_us:.1f}"])
    markdown = "\n".join(
        [
            f"Load-generator ceiling against {server.name} ({args.server_workers} worker), "
            f"POST of one 200-byte message, {c} connections, median of {args.rounds} rounds "
            f"of {args.duration:g} s",
            "",
            markdown_table(["client", "requests/s", "client CPU µs per request"], rows),
        ]
    )
    document = {
        "machine": machine(),
        "server": server.name,
        "settings": vars(args),
        "startup_cpu_s": startup_cpu,
        "summary": summary,
        "runs": runs,
    }
    json_path, md_path = write_results(f"client-ceiling-{timestamp()}", document, markdown)
    print(markdown)
    say(f"wrote {json_path} and {md_path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
