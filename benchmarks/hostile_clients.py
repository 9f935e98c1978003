"""Hostile clients against one Herald: a 50 MB header, and idle connections on few files.

Huge header: one process sends requests whose head is 50 MB (one header line,
or many short ones), back to back on fresh connections, while an ordinary
client sends `GET /v2/queues` on one keep-alive connection at a steady pace;
the ordinary client's latency is measured in quiet phases and attack phases
that take turns, with the server's CPU and resident set.

Idle connections: Herald runs with an open-files limit of 1,024 that start-up
cannot raise (soft = hard), and with a short head timeout; 1,100 connections
open and send nothing, a head that never ends, or a whole head and then a body
that trickles, while a new client tries to be served every 100 ms. The same
with max_connections below the limit, and with the limit start-up raises to
the hard limit, for comparison.

    python benchmarks/hostile_clients.py --rounds 3 --duration 5
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import resource
import socket
import statistics
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

from benchlib import (
    Server,
    api_json,
    cpu_seconds,
    herald_sqlite,
    machine,
    markdown_table,
    memory_mib,
    say,
    timestamp,
    write_results,
)

from herald.transport.http.protocol import LINGER_SECONDS

CLIENT_ID = "3c5a6d8e-2b1f-4e7a-9c0d-6f4b2a1e8d35"
PROJECT = "herald-bench"
LIST_REQUEST = (
    "GET /v2/queues HTTP/1.1\r\nHost: 127.0.0.1\r\n"
    f"Client-ID: {CLIENT_ID}\r\nX-Project-ID: {PROJECT}\r\n\r\n"
).encode()
SHAPES = {"one": "one header line", "many": "100-byte header lines"}
# What each kind of idle connection sends first, and then every half second.
IDLE_KINDS = {
    "silent": (b"", b""),
    "slowloris": (b"GET /v2/queues HTTP/1.1\r\nHost: 127.0.0.1\r\n", b"X-Still-Here: 1\r\n"),
    "slowbody": (
        b"POST /v2/queues/idle/messages HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        + f"Client-ID: {CLIENT_ID}\r\nX-Project-ID: {PROJECT}\r\n".encode()
        + b"Content-Type: application/json\r\nContent-Length: 100000\r\n\r\n",
        b" ",
    ),
}
IDLE_LABELS = {
    "silent": "nothing",
    "slowloris": "a partial head, a line every 0.5 s",
    "slowbody": "a whole head, then a body byte every 0.5 s",
}


# Huge header


def huge_head(shape: str, size: int) -> bytes:
    """A request head of about `size` bytes, far beyond Herald's limits."""
    start = b"GET /v2/queues HTTP/1.1\r\nHost: 127.0.0.1\r\n"
    if shape == "one":
        return start + b"X-Filler: " + b"a" * size + b"\r\n\r\n"
    line = b"X-Filler: " + b"a" * 88 + b"\r\n"
    return start + line * (size // len(line)) + b"\r\n"


def attack_once(port: int, payload: bytes) -> tuple[str, int]:
    """Send one huge head on a new connection; what came back, and the bytes sent."""
    sent = 0
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        view = memoryview(payload)
        try:
            while sent < len(payload):
                sent += sock.send(view[sent : sent + 4 * 2**20])
            answer = sock.recv(4096)
        except OSError as exc:
            return type(exc).__name__, sent
    if not answer:
        return "closed without answer", sent
    return answer.split(b" ", 2)[1].decode(errors="replace"), sent


def attacker(port: int, size: int, commands: Any, results: Any) -> None:
    """A process that attacks for each (shape, seconds) it is sent, and reports what it did."""
    payloads: dict[str, bytes] = {}
    while True:
        command = commands.get()
        if command is None:
            return
        shape, seconds = command
        if shape not in payloads:
            payloads[shape] = huge_head(shape, size)
        outcomes: Counter[str] = Counter()
        sent = 0
        attempt_s: list[float] = []
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            began = time.monotonic()
            try:
                outcome, count = attack_once(port, payloads[shape])
            except OSError as exc:
                outcome, count = type(exc).__name__, 0
            attempt_s.append(time.monotonic() - began)
            outcomes[outcome] += 1
            sent += count
        results.put(
            {
                "attempts": len(attempt_s),
                "outcomes": dict(outcomes),
                "mib_sent": round(sent / 2**20, 1),
                "attempt_ms_median": round(statistics.median(attempt_s) * 1000, 2),
            }
        )


class KeepAliveClient:
    """An ordinary client: one request at a time on one keep-alive connection."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.sock: socket.socket | None = None
        self.connects = 0

    def _connect(self) -> socket.socket:
        sock = socket.create_connection(("127.0.0.1", self.port), timeout=30)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.connects += 1
        self.sock = sock
        return sock

    def get(self) -> int:
        """One `GET /v2/queues`; its status."""
        sock = self.sock or self._connect()
        sock.sendall(LIST_REQUEST)
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(65536)
            if not chunk:
                self.close()
                raise ConnectionError("the server closed the connection")
            data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        fields = dict(line.lower().split(": ", 1) for line in lines[1:] if ": " in line)
        missing = int(fields.get("content-length", "0")) - len(body)
        while missing > 0:
            chunk = sock.recv(missing)
            if not chunk:
                self.close()
                raise ConnectionError("the server closed the connection within an answer")
            missing -= len(chunk)
        if fields.get("connection") == "close":
            self.close()
        return int(lines[0].split(" ", 2)[1])

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None


def paced_requests(
    client: KeepAliveClient, seconds: float, interval: float, pid: int
) -> dict[str, Any]:
    """Requests every `interval` seconds for `seconds`: latencies, failures, the server's RSS."""
    latencies: list[float] = []
    failures: Counter[str] = Counter()
    rss_peak = 0.0
    cpu_before = cpu_seconds(pid)
    began = time.monotonic()
    due = began
    while due < began + seconds:
        pause = due - time.monotonic()
        if pause > 0:
            time.sleep(pause)
        sent = time.perf_counter()
        try:
            status = client.get()
        except OSError as exc:
            failures[type(exc).__name__] += 1
        else:
            latencies.append((time.perf_counter() - sent) * 1000)
            if status != 200:
                failures[f"status {status}"] += 1
        if len(latencies) % 10 == 0:
            rss_peak = max(rss_peak, memory_mib(pid)[0])
        due += interval
    wall = time.monotonic() - began
    return {
        "latencies_ms": latencies,
        "failures": dict(failures),
        "rss_peak_mib": round(max(rss_peak, memory_mib(pid)[0]), 1),
        "server_cpu_percent": round((cpu_seconds(pid) - cpu_before) / wall * 100, 1),
    }


def huge_header(args: argparse.Namespace) -> dict[str, Any]:
    """Quiet and attack phases taking turns; per phase the ordinary client's latencies."""
    server = herald_sqlite("hostile-header").start()
    assert server.process is not None
    pid = server.process.pid
    for i in range(10):
        api_json(server.url, "PUT", f"/v2/queues/hostile-{i}", {}, project=PROJECT)
    shapes = [s for s in args.shapes.split(",") if s]
    context = multiprocessing.get_context("spawn")
    commands = context.Queue()
    results = context.Queue()
    size = int(args.header_mb * 10**6)
    process = context.Process(target=attacker, args=(server.port, size, commands, results))
    process.start()
    client = KeepAliveClient(server.port)
    phases: list[dict[str, Any]] = []
    try:
        paced_requests(client, 1.0, args.interval, pid)
        hwm_before = memory_mib(pid)[1]
        names = ["quiet", *shapes]
        for round_ in range(args.rounds):
            shift = round_ % len(names)
            for name in names[shift:] + names[:shift]:
                if name != "quiet":
                    commands.put((name, args.duration))
                run = paced_requests(client, args.duration, args.interval, pid)
                if name != "quiet":
                    run["attacker"] = results.get(timeout=args.duration + 60)
                run.update(phase=name, round=round_ + 1)
                phases.append(run)
                say(f"round {round_ + 1} {name:<5} {_latency_line(run['latencies_ms'])}")
        hwm_after = memory_mib(pid)[1]
    finally:
        commands.put(None)
        process.join(timeout=30)
        if process.is_alive():
            process.terminate()
        client.close()
        server.stop()
    return {
        "header_bytes": size,
        "interval_s": args.interval,
        "vmhwm_before_attacks_mib": round(hwm_before, 1),
        "vmhwm_after_attacks_mib": round(hwm_after, 1),
        "reconnects": client.connects - 1,
        "phases": phases,
    }


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))] if ordered else 0.0


