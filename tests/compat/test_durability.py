"""A 201 means stored: SIGKILL the server mid-load and find every acknowledged message,
and, on a queue with a subscription, what each message owes it."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from herald.model import Subscription
from herald.storage.factory import open_store
from support import ServerProcess, headers

WRITERS = 8
PROJECT = "durable"


def post_until_refused(
    url: str, acknowledged: dict[str, str], stop: threading.Event, queue: str = "ledger"
) -> None:
    with httpx.Client(base_url=url, headers=headers(PROJECT), timeout=5) as client:
        while not stop.is_set():
            tag = uuid.uuid4().hex
            try:
                response = client.post(
                    f"/v2/queues/{queue}/messages",
                    json={"messages": [{"body": {"tag": tag}, "ttl": 3600}]},
                )
            except httpx.TransportError:
                return
            if response.status_code == 201:
                href = response.json()["resources"][0]
                acknowledged[href.rsplit("/", 1)[1]] = tag


def everything_listed(url: str) -> dict[str, str]:
    found: dict[str, str] = {}
    with httpx.Client(base_url=url, headers=headers(PROJECT), timeout=10) as client:
        href = "/v2/queues/ledger/messages?limit=20&echo=true&include_claimed=true"
        while True:
            page = client.get(href).json()
            if not page["messages"]:
                return found
            for message in page["messages"]:
                found[message["id"]] = message["body"]["tag"]
            href = page["links"][0]["href"]


def post_then_kill(server: ServerProcess, queue: str = "ledger") -> dict[str, str]:
    """Post from several writers, SIGKILL the server under that load; what it acknowledged."""
    acknowledged: dict[str, str] = {}
    stop = threading.Event()
    writers = [
        threading.Thread(target=post_until_refused, args=(server.url, acknowledged, stop, queue))
        for _ in range(WRITERS)
    ]
    for writer in writers:
        writer.start()
    time.sleep(1.5)
    server.kill()
    stop.set()
    for writer in writers:
        writer.join(timeout=10)
    assert len(acknowledged) > 50, "the load never got going"
    return acknowledged


def test_sigkill_loses_no_acknowledged_message(store_uri: str, tmp_path: Path) -> None:
    server = ServerProcess(store_uri, tmp_path).start()
    acknowledged = post_then_kill(server)

    restarted = ServerProcess(store_uri, tmp_path).start()
    try:
        found = everything_listed(restarted.url)
    finally:
        assert restarted.stop() == 0
    missing = {i: t for i, t in acknowledged.items() if found.get(i) != t}
    assert not missing, f"{len(missing)} of {len(acknowledged)} acknowledged messages were lost"


@contextmanager
def silent_subscriber() -> Iterator[str]:
    """A URL whose server takes connections and never answers, so that whatever
    tries to deliver to it holds its deliveries rather than finishing them."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1024)
        yield f"http://127.0.0.1:{listener.getsockname()[1]}/hook"


async def subscribe(store_uri: str, subscriber: str) -> Subscription:
    store = open_store(store_uri)
    await store.open()
    try:
        now = time.time()
        sub = Subscription(
            id=uuid.uuid4().hex,
            project=PROJECT,
            source="outbox",
            subscriber=subscriber,
            options={},
            ttl=3600,
            renewed=now,
            expires=now + 3600,
        )
        stored, _ = await store.create_subscription(sub, now)
        return stored
    finally:
        await store.close()


async def owed_messages(store_uri: str, subscription_id: str) -> set[str]:
    store = open_store(store_uri)
    await store.open()
    try:
        # A lease far in the future takes every delivery, leased or not.
        owed = await store.lease_deliveries(time.time() + 10**6, 10**6, 1)
        return {d.message_id for d in owed if d.subscription_id == subscription_id}
    finally:
        await store.close()


def test_sigkill_loses_no_delivery_an_acknowledged_post_owes(
    store_uri: str, tmp_path: Path
) -> None:
    with silent_subscriber() as subscriber:
        sub = asyncio.run(subscribe(store_uri, subscriber))
        acknowledged = post_then_kill(ServerProcess(store_uri, tmp_path).start(), "outbox")
        owed = asyncio.run(owed_messages(store_uri, sub.id))
    missing = set(acknowledged) - owed
    assert not missing, f"{len(missing)} of {len(acknowledged)} acknowledged posts owe nothing"
