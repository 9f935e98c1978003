"""`herald serve --delivery-workers N`: processes that only deliver, watched by the server.

The API process then delivers nothing; a delivery worker that dies is replaced,
one whose parent dies stops, and a SIGKILL of every process loses no
acknowledged notification, on every backend.
"""

from __future__ import annotations

import os
import re
import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from metrics_support import counter, delivery, scrape_until, serve_metered
from support import ServerProcess, headers
from tagged_posts import (
    ENGINE,
    PROJECT,
    post_tags,
    post_until_killed,
    subscribe,
    wait_until_delivered,
)
from webhook_receiver import webhook_receiver

# Woken only by posts (the outbox watch), so that between them a worker holds nothing.
IDLE = {**ENGINE, "HERALD_NOTIFICATIONS_POLL_INTERVAL": "60"}
_STARTED = re.compile(r"delivery worker (\d+) \(pid (\d+)\) is delivering")


def delivery_worker_pids(server: ServerProcess, at_least: int = 1, within: float = 20) -> list[int]:
    """The pids of every delivery worker the server's log says has started, oldest first."""
    deadline = time.monotonic() + within
    while True:
        pids = [int(pid) for _, pid in _STARTED.findall(server.log.read_text())]
        if len(pids) >= at_least:
            return pids
        assert time.monotonic() < deadline, f"fewer than {at_least} delivery workers started"
        time.sleep(0.05)


