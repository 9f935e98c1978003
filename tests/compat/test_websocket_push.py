"""Push across processes: a socket subscribed on one `herald serve` is pushed the messages
posted through another one on the same backend, over HTTP or over a WebSocket."""

from __future__ import annotations

import uuid
from pathlib import Path

import httpx

from support import ServerProcess, headers
from ws_support import Frames


def test_messages_posted_through_another_process_are_pushed(store_uri: str, tmp_path: Path) -> None:
    subscriber_server, poster_server = (
        ServerProcess(store_uri, tmp_path).start() for _ in range(2)
    )
    project = f"push-{uuid.uuid4().hex[:8]}"
    try:
        with (
            Frames(subscriber_server.url, project) as subscriber,
            Frames(poster_server.url, project, binary=True) as poster,
            httpx.Client(base_url=poster_server.url, headers=headers(project), timeout=30) as api,
        ):
            subscriber.ok("subscription_create", {"queue_name": "events"}, 201)
            for n in range(3):
                posted = api.post("/v2/queues/events/messages", json={"messages": [{"body": n}]})
                assert posted.status_code == 201
            poster.ok("message_post", {"queue_name": "events", "messages": [{"body": "ws"}]}, 201)
            pushed = [subscriber.receive() for _ in range(4)]
            assert [p["body"] for p in pushed] == [0, 1, 2, "ws"]
            assert {p["Message_Type"] for p in pushed} == {"Notification"}
            assert {p["queue_name"] for p in pushed} == {"events"}
            # Other queues are not pushed: the next frame answers the next request.
            api.post("/v2/queues/other/messages", json={"messages": [{"body": "no"}]})
            assert subscriber.ok("ping_node", status=204) == {}
    finally:
        for server in (subscriber_server, poster_server):
            assert server.stop() == 0