def _latency_line(latencies: list[float]) -> str:
    return (
        f"{len(latencies)} requests, p50 {_percentile(latencies, 0.5):.2f} ms, "
        f"p99 {_percentile(latencies, 0.99):.2f} ms, max {max(latencies, default=0):.2f} ms"
    )


def render_header(result: dict[str, Any], target_ms: float) -> str:
    rows = []
    quiet: list[float] = []
    for name in ["quiet", *SHAPES]:
        runs = [p for p in result["phases"] if p["phase"] == name]
        if not runs:
            continue
        latencies = [x for p in runs for x in p["latencies_ms"]]
        if name == "quiet":
            quiet = latencies
        failures: Counter[str] = Counter()
        for p in runs:
            failures.update(p["failures"])
        attempts = sum(p["attacker"]["attempts"] for p in runs) if name != "quiet" else 0
        sent_gb = sum(p["attacker"]["mib_sent"] for p in runs if "attacker" in p) * 2**20 / 1e9
        outcomes: Counter[str] = Counter()
        for p in runs:
            outcomes.update(p.get("attacker", {}).get("outcomes", {}))
        worst = max(latencies, default=0.0)
        verdict = ratio = ""
        if name != "quiet" and quiet:
            delay = worst - _percentile(quiet, 0.5)
            verdict = f"{delay:.1f} ms ({'met' if delay <= target_ms else 'missed'})"
            ratio = f"{_percentile(latencies, 0.99) / _percentile(quiet, 0.99):.1f}x"
        rows.append(
            [
                "no attacker" if name == "quiet" else f"attacker: {SHAPES[name]}",
                f"{len(latencies):,}",
                f"{_percentile(latencies, 0.5):.2f}",
                f"{_percentile(latencies, 0.99):.2f}",
                f"{worst:.2f}",
                ratio or "-",
                verdict or "-",
                ", ".join(f"{k} {v}" for k, v in sorted(failures.items())) or "0",
                f"{statistics.median(p['server_cpu_percent'] for p in runs):.0f} %",
                f"{max(p['rss_peak_mib'] for p in runs):.1f}",
                (
                    f"{attempts:,} ({', '.join(f'{k}: {v:,}' for k, v in outcomes.items())}), "
                    f"{sent_gb:,.1f} GB"
                    if attempts
                    else "-"
                ),
            ]
        )
    header = [
        "phase",
        "requests",
        "p50 ms",
        "p99 ms",
        "max ms",
        "p99 vs no attacker",
        f"delay at worst (max - quiet p50; target ≤ {target_ms:g} ms)",
        "failed requests",
        "server CPU (median)",
        "server VmRSS peak MiB",
        "attacker's heads (answers), bytes sent",
    ]
    return "\n".join(
        [
            f"Ordinary client: `GET /v2/queues` every {result['interval_s'] * 1000:g} ms on one "
            f"keep-alive connection; attacker: heads of {result['header_bytes'] / 1e6:g} MB "
            "back to back, each on a new connection. Server VmHWM before the attacks "
            f"{result['vmhwm_before_attacks_mib']} MiB, after them "
            f"{result['vmhwm_after_attacks_mib']} MiB; the ordinary client reconnected "
            f"{result['reconnects']} times.",
            "",
            markdown_table(header, rows),
        ]
    )