def running(pid: int) -> bool:
    # A child its parent has not reaped yet is gone all the same.
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def gone_within(pid: int, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while running(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


@contextmanager
def paused(worker: int) -> Iterator[None]:
    """The worker stopped (SIGSTOP) for the block, once idle: never inside a transaction
    a post would wait for."""
    time.sleep(0.5)
    os.kill(worker, signal.SIGSTOP)
    try:
        yield
    finally:
        os.kill(worker, signal.SIGCONT)


def post_one(url: str, body: object) -> None:
    with httpx.Client(base_url=url, headers=headers(PROJECT), timeout=10) as api:
        answer = api.post("/v2/queues/events/messages", json={"messages": [{"body": body}]})
        assert answer.status_code == 201, answer.text


def test_the_api_process_delivers_nothing_and_the_delivery_worker_everything(
    tmp_path: Path,
) -> None:
    store = f"sqlite:///{tmp_path / 'herald.sqlite3'}"
    with webhook_receiver() as receiver:
        server = ServerProcess(store, tmp_path, "--delivery-workers", "1", env=IDLE).start()
        try:
            (worker,) = delivery_worker_pids(server)
            subscribe(server.url, receiver.url("/hook"))
            # With the only delivery worker stopped, a post is stored but nobody sends it.
            with paused(worker):
                post_one(server.url, {"n": 1})
                time.sleep(1.0)
                assert receiver.received("/hook") == []
            arrived = receiver.wait_for("/hook", 1, within=20)
            assert arrived[0].body["body"] == {"n": 1}
        finally:
            assert server.stop() == 0
        assert gone_within(worker, 5), "the delivery worker outlived its server's stop"


def test_a_killed_delivery_worker_is_replaced_and_what_it_held_still_arrives(
    tmp_path: Path,
) -> None:
    store = f"sqlite:///{tmp_path / 'herald.sqlite3'}"
    with webhook_receiver() as receiver:
        receiver.fail_every("/hook", 7)
        server = ServerProcess(store, tmp_path, "--delivery-workers", "1", env=ENGINE).start()
        try:
            (first,) = delivery_worker_pids(server)
            subscribe(server.url, receiver.url("/hook"))
            acknowledged: list[str] = []
            stop = threading.Event()
            writer = threading.Thread(target=post_tags, args=(server.url, acknowledged, stop, 300))
            writer.start()
            receiver.wait_for("/hook", 20)
            os.kill(first, signal.SIGKILL)
            writer.join(timeout=120)
            assert len(acknowledged) == 300, "the API process stopped taking posts"
            pids = delivery_worker_pids(server, at_least=2)
            assert pids[0] == first and pids[1] != first
            ended = f"delivery worker 1 (pid {first}) was ended by SIGKILL"
            assert ended in server.log.read_text()
            wait_until_delivered(receiver, "/hook", acknowledged)
        finally:
            assert server.stop() == 0


def test_a_delivery_worker_stops_when_its_server_is_killed(tmp_path: Path) -> None:
    store = f"sqlite:///{tmp_path / 'herald.sqlite3'}"
    server = ServerProcess(store, tmp_path, "--delivery-workers", "2").start()
    workers = delivery_worker_pids(server, at_least=2)
    server.kill()
    for pid in workers:
        assert gone_within(pid, 10), f"delivery worker {pid} outlived its killed server"


def test_sigkill_of_every_process_loses_no_acknowledged_notification(
    store_uri: str, tmp_path: Path
) -> None:
    with webhook_receiver() as receiver:
        receiver.fail_every("/hook", 7)
        args = ("--delivery-workers", "1")
        server = ServerProcess(store_uri, tmp_path, *args, env=ENGINE).start()
        (worker,) = delivery_worker_pids(server)
        subscribe(server.url, receiver.url("/hook"))

        def kill_everything() -> None:
            # The delivery worker first, so that it cannot finish anything once its
            # parent is gone: the whole service dies at once, as in a power cut.
            os.kill(worker, signal.SIGKILL)
            server.kill()

        acknowledged = post_until_killed(server.url, receiver, "/hook", kill_everything)
        restarted = ServerProcess(store_uri, tmp_path, *args, env=ENGINE).start()
        try:
            wait_until_delivered(receiver, "/hook", acknowledged)
        finally:
            assert restarted.stop() == 0


@pytest.mark.parametrize("workers", ["1", "2"])
def test_metrics_add_up_the_delivery_workers_counts(tmp_path: Path, workers: str) -> None:
    store = f"sqlite:///{tmp_path / 'herald.sqlite3'}"
    with webhook_receiver() as receiver:
        server, metrics_port = serve_metered(
            store, tmp_path, "--workers", workers, "--delivery-workers", "1", env=ENGINE
        )
        try:
            subscribe(server.url, receiver.url("/hook"))
            for n in range(3):
                post_one(server.url, {"n": n})
            receiver.wait_for("/hook", 3)
            delivered = delivery("webhook", "delivered")
            after = scrape_until(metrics_port, lambda samples: samples.get(delivered) == 3)
            assert after[counter("messages_posted")] == 3
            # Every process counting has its store up, the delivery worker's included.
            assert after["herald_store_up", ()] == 1
            # One API process still shows its own CPU and memory, as without the files.
            own = any(name == "process_cpu_seconds_total" for name, _ in after)
            assert own == (workers == "1")
        finally:
            assert server.stop() == 0


def test_the_backlog_shows_while_no_delivery_worker_runs(tmp_path: Path) -> None:
    store = f"sqlite:///{tmp_path / 'herald.sqlite3'}"
    env = {**IDLE, "HERALD_METRICS_DEPTH_INTERVAL": "1"}
    with webhook_receiver() as receiver:
        server, metrics_port = serve_metered(store, tmp_path, "--delivery-workers", "1", env=env)
        try:
            (worker,) = delivery_worker_pids(server)
            subscribe(server.url, receiver.url("/hook"))
            backlog = ("herald_notification_backlog", ())
            with paused(worker):
                for n in range(2):
                    post_one(server.url, {"n": n})
                # The API process samples it: a stopped worker is when it matters.
                scrape_until(metrics_port, lambda samples: samples.get(backlog) == 2)
            receiver.wait_for("/hook", 2)
            scrape_until(metrics_port, lambda samples: samples.get(backlog) == 0)
        finally:
            assert server.stop() == 0
