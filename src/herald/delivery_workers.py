"""Processes that only deliver notifications, started and watched by `herald serve`.

With `delivery_workers = N` the API processes write the outbox and send only
confirmation notices; N processes of their own lease it and deliver, so a
delivery takes no CPU from the requests. A delivery worker stops when its parent
says (SIGTERM) or as soon as its parent is gone; one that dies is started again,
ever more slowly while it keeps dying young. What a worker held when it died goes
out from another once its lease lapses.
"""

from __future__ import annotations

import asyncio
import logging
import logging.config
import multiprocessing
import multiprocessing.connection
import os
import signal
import threading
import time
from collections.abc import Callable, Mapping
from multiprocessing.process import BaseProcess

from herald.app import build
from herald.config import Settings, load_settings
from herald.logs import log_config

log = logging.getLogger("herald")

RESTART_DELAY = 1.0
"""Seconds before a worker that died is started again; doubled, up to `MAX_RESTART_DELAY`,
each time one dies within `HEALTHY_AFTER` of its start, so that one that cannot start
(its store unreachable, say) costs a spawn a minute, not a core."""

MAX_RESTART_DELAY = 60.0
HEALTHY_AFTER = 30.0

STOP_GRACE = 15.0
"""Seconds a worker has after SIGTERM to store the ends of its deliveries (the engine
waits at most 5) before it is killed."""


class DeliveryWorkers:
    """`count` delivery processes with the settings of `environ` (HERALD_* variables)."""

    def __init__(
        self,
        environ: Mapping[str, str],
        count: int,
        *,
        target: Callable[[Mapping[str, str], int], None] | None = None,
        restart_delay: float = RESTART_DELAY,
        max_restart_delay: float = MAX_RESTART_DELAY,
        healthy_after: float = HEALTHY_AFTER,
    ) -> None:
        self._environ = dict(environ)
        self._target = target or deliver
        self._context = multiprocessing.get_context("spawn")
        self._processes: list[BaseProcess | None] = [None] * count
        self._started = [0.0] * count
        self._restart_delay = restart_delay
        self._max_restart_delay = max_restart_delay
        self._healthy_after = healthy_after
        self._delays = [restart_delay] * count
        self._stopping = threading.Event()
        self._wake_reader, self._wake_writer = os.pipe()
        self._watcher = threading.Thread(
            target=self._watch, name="herald-delivery-workers", daemon=True
        )

    def start(self) -> None:
        """Start every worker, and the thread that starts again any that dies."""
        for number in range(len(self._processes)):
            self._start(number)
        self._watcher.start()

    def stop(self) -> None:
        """Ask every worker to stop, wait up to `STOP_GRACE` for each, kill what is left."""
        self._stopping.set()
        os.write(self._wake_writer, b"x")
        if self._watcher.is_alive():
            self._watcher.join()
        running = [p for p in self._processes if p is not None]
        for process in running:
            if process.is_alive():
                process.terminate()
        deadline = time.monotonic() + STOP_GRACE
        for process in running:
            process.join(max(0.0, deadline - time.monotonic()))
            if process.is_alive():
                log.warning("delivery worker pid %s did not stop in time; killing it", process.pid)
                process.kill()
                process.join()
        os.close(self._wake_reader)
        os.close(self._wake_writer)

    def _start(self, number: int) -> None:
        process = self._context.Process(
            target=self._target,
            args=(self._environ, number + 1),
            name=f"herald-delivery-{number + 1}",
        )
        self._started[number] = time.monotonic()
        process.start()
        self._processes[number] = process

    def _watch(self) -> None:
        due: dict[int, float] = {}
        while not self._stopping.is_set():
            sentinels = [p.sentinel for p in self._processes if p is not None]
            timeout = max(0.0, min(due.values()) - time.monotonic()) if due else None
            multiprocessing.connection.wait([*sentinels, self._wake_reader], timeout)
            if self._stopping.is_set():
                return
            for number, process in enumerate(self._processes):
                if process is not None and not process.is_alive():
                    due[number] = self._ended(number, process)
            for number, when in list(due.items()):
                if when <= time.monotonic():
                    del due[number]
                    try:
                        self._start(number)
                    except Exception as exc:
                        # Out of processes or files, say: try again later, never give up.
                        log.error("delivery worker %d cannot be started: %s", number + 1, exc)
                        due[number] = self._backoff(number)

    def _ended(self, number: int, process: BaseProcess) -> float:
        """Note a worker's end; when to start the next."""
        self._processes[number] = None
        log.warning(
            "delivery worker %d (pid %s) %s; starting another",
            number + 1,
            process.pid,
            _ending(process.exitcode),
        )
        process.close()
        return self._backoff(number)

    def _backoff(self, number: int) -> float:
        if time.monotonic() - self._started[number] >= self._healthy_after:
            self._delays[number] = self._restart_delay
        delay = self._delays[number]
        self._delays[number] = min(delay * 2, self._max_restart_delay)
        return time.monotonic() + delay


def _ending(code: int | None) -> str:
    if code is not None and code < 0:
        try:
            return f"was ended by {signal.Signals(-code).name}"
        except ValueError:
            return f"was ended by signal {-code}"
    return f"exited with code {code}"


def deliver(environ: Mapping[str, str], number: int) -> None:
    """A delivery worker's life: the settings of `environ`, the engine, until stopped."""
    # A terminal's Ctrl-C reaches the whole group: the parent decides when this stops.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    settings = load_settings(None, environ=environ)
    logging.config.dictConfig(log_config(settings.log_format, settings.log_level))
    import uvloop

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        try:
            runner.run(_deliver_until_stopped(settings, number))
        except Exception as exc:
            log.error("delivery worker %d cannot deliver: %s", number, exc)
            raise SystemExit(1) from None


async def _deliver_until_stopped(settings: Settings, number: int) -> None:
    loop = asyncio.get_running_loop()
    stopped = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stopped.set)
    parent = multiprocessing.parent_process()
    if parent is not None:
        sentinel = parent.sentinel

        def orphaned() -> None:
            # Readable from the parent's death on (even by kill -9), and for good.
            loop.remove_reader(sentinel)
            stopped.set()

        loop.add_reader(sentinel, orphaned)
    herald = build(settings, role="deliver")
    await herald.start()
    log.info("delivery worker %d (pid %d) is delivering", number, os.getpid())
    try:
        await stopped.wait()
    finally:
        await herald.stop()