# Idle connections


def open_files_limit(soft: int, hard: int) -> Callable[[], None]:
    """What a server's child process runs before exec to get these open-files limits."""

    def apply() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))

    return apply


def open_files(pid: int) -> int:
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return 0


def banner_limit(server: Server) -> str:
    """The open-files line the server printed at start-up."""
    for line in server.log.read_text(errors="replace").splitlines():
        if line.startswith("herald: open files limit"):
            return line.removeprefix("herald: ")
    return "?"


class Idler:
    """A connection that sends nothing, or a head that never ends, and notes what it gets."""

    def __init__(self) -> None:
        self.answer = b""
        self.ended_at: float | None = None
        self.answered_at: float | None = None
        self.error = ""
        self.writer: asyncio.StreamWriter | None = None

    async def hold(self, port: int, kind: str, close_on_answer: bool, t0: float) -> None:
        loop = asyncio.get_running_loop()
        try:
            reader, self.writer = await asyncio.open_connection("127.0.0.1", port)
            self.writer.write(IDLE_KINDS[kind][0])
            while True:
                chunk = await reader.read(4096)
                if not chunk:
                    break
                if not self.answer:
                    self.answered_at = loop.time() - t0
                self.answer += chunk
                if close_on_answer:
                    break
        except OSError as exc:
            self.error = type(exc).__name__
        self.ended_at = loop.time() - t0
        if close_on_answer and self.writer is not None:
            self.writer.close()

    def trickle(self, kind: str) -> None:
        """A little more of a request that never ends."""
        if self.writer is not None and self.ended_at is None and not self.writer.is_closing():
            self.writer.write(IDLE_KINDS[kind][1])

    @property
    def outcome(self) -> str:
        if self.answer.startswith(b"HTTP/1.1 "):
            return self.answer.split(b" ", 2)[1].decode()
        return "closed unanswered" if self.ended_at is not None else "still open"


