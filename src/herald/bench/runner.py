"""Run a benchmark: prepare the queues, start the worker processes, show progress, merge."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime
import multiprocessing
import os
import queue as queue_module
import signal
import time
import uuid
from collections.abc import Callable, Coroutine
from multiprocessing.process import BaseProcess
from multiprocessing.queues import Queue as MPQueue
from multiprocessing.sharedctypes import Synchronized
from multiprocessing.synchronize import Event as MPEvent
from typing import Any

from herald.bench.client import Connection, ServerURL, build_request
from herald.bench.stats import RoleStats
from herald.bench.workload import ROLES, BenchConfig, Worker, header_block, message_body

# How often workers report their running totals for the progress line.
_TICK_SECONDS = 0.5


class BenchError(Exception):
    """The run could not be done: unreachable server, a refused setup request, dead workers."""


def _run_loop(coroutine: Coroutine[Any, Any, None]) -> None:
    """Run on uvloop where it is installed: it halves the client's cost per request."""
    try:
        import uvloop
    except ImportError:
        asyncio.run(coroutine)
    else:
        uvloop.run(coroutine)


def worker_main(
    config: BenchConfig,
    role: str,
    index: int,
    events: MPQueue[tuple[Any, ...]],
    go: MPEvent,
    start_at: Synchronized[float],
) -> None:
    """Entry point of one worker process."""
    # Ctrl-C reaches the whole process group: the parent alone handles it,
    # by terminating the workers.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    shape = config.shape(role)
    stats = RoleStats(role, processes=1, concurrency=shape.concurrency)
    worker = Worker(config, role, stats, seed=index * 7919 + os.getpid())
    events.put(("ready", index))
    if not go.wait(timeout=120):
        return

    async def main() -> None:
        async def tick() -> None:
            while True:
                await asyncio.sleep(_TICK_SECONDS)
                events.put(("tick", index, role, stats.requests, stats.messages, stats.error_count))

        ticker = asyncio.ensure_future(tick())
        try:
            await worker.run(start_at.value)
        finally:
            ticker.cancel()

    _run_loop(main())
    events.put(("done", index, stats))


@dataclasses.dataclass
class BenchResult:
    """Merged counters of a finished run."""

    config: BenchConfig
    started: str
    roles: dict[str, RoleStats]
    setup_seconds: float

    def report(self) -> dict[str, Any]:
        """The JSON document `--json` prints."""
        config = self.config
        return {
            "tool": "herald bench",
            "server": config.url,
            "started": self.started,
            "duration_s": config.duration,
            "warmup_s": config.warmup,
            "setup_s": round(self.setup_seconds, 3),
            "config": {
                "project": config.project,
                "queues": config.queues,
                "queue_prefix": config.queue_prefix,
                "message_size": config.message_size,
                "message_ttl": config.message_ttl,
                "messages_per_post": config.messages_per_post,
                "messages_per_claim": config.messages_per_claim,
                "messages_per_list": config.messages_per_list,
                "claim_ttl": config.claim_ttl,
                "claim_grace": config.claim_grace,
                "delete": "bulk" if config.bulk_delete else "each",
                "prefill": config.prefill,
                "producer": str(config.producer),
                "consumer": str(config.consumer),
                "observer": str(config.observer),
            },
            "roles": {name: s.report(config.duration) for name, s in self.roles.items()},
        }


