"""Processes that only deliver notifications, started and watched by `herald serve`.

With `delivery_workers = N` the API processes write the outbox and send
nothing; N processes of their own lease it and deliver, so a delivery takes no
CPU from the requests. A delivery worker stops when its parent says (SIGTERM) or
as soon as its parent is gone; one that dies is started again. What a worker
held when it died goes out from another once its lease lapses.
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
from collections.abc import Mapping
from multiprocessing.process import BaseProcess

from herald.app import build
from herald.config import Settings, load_settings
from herald.logs import log_config

log = logging.getLogger("herald")

RESTART_DELAY = 1.0
"""Seconds at least between two starts of one worker, so that one that cannot start
does not spin."""

STOP_GRACE = 15.0
"""Seconds a worker has after SIGTERM to store the ends of its deliveries (the engine
waits at most 5) before it is killed."""


class DeliveryWorkers:
    """`count` delivery processes with the settings of `environ` (HERALD_* variables)."""

    def __init__(self, environ: Mapping[str, str], count: int) -> None:
        self._environ = dict(environ)
        self._context = multiprocessing.get_context("spawn")
        self._processes: list[BaseProcess | None] = [None] * count
        self._started = [0.0] * count
        self._stopping = threading.Event()
        self._wake_reader, self._wake_writer = os.pipe()
        self._watcher = threading.Thread(
            target=self._watch, name="herald-delivery-workers", daemon=True
        )

    @property
    def pids(self) -> list[int]:
        """The process ids of the workers running now."""
        return [p.pid for p in self._processes if p is not None and p.pid is not None]

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
            target=deliver,
            args=(self._environ, number + 1),
            name=f"herald-delivery-{number + 1}",
        )
        process.start()
        self._processes[number] = process
        self._started[number] = time.monotonic()

    def _watch(self) -> None:
        while not self._stopping.is_set():
            sentinels = [p.sentinel for p in self._processes if p is not None]
            multiprocessing.connection.wait([*sentinels, self._wake_reader])
            for number, process in enumerate(self._processes):
                if self._stopping.is_set():
                    return
                if process is None or process.is_alive():
                    continue
                log.warning(
                    "delivery worker %d (pid %s) %s; starting another",
                    number + 1,
                    process.pid,
                    _ending(process.exitcode),
                )
                process.close()
                self._processes[number] = None
                # Waits out the restart delay, unless a stop comes first.
                if self._stopping.wait(self._started[number] + RESTART_DELAY - time.monotonic()):
                    return
                self._start(number)


def _ending(code: int | None) -> str:
    if code is not None and code < 0:
        return f"was ended by {signal.Signals(-code).name}"
    return f"exited with code {code}"


def deliver(environ: Mapping[str, str], number: int) -> None:
    """A delivery worker's life: the settings of `environ`, the engine, until stopped."""
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
    # A terminal's Ctrl-C reaches the whole group: the parent decides when this stops
    # (it would start again a worker that ended before the parent began to stop).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    parent = multiprocessing.parent_process()
    if parent is not None:
        # Readable once the parent is gone, even by kill -9: nobody is left to stop us.
        loop.add_reader(parent.sentinel, stopped.set)
    herald = build(settings, role="deliver")
    await herald.start()
    log.info("delivery worker %d (pid %d) is delivering", number, os.getpid())
    try:
        await stopped.wait()
    finally:
        await herald.stop()