async def probe(port: int, timeout: float) -> str:
    """A new client's `GET /v2/queues` on a new connection: its status, or how it failed."""
    writer = None
    try:
        async with asyncio.timeout(timeout):
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(LIST_REQUEST)
            line = await reader.readline()
    except TimeoutError:
        return "no answer in time"
    except OSError as exc:
        return type(exc).__name__
    finally:
        if writer is not None:
            writer.close()
    if not line:
        return "closed unanswered"
    return line.split(b" ", 2)[1].decode(errors="replace")


async def idle_run(
    server: Server, kind: str, close_on_answer: bool, args: argparse.Namespace
) -> dict[str, Any]:
    """Open the idle connections, then probe until a new client is served and they are done."""
    assert server.process is not None
    pid = server.process.pid
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    idlers = [Idler() for _ in range(args.idle)]
    tasks = [asyncio.create_task(i.hold(server.port, kind, close_on_answer, t0)) for i in idlers]
    # Every connect is done once each idler has its writer or has failed.
    connect_bound = loop.time() + 30
    while loop.time() < connect_bound and any(
        i.writer is None and i.ended_at is None for i in idlers
    ):
        await asyncio.sleep(0.01)
    opened = loop.time() - t0
    files_peak = open_files(pid)
    probes: list[dict[str, Any]] = []
    served_at: float | None = None
    bound = t0 + args.head_timeout * 2 + LINGER_SECONDS + 10
    next_trickle = t0 + 0.5
    while loop.time() < bound:
        now = loop.time()
        if IDLE_KINDS[kind][1] and now >= next_trickle:
            for i in idlers:
                i.trickle(kind)
            next_trickle = now + 0.5
        if served_at is None:
            began = loop.time() - t0
            outcome = await probe(server.port, args.probe_timeout)
            ended = loop.time() - t0
            probes.append(
                {"at_s": round(began, 3), "took_s": round(ended - began, 3), "outcome": outcome}
            )
            if outcome == "200":
                served_at = ended
        elif all(i.ended_at is not None for i in idlers):
            break
        files_peak = max(files_peak, open_files(pid))
        await asyncio.sleep(args.probe_interval)
    for i in idlers:
        if i.writer is not None:
            i.writer.close()
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    outcomes = Counter(i.outcome for i in idlers)
    answered = sorted(i.answered_at for i in idlers if i.answered_at is not None)
    failed = Counter(p["outcome"] for p in probes if p["outcome"] != "200")
    return {
        "served_after_s": None if served_at is None else round(served_at, 3),
        "connects_s": round(opened, 3),
        "bound_s": round(bound - t0, 3),
        "probes_failed": dict(failed),
        "idle_outcomes": dict(outcomes),
        "answers_at_s_median": round(statistics.median(answered), 3) if answered else None,
        "server_files_peak": files_peak,
        "probes": probes,
    }