async def prepare(config: BenchConfig) -> None:
    """Reset and create the queues, then prefill them; BenchError if the server says no."""
    server = ServerURL(config.url)
    headers = header_block(server, config.project, str(uuid.uuid4()))
    connection = Connection(server.host, server.port)

    async def call(connection: Connection, method: str, path: str, body: bytes = b"") -> int:
        request = build_request(method, server.prefix + path, headers, body)
        try:
            status, answer = await connection.send(request)
        except OSError as exc:
            raise BenchError(f"cannot reach the server at {config.url}: {exc}") from None
        if status >= 300:
            detail = answer[:300].decode(errors="replace")
            raise BenchError(f"{method} {path} answered {status}: {detail}")
        return status

    try:
        for name in config.queue_names:
            if config.reset:
                await call(connection, "DELETE", f"/v2/queues/{name}")
            await call(connection, "PUT", f"/v2/queues/{name}")
    finally:
        connection.close()
    if config.prefill <= 0:
        return
    one = message_body(config.message_size, config.message_ttl)
    # Stay well under the 256 KiB default cap on a POST body.
    batch = max(1, min(100, 200_000 // (len(one) + 1)))
    jobs: list[tuple[str, int]] = []
    for name in config.queue_names:
        left = config.prefill
        while left > 0:
            jobs.append((name, min(batch, left)))
            left -= batch

    async def poster() -> None:
        connection = Connection(server.host, server.port)
        try:
            while jobs:
                name, count = jobs.pop()
                body = b'{"messages":[' + b",".join([one] * count) + b"]}"
                await call(connection, "POST", f"/v2/queues/{name}/messages", body)
        finally:
            connection.close()

    await asyncio.gather(*(poster() for _ in range(8)))


def run_bench(
    config: BenchConfig, progress: Callable[[str, bool], None] | None = None
) -> BenchResult:
    """Run the whole benchmark; `progress(line, final)` is called about once a second."""
    active = any(config.shape(role).active for role in ROLES)
    if not active and not config.prefill:
        raise BenchError("no role has processes and concurrency: nothing to run")
    began = time.monotonic()
    if progress:
        progress(
            "preparing queues" + (f" (prefill {config.prefill} each)" if config.prefill else ""),
            False,
        )
    _run_loop(prepare(config))
    setup_seconds = time.monotonic() - began
    if not active:
        # Only filling the queues, e.g. for wrk's consumer scripts.
        return BenchResult(config, _now(), {}, setup_seconds)
    context = multiprocessing.get_context("spawn")
    events: MPQueue[tuple[Any, ...]] = context.Queue()
    go = context.Event()
    start_at = context.Value("d", 0.0)
    processes: list[BaseProcess] = []
    roles_of: list[str] = []
    for role in ROLES:
        shape = config.shape(role)
        if not shape.active:
            continue
        for _ in range(shape.processes):
            process = context.Process(
                target=worker_main,
                args=(config, role, len(processes), events, go, start_at),
                daemon=True,
            )
            process.start()
            processes.append(process)
            roles_of.append(role)
    try:
        return _drive(config, processes, roles_of, events, go, start_at, progress, setup_seconds)
    finally:
        for child in processes:
            if child.is_alive():
                child.terminate()
            child.join(timeout=5)


def _drive(
    config: BenchConfig,
    processes: list[BaseProcess],
    roles_of: list[str],
    events: MPQueue[tuple[Any, ...]],
    go: MPEvent,
    start_at: Synchronized[float],
    progress: Callable[[str, bool], None] | None,
    setup_seconds: float,
) -> BenchResult:
    ready: set[int] = set()
    deadline = time.monotonic() + 60
    while len(ready) < len(processes):
        try:
            hello = events.get(timeout=0.2)
        except queue_module.Empty:
            if any(not p.is_alive() for p in processes):
                raise BenchError("a worker process died while starting") from None
            if time.monotonic() > deadline:
                raise BenchError("the worker processes did not start within 60 s") from None
            continue
        if hello[0] == "ready":
            ready.add(hello[1])
    started = _now()
    start = time.monotonic() + 0.05
    start_at.value = start
    go.set()
    measured_from = start + config.warmup
    end = measured_from + config.duration
    totals: dict[int, tuple[str, int, int, int]] = {}
    results: dict[int, RoleStats] = {}
    last_shown = (start, dict[str, tuple[int, int]]())
    next_show = start + 1.0
    while len(results) < len(processes):
        now = time.monotonic()
        if now > end + 15:
            break
        event: tuple[Any, ...] | None
        try:
            event = events.get(timeout=0.1)
        except queue_module.Empty:
            event = None
        if event is not None:
            if event[0] == "tick":
                totals[event[1]] = (event[2], event[3], event[4], event[5])
            elif event[0] == "done":
                results[event[1]] = event[2]
        if event is None and all(
            not p.is_alive() for i, p in enumerate(processes) if i not in results
        ):
            # A worker may have exited just after the last read: its report is
            # already in the pipe, so drain it before giving up.
            _drain(events, results)
            break
        if progress and now >= next_show and now < end:
            last_shown = _show(progress, now, start, measured_from, config, totals, last_shown)
            next_show += 1.0
    missing = len(processes) - len(results)
    if missing:
        raise BenchError(f"{missing} worker process(es) did not report; see their errors above")
    merged: dict[str, RoleStats] = {}
    for index, stats in sorted(results.items()):
        role = roles_of[index]
        if role not in merged:
            merged[role] = RoleStats(role)
        merged[role].merge(stats)
    if progress:
        progress("", True)
    return BenchResult(config, started, merged, setup_seconds)


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")


def _drain(events: MPQueue[tuple[Any, ...]], results: dict[int, RoleStats]) -> None:
    while True:
        try:
            event = events.get(timeout=0.5)
        except queue_module.Empty:
            return
        if event[0] == "done":
            results[event[1]] = event[2]


def _show(
    progress: Callable[[str, bool], None],
    now: float,
    start: float,
    measured_from: float,
    config: BenchConfig,
    totals: dict[int, tuple[str, int, int, int]],
    last: tuple[float, dict[str, tuple[int, int]]],
) -> tuple[float, dict[str, tuple[int, int]]]:
    """Print one progress line; returns what the next line's rates are computed against."""
    per_role: dict[str, tuple[int, int]] = {}
    errors = 0
    for role, requests, messages, failed in totals.values():
        old = per_role.get(role, (0, 0))
        per_role[role] = (old[0] + requests, old[1] + messages)
        errors += failed
    if now < measured_from + 0.25:
        # Too little of the measured window yet for a rate that means anything.
        progress(f"[{now - start:5.1f}s] warming up", False)
        return now, per_role
    then, before = last
    elapsed = max(now - max(then, measured_from), 1e-3)
    parts = []
    for role in ROLES:
        if role in per_role:
            requests, messages = per_role[role]
            old_requests, old_messages = before.get(role, (0, 0))
            parts.append(
                f"{role} {(messages - old_messages) / elapsed:,.0f} msg/s "
                f"({(requests - old_requests) / elapsed:,.0f} req/s)"
            )
    window = f"{now - measured_from:4.1f}/{config.duration:g}s"
    progress(f"[{window}] " + "  ".join(parts) + f"  errors {errors}", False)
    return now, per_role


def progress_printer(stream: Any) -> Callable[[str, bool], None]:
    """A progress callback that rewrites one line on a terminal and prints lines elsewhere."""
    interactive = bool(getattr(stream, "isatty", lambda: False)())
    width = [0]

    def show(line: str, final: bool) -> None:
        if interactive:
            if final:
                stream.write("\r" + " " * width[0] + "\r")
            else:
                stream.write("\r" + line.ljust(width[0]))
                width[0] = max(width[0], len(line))
        elif line:
            stream.write(line + "\n")
        with contextlib.suppress(Exception):
            stream.flush()

    return show
