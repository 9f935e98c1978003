"""python-zaqarclient's websocket transport, unchanged, against `herald serve` on every backend.

The client's websocket transport sends each request's `content` as the frame's
body and drops its `params` (it says so in a warning), so it is driven the way
its own documentation shows: a `Request` naming the action, with everything
in the body.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from zaqarclient.transport import errors as zaqar_errors
from zaqarclient.transport import get_transport_for
from zaqarclient.transport.base import Transport
from zaqarclient.transport.request import Request

from support import ServerProcess
from ws_support import ws_url


@pytest.fixture
def url(store_uri: str, tmp_path: Path) -> Iterator[str]:
    process = ServerProcess(store_uri, tmp_path).start()
    try:
        yield ws_url(process.url)
    finally:
        assert process.stop() == 0


def conf(project: str) -> dict[str, Any]:
    # The transport always sends `authenticate` with os_auth_token; noauth accepts any.
    return {
        "auth_opts": {
            "backend": "noauth",
            "options": {"os_project_id": project, "os_auth_token": "unused"},
        }
    }


class Actions:
    """One websocket transport, sending actions and decoding what they answer."""

    def __init__(self, transport: Transport, url: str) -> None:
        self.transport = transport
        self.url = url

    def __call__(self, action: str, status: int = 200, **body: Any) -> Any:
        content = json.dumps(body) if body else None
        answer = self.transport.send(Request(self.url, action, content=content))
        assert answer.status_code == status, (action, answer.status_code, answer.content)
        return json.loads(answer.content) if answer.content else None


def test_every_action_through_the_clients_websocket_transport(url: str) -> None:
    project = f"zc-{uuid.uuid4().hex[:8]}"
    with get_transport_for(url, options=conf(project)) as transport:
        act = Actions(transport, url)
        assert act("queue_create", 201, queue_name="jobs", metadata={"k": 1})
        assert act("queue_get", queue_name="jobs")["k"] == 1
        assert [q["name"] for q in act("queue_list")["queues"]] == ["jobs"]
        patch = [{"op": "add", "path": "/metadata/colour", "value": "blue"}]
        assert act("queue_update", queue_name="jobs", metadata=patch)["colour"] == "blue"
        messages = [{"body": {"n": n}, "ttl": 300} for n in range(4)]
        ids = act("message_post", 201, queue_name="jobs", messages=messages)["message_ids"]
        listed = act("message_list", queue_name="jobs", echo=True)["messages"]
        assert [m["body"]["n"] for m in listed] == [0, 1, 2, 3]
        assert act("message_get", queue_name="jobs", message_id=ids[0])["messages"]["id"] == ids[0]
        many = act("message_get_many", queue_name="jobs", message_ids=ids[:2])["messages"]
        assert sorted(m["id"] for m in many) == sorted(ids[:2])
        assert act("queue_get_stats", queue_name="jobs")["messages"]["total"] == 4

        claim = act("claim_create", 201, queue_name="jobs", limit=2, ttl=60, grace=60)
        claim_id = claim["claim_id"]
        assert len(act("claim_get", queue_name="jobs", claim_id=claim_id)["messages"]) == 2
        act("claim_update", 204, queue_name="jobs", claim_id=claim_id, ttl=90, grace=60)
        with pytest.raises(zaqar_errors.ForbiddenError):
            act("message_delete", queue_name="jobs", message_id=ids[0])
        act("message_delete", 204, queue_name="jobs", message_id=ids[0], claim_id=claim_id)
        act("claim_delete", 204, queue_name="jobs", claim_id=claim_id)
        popped = act("message_delete_many", queue_name="jobs", pop=1)["messages"]
        assert [m["body"]["n"] for m in popped] == [1]
        act("message_delete_many", 204, queue_name="jobs", message_ids=ids[2:3])

        sid = act("subscription_create", 201, queue_name="jobs", ttl=600)["subscription_id"]
        assert [s["id"] for s in act("subscription_list", queue_name="jobs")["subscriptions"]] == [
            sid
        ]
        assert act("subscription_get", queue_name="jobs", subscription_id=sid)["id"] == sid
        act("subscription_update", 204, queue_name="jobs", subscription_id=sid, ttl=120)
        act("subscription_delete", 204, queue_name="jobs", subscription_id=sid)

        assert act("ping_node", 204) == {}
        assert "queue_create" in act("get_home_doc")["actions"]
        act("queue_purge", 204, queue_name="jobs", resource_types=["messages"])
        act("queue_delete", 204, queue_name="jobs")
        assert act("queue_list")["queues"] == []


def test_errors_reach_the_client_as_its_own_exceptions(url: str) -> None:
    with get_transport_for(url, options=conf("errors")) as transport:
        act = Actions(transport, url)
        with pytest.raises(zaqar_errors.ResourceNotFound) as missing:
            act("message_get", queue_name="q", message_id="404")
        assert "does not exist" in str(missing.value)
        with pytest.raises(zaqar_errors.MalformedRequest) as bad:
            act("queue_create", queue_name="no spaces")
        assert "queue" in str(bad.value).lower()
        with pytest.raises(zaqar_errors.MalformedRequest):
            act("teleport")
        # The socket stays open after each error.
        assert act("ping_node", 204) == {}