def settle(pid: int, files: int, limit_s: float = 30) -> None:
    """Wait until the server holds no more files than it did at rest."""
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline and open_files(pid) > files:
        time.sleep(0.1)


def idle_connections(args: argparse.Namespace) -> dict[str, Any]:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    # This process holds every idle connection and the probes at once.
    if soft < args.idle + 100 <= hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    elif soft < args.idle + 100:
        raise SystemExit(f"this process may open {soft} files, fewer than --idle needs")
    limits = {
        "pinned": (args.low_limit, args.low_limit),
        "capped": (args.low_limit, args.low_limit),
        "raised": (args.low_limit, hard),
    }
    cases = [
        ("pinned", "silent", False),
        ("pinned", "silent", True),
        ("pinned", "slowloris", False),
        ("pinned", "slowbody", False),
        ("capped", "silent", False),
        ("raised", "silent", False),
    ]
    # A body gets as long as a head: the trickled-body case then ends on the same scale.
    env = {
        "HERALD_HEAD_TIMEOUT": str(args.head_timeout),
        "HERALD_BODY_DEADLINE": str(args.head_timeout),
    }
    servers = {
        key: herald_sqlite(
            f"hostile-idle-{key}",
            env={**env, "HERALD_MAX_CONNECTIONS": str(args.capped)} if key == "capped" else env,
            preexec=open_files_limit(*limit),
        )
        for key, limit in limits.items()
    }
    runs: list[dict[str, Any]] = []
    try:
        for server in servers.values():
            server.start()
        rest = {key: open_files(s.process.pid) for key, s in servers.items() if s.process}
        for round_ in range(args.rounds):
            for key, kind, close_on_answer in cases:
                server = servers[key]
                assert server.process is not None
                settle(server.process.pid, rest[key])
                run = asyncio.run(idle_run(server, kind, close_on_answer, args))
                run.update(
                    round=round_ + 1,
                    limit=key,
                    kind=kind,
                    idlers_close=close_on_answer,
                    banner=banner_limit(server),
                    files_at_rest=rest[key],
                )
                runs.append(run)
                say(
                    f"round {round_ + 1} {key} {kind} close={close_on_answer}: served after "
                    f"{run['served_after_s']} s, probes failed {run['probes_failed']}, "
                    f"idlers {run['idle_outcomes']}, files peak {run['server_files_peak']}"
                )
    finally:
        for server in servers.values():
            server.stop()
    return {
        "idle": args.idle,
        "max_connections_capped": args.capped,
        "head_timeout_s": args.head_timeout,
        "probe_interval_s": args.probe_interval,
        "probe_timeout_s": args.probe_timeout,
        "runs": runs,
    }


