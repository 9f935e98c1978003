"""Tagged messages posted to a real server, and each tag waited for at a webhook receiver."""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable

import httpx

from support import headers
from webhook_receiver import Receiver

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


def post_until_killed(
    url: str, receiver: Receiver, path: str, kill: Callable[[], None]
) -> list[str]:
    """Post from four writers until `path` has had 20 deliveries, then `kill` the server
    under that load; the tags it acknowledged."""
    acknowledged: list[str] = []
    stop = threading.Event()
    writers = [
        threading.Thread(target=post_tags, args=(url, acknowledged, stop, 10**6), daemon=True)
        for _ in range(4)
    ]
    for writer in writers:
        writer.start()
    try:
        # Killed once deliveries are under way, so that some are held when it dies.
        receiver.wait_for(path, 20)
    finally:
        kill()
        stop.set()
    for writer in writers:
        writer.join(timeout=10)
    # Twenty requests arrived, but a retried one counts twice and a delivery can come
    # before its poster has read the 201: only that some posts were acknowledged is certain.
    assert len(acknowledged) >= 10, "the load never got going"
    return acknowledged
