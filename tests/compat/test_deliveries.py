"""Deliveries by real `herald serve` processes on every backend: SIGKILL mid-delivery loses
nothing acknowledged, and two processes on one store share the outbox without duplicates."""

from __future__ import annotations

import threading
from pathlib import Path

import httpx

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


def test_sigkill_while_delivering_then_every_acknowledged_message_arrives(
    store_uri: str, tmp_path: Path
) -> None:
    with webhook_receiver() as receiver:
        receiver.fail_every("/hook", 7)
        server = ServerProcess(store_uri, tmp_path, env=ENGINE).start()
        subscribe(server.url, receiver.url("/hook"))
        acknowledged = post_until_killed(server.url, receiver, "/hook", server.kill)
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