def render_idle(result: dict[str, Any]) -> str:
    rows = []
    seen: list[tuple[str, str, bool]] = []
    for run in result["runs"]:
        case = (run["limit"], run["kind"], run["idlers_close"])
        if case not in seen:
            seen.append(case)
    for limit, kind, close in seen:
        runs = [
            r
            for r in result["runs"]
            if (r["limit"], r["kind"], r["idlers_close"]) == (limit, kind, close)
        ]
        served = [r["served_after_s"] for r in runs if r["served_after_s"] is not None]
        failed: Counter[str] = Counter()
        outcomes: Counter[str] = Counter()
        for r in runs:
            failed.update(r["probes_failed"])
            outcomes.update(r["idle_outcomes"])
        per_run = len(runs)
        answers = [r["answers_at_s_median"] for r in runs if r["answers_at_s_median"] is not None]
        banner = runs[0]["banner"]
        if limit == "capped":
            banner += f", max_connections {result['max_connections_capped']:,}"
        rows.append(
            [
                banner,
                IDLE_LABELS[kind],
                "on the answer" if close else "never",
                (
                    f"{statistics.median(served):.2f} ({min(served):.2f}-{max(served):.2f})"
                    if served
                    else f"not within {runs[0]['bound_s']:g} s"
                ),
                ", ".join(f"{k}: {v / per_run:.0f}" for k, v in sorted(failed.items())) or "0",
                ", ".join(f"{k}: {v / per_run:.0f}" for k, v in sorted(outcomes.items())),
                f"{statistics.median(answers):.2f}" if answers else "-",
                f"{max(r['server_files_peak'] for r in runs):,}",
            ]
        )
    connects = statistics.median(r["connects_s"] for r in result["runs"])
    header = [
        "server's open-files limit",
        "idle connections send",
        "they close",
        "new client served after, s (median, range)",
        "failed attempts before, per run",
        "what the idle connections got, per run",
        "408s came at, s (median)",
        "server files peak",
    ]
    return "\n".join(
        [
            f"{result['idle']:,} idle connections, head timeout {result['head_timeout_s']:g} s; "
            f"a new client tries `GET /v2/queues` on a new connection every "
            f"{result['probe_interval_s'] * 1000:g} ms (each try given "
            f"{result['probe_timeout_s']:g} s); times from the first idle connect (all "
            f"{result['idle']:,} were open after {connects:.2f} s, median); counts per run, "
            f"mean of {len(result['runs']) // len(seen)}.",
            "",
            markdown_table(header, rows),
        ]
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add = parser.add_argument
    add("--scenarios", default="header,idle", help="comma-separated subset of %(default)s")
    add("--rounds", type=int, default=3)
    add("--duration", type=float, default=5.0, help="seconds per phase of the header scenario")
    add("--header-mb", type=float, default=50.0, help="size of the attacker's heads, MB")
    add("--shapes", default="one,many", help="attacker's heads: one long line, many lines")
    add("--interval", type=float, default=0.005, help="ordinary client's pace, seconds")
    add("--target-ms", type=float, default=100.0, help="the delay the issue allows")
    add("--idle", type=int, default=1100, help="idle connections")
    add("--low-limit", type=int, default=1024, help="the server's open-files soft limit")
    add("--head-timeout", type=float, default=2.0, help="the server's head timeout, seconds")
    add("--capped", type=int, default=900, help="max_connections of the capped server")
    add("--probe-interval", type=float, default=0.1)
    add("--probe-timeout", type=float, default=1.0)
    args = parser.parse_args(argv)
    scenarios = {s for s in args.scenarios.split(",") if s}
    info = machine()
    document: dict[str, Any] = {"machine": info, "settings": vars(args)}
    parts = [f"Load average at start {info['load_average']} on {info['cores']} cores."]
    if "header" in scenarios:
        document["huge_header"] = huge_header(args)
        parts += ["", "## Huge header", "", render_header(document["huge_header"], args.target_ms)]
    if "idle" in scenarios:
        document["idle_connections"] = idle_connections(args)
        parts += ["", "## Idle connections", "", render_idle(document["idle_connections"])]
    markdown = "\n".join(parts)
    json_path, md_path = write_results(f"hostile-{timestamp()}", document, markdown)
    print(markdown)
    say(f"wrote {json_path} and {md_path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
