"""A 201 means stored: SIGKILL the server mid-load and find every acknowledged message."""

from __future__ import annotations

import threading
import time
import uuid
from pathlib import Path

import httpx

from support import ServerProcess, headers

WRITERS = 8
PROJECT = "durable"


def post_until_refused(url: str, acknowledged: dict[str, str], stop: threading.Event) -> None:
    with httpx.Client(base_url=url, headers=headers(PROJECT), timeout=5) as client:
        while not stop.is_set():
            tag = uuid.uuid4().hex
            try:
                response = client.post(
                    "/v2/queues/ledger/messages",
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


def test_sigkill_loses_no_acknowledged_message(store_uri: str, tmp_path: Path) -> None:
    server = ServerProcess(store_uri, tmp_path).start()
    acknowledged: dict[str, str] = {}
    stop = threading.Event()
    writers = [
        threading.Thread(target=post_until_refused, args=(server.url, acknowledged, stop))
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

    restarted = ServerProcess(store_uri, tmp_path).start()
    try:
        found = everything_listed(restarted.url)
    finally:
        assert restarted.stop() == 0
    missing = {i: t for i, t in acknowledged.items() if found.get(i) != t}
    assert not missing, f"{len(missing)} of {len(acknowledged)} acknowledged messages were lost"
