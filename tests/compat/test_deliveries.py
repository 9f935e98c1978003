"""Deliveries by real `herald serve` processes on every backend: SIGKILL mid-delivery loses
nothing acknowledged, and two processes on one store share the outbox without duplicates."""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter
from pathlib import Path

import httpx

from support import ServerProcess, headers
from webhook_receiver import Receiver, webhook_receiver

PROJECT = "deliveries"
# Short leases so that what a killed process held comes back within the test.
ENGINE = {
    "HERALD_NOTIFICATIONS_POLL_INTERVAL": "0.05",
    "HERALD_NOTIFICATIONS_WEBHOOK_TIMEOUT": "2",
    "HERALD_NOTIFICATIONS_LEASE": "4",
}


def subscribe(url: str, subscriber: str, queue: str = "events") -> None:
    with httpx.Client(base_url=url, headers=headers(PROJECT), timeout=10) as api:
        answer = api.post(f"/v2/queues/{queue}/subscriptions", json={"subscriber": subscriber})
        assert answer.status_code == 201, answer.text


def post_tags(url: str, acknowledged: list[str], stop: threading.Event, count: int) -> None:
    """Post tagged messages until told to stop, refused, or `count` are posted."""
    with httpx.Client(base_url=url, headers=headers(PROJECT), timeout=5) as api:
        while not stop.is_set() and len(acknowledged) < count:
            tag = uuid.uuid4().hex
            try:
                answer = api.post(
                    "/v2/queues/events/messages", json={"messages": [{"body": {"tag": tag}}]}
                )
            except httpx.TransportError:
                return
            if answer.status_code == 201:
                acknowledged.append(tag)


def delivered_tags(receiver: Receiver, path: str) -> Counter[str]:
    return Counter(r.body["body"]["tag"] for r in receiver.received(path))


def wait_until_delivered(
    receiver: Receiver, path: str, tags: list[str], within: float = 120
) -> Counter[str]:
    deadline = time.monotonic() + within
    while True:
        seen = delivered_tags(receiver, path)
        missing = [t for t in tags if t not in seen]
        if not missing:
            return seen
        assert time.monotonic() < deadline, f"{len(missing)} of {len(tags)} never delivered"
        time.sleep(0.1)


def test_sigkill_while_delivering_then_every_acknowledged_message_arrives(
    store_uri: str, tmp_path: Path
) -> None:
    with webhook_receiver() as receiver:
        receiver.fail_every("/hook", 7)
        server = ServerProcess(store_uri, tmp_path, env=ENGINE).start()
        subscribe(server.url, receiver.url("/hook"))
        acknowledged: list[str] = []
        stop = threading.Event()
        writers = [
            threading.Thread(
                target=post_tags, args=(server.url, acknowledged, stop, 10**6), daemon=True
            )
            for _ in range(4)
        ]
        for writer in writers:
            writer.start()
        try:
            # Kill once deliveries are under way, so that some are held when the process dies.
            receiver.wait_for("/hook", 20)
        finally:
            server.kill()
            stop.set()
        for writer in writers:
            writer.join(timeout=10)
        # Twenty requests arrived, but a retried one counts twice and a delivery can come
        # before its poster has read the 201: only that some posts were acknowledged is
        # certain.
        assert len(acknowledged) >= 10, "the load never got going"
        restarted = ServerProcess(store_uri, tmp_path, env=ENGINE).start()
        try:
            wait_until_delivered(receiver, "/hook", acknowledged)
        finally:
            assert restarted.stop() == 0


def test_two_processes_share_deliveries_without_duplicates(store_uri: str, tmp_path: Path) -> None:
    with webhook_receiver() as receiver:
        first = ServerProcess(store_uri, tmp_path, env=ENGINE).start()
        second = ServerProcess(store_uri, tmp_path, env=ENGINE).start()
        try:
            subscribe(first.url, receiver.url("/shared"))
            acknowledged: list[str] = []
            stop = threading.Event()
            writers = [
                threading.Thread(target=post_tags, args=(url, acknowledged, stop, 200))
                for url in (first.url, second.url)
            ]
            for writer in writers:
                writer.start()
            for writer in writers:
                writer.join(timeout=120)
            seen = wait_until_delivered(receiver, "/shared", acknowledged)
            assert set(seen) == set(acknowledged)
            duplicated = {tag: n for tag, n in seen.items() if n > 1}
            assert not duplicated, f"{len(duplicated)} messages were delivered twice"
        finally:
            assert first.stop() == 0
            assert second.stop() == 0


def test_a_post_wakes_the_engines_long_before_their_next_poll(
    store_uri: str, tmp_path: Path
) -> None:
    # Polls a minute apart: a notification that arrives in seconds was woken by its post.
    slow_polls = {"HERALD_NOTIFICATIONS_POLL_INTERVAL": "60"}
    with webhook_receiver() as receiver:
        server = ServerProcess(store_uri, tmp_path, "--workers", "2", env=slow_polls).start()
        try:
            subscribe(server.url, receiver.url("/woken"))
            with httpx.Client(base_url=server.url, headers=headers(PROJECT), timeout=10) as api:
                for n in range(3):
                    answer = api.post(
                        "/v2/queues/events/messages", json={"messages": [{"body": {"n": n}}]}
                    )
                    assert answer.status_code == 201
                    arrived = receiver.wait_for("/woken", n + 1, within=20)
                    assert arrived[-1].body["body"] == {"n": n}
        finally:
            assert server.stop() == 0
