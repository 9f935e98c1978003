"""Two API processes on one backend behave as one service."""

from __future__ import annotations

import itertools
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

from support import ServerProcess, headers

MESSAGES = 10_000
CLAIMERS = 8


def test_two_processes_share_queues_and_never_double_claim(store_uri: str, tmp_path: Path) -> None:
    servers = [ServerProcess(store_uri, tmp_path).start() for _ in range(2)]
    project = "shared"
    try:
        a, b = (httpx.Client(base_url=s.url, headers=headers(project), timeout=30) for s in servers)
        batches = [
            {"messages": [{"body": i + j, "ttl": 3600} for j in range(20)]}
            for i in range(0, MESSAGES, 20)
        ]
        # The first batch goes alone so that it is the head of the queue; the
        # rest race each other, and each batch stays contiguous.
        assert a.post("/v2/queues/work/messages", json=batches[0]).status_code == 201
        with ThreadPoolExecutor(4) as pool:
            posted = list(
                pool.map(lambda body: a.post("/v2/queues/work/messages", json=body), batches[1:])
            )
        assert all(r.status_code == 201 for r in posted)

        first = b.get("/v2/queues/work/messages", params={"echo": "true", "limit": 5}).json()
        assert [m["body"] for m in first["messages"]] == [0, 1, 2, 3, 4]
        stats = b.get("/v2/queues/work/stats").json()["messages"]
        assert stats["total"] == MESSAGES

        owner: dict[str, str] = {}
        clash: list[str] = []
        lock = threading.Lock()
        clients = itertools.cycle([a, b])

        def claim_until_empty(client: httpx.Client) -> None:
            while True:
                response = client.post("/v2/queues/work/claims?limit=20", json={"ttl": 600})
                if response.status_code == 204:
                    return
                assert response.status_code == 201, response.text
                claim_id = response.headers["location"].rsplit("/", 1)[1]
                with lock:
                    for message in response.json()["messages"]:
                        if message["id"] in owner:
                            clash.append(message["id"])
                        owner[message["id"]] = claim_id

        claimers = [
            threading.Thread(target=claim_until_empty, args=(next(clients),))
            for _ in range(CLAIMERS)
        ]
        for thread in claimers:
            thread.start()
        for thread in claimers:
            thread.join(timeout=300)
        assert not clash, f"{len(clash)} messages were in two live claims"
        assert len(owner) == MESSAGES

        # Metadata changed through one process rules the next post through the other.
        patch = [{"op": "add", "path": "/metadata/_default_message_ttl", "value": 777}]
        patched = b.patch(
            "/v2/queues/work",
            json=patch,
            headers={"Content-Type": "application/openstack-messaging-v2.0-json-patch"},
        )
        assert patched.status_code == 200
        posted_after = a.post("/v2/queues/work/messages", json={"messages": [{"body": "late"}]})
        assert a.get(posted_after.json()["resources"][0]).json()["ttl"] == 777
        tiny = [{"op": "add", "path": "/metadata/_max_messages_post_size", "value": 10}]
        b.patch(
            "/v2/queues/work",
            json=tiny,
            headers={"Content-Type": "application/openstack-messaging-v2.0-json-patch"},
        )
        refused = a.post("/v2/queues/work/messages", json={"messages": [{"body": "x" * 50}]})
        assert refused.status_code == 400
        roomy = [{"op": "replace", "path": "/metadata/_max_messages_post_size", "value": 4096}]
        b.patch(
            "/v2/queues/work",
            json=roomy,
            headers={"Content-Type": "application/openstack-messaging-v2.0-json-patch"},
        )
        accepted = a.post("/v2/queues/work/messages", json={"messages": [{"body": "x" * 50}]})
        assert accepted.status_code == 201
        for created in (posted_after, accepted):
            a.delete(created.json()["resources"][0])

        # A message claimed through one process is deleted through the other.
        message_id, claim_id = next(iter(owner.items()))
        href = f"/v2/queues/work/messages/{message_id}"
        assert a.delete(href).status_code == 403
        assert b.delete(href, params={"claim_id": claim_id}).status_code == 204
        stats = a.get("/v2/queues/work/stats").json()["messages"]
        assert stats == {**stats, "total": MESSAGES - 1, "claimed": MESSAGES - 1, "free": 0}
    finally:
        for server in servers:
            assert server.stop() == 0
