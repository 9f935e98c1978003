"""Post → webhook received: how long a notification takes to reach a local receiver.

Each round posts one message at a time to a queue with one webhook subscription
and times from just before the POST to the receiver's arrival. The engine
polls the outbox every `poll_interval`; the reference in the same run is the
same server polling every 10 ms, what a wake-up on commit could approach.

    python benchmarks/webhook_latency.py --messages 40 [--store sqlite|redis|postgres]
"""

from __future__ import annotations

import argparse
import statistics
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from benchlib import (
    api_json,
    free_port,
    herald_server,
    herald_sqlite,
    markdown_table,
    say,
    timestamp,
    write_results,
)


class Arrivals:
    """When each posted body reached the receiver, by the number it carries."""

    def __init__(self) -> None:
        self.when: dict[int, float] = {}
        self.changed = threading.Condition()

    def wait_for(self, number: int, within: float = 30) -> float:
        deadline = time.monotonic() + within
        with self.changed:
            while number not in self.when:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise SystemExit(f"message {number} never arrived")
                self.changed.wait(left)
            return self.when[number]


def receiver(arrivals: Arrivals) -> tuple[ThreadingHTTPServer, int]:
    import json

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("content-length", "0"))
            document = json.loads(self.rfile.read(length))
            arrived = time.perf_counter()
            with arrivals.changed:
                arrivals.when[int(document["body"]["n"])] = arrived
                arrivals.changed.notify_all()
            self.send_response(200)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    port = free_port()
    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, port


def measure(name: str, store: str, poll: float, messages: int) -> list[float]:
    env = {"HERALD_NOTIFICATIONS_POLL_INTERVAL": str(poll)}
    if store == "sqlite":
        server = herald_sqlite(name, env=env)
    else:
        server = herald_server(name, store, env=env)
    arrivals = Arrivals()
    hook, port = receiver(arrivals)
    server.start()
    try:
        status, _ = api_json(
            server.url,
            "POST",
            f"/v2/queues/{name}/subscriptions",
            {"subscriber": f"http://127.0.0.1:{port}/hook"},
        )
        assert status == 201, status
        latencies = []
        for n in range(messages):
            started = time.perf_counter()
            status, _ = api_json(
                server.url,
                "POST",
                f"/v2/queues/{name}/messages",
                {"messages": [{"body": {"n": n}}]},
            )
            assert status == 201, status
            latencies.append(arrivals.wait_for(n) - started)
            # Out of step with the engine's polls, as posts come in practice.
            time.sleep(0.037)
        return latencies
    finally:
        server.stop()
        hook.shutdown()


def summary(latencies: list[float]) -> tuple[float, float, float]:
    ordered = sorted(latencies)
    p90 = ordered[int(0.9 * (len(ordered) - 1))]
    return statistics.median(ordered) * 1000, p90 * 1000, ordered[-1] * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=40)
    parser.add_argument(
        "--store", default="sqlite", help="sqlite, or a redis:// or postgresql:// URI"
    )
    parser.add_argument("--poll", type=float, default=1.0, help="the poll_interval measured")
    options = parser.parse_args()
    rows = []
    document: dict[str, Any] = {"time": timestamp(), "store": options.store, "runs": {}}
    for name, poll in (("webhook-latency", options.poll), ("webhook-latency-ref", 0.01)):
        say(f"{name}: poll_interval {poll} s, {options.messages} messages")
        latencies = measure(name, options.store, poll, options.messages)
        median, p90, worst = summary(latencies)
        document["runs"][name] = {"poll_interval": poll, "latencies": latencies}
        rows.append([name, f"{poll:g}", f"{median:.1f}", f"{p90:.1f}", f"{worst:.1f}"])
    ratio = (
        summary(document["runs"]["webhook-latency"]["latencies"])[0]
        / summary(document["runs"]["webhook-latency-ref"]["latencies"])[0]
    )
    table = markdown_table(["run", "poll_interval s", "median ms", "p90 ms", "max ms"], rows)
    table += f"\n\nmedian ratio, measured / reference: {ratio:.1f}\n"
    write_results("webhook_latency", document, table)
    print(table)


if __name__ == "__main__":
    main()
