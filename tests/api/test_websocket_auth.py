"""WebSocket authentication under `auth = "apikey"`: `authenticate`, credentials kept by the
connection, expiry closing with 4003, and pre-signed frames judged like pre-signed URLs."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from websockets.exceptions import ConnectionClosed

from apikey_support import KeyedServer, keyed_server
from ws_support import Frames, status_of

SECRET = "websocket-test-secret"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KeyedServer]:
    directory = tmp_path_factory.mktemp("ws-apikey")
    with keyed_server(directory, signed_url_secret_key=SECRET) as running:
        yield running


def project() -> str:
    return f"p-{uuid.uuid4().hex[:12]}"


def test_frames_before_authenticate_are_refused(server: KeyedServer) -> None:
    with Frames(server.url, "anyone") as ws:
        reply = ws.request("queue_create", {"queue_name": "q"})
        assert status_of(reply) == 401
        assert reply["body"]["title"] == "Unauthorized"
        assert ws.ok("ping_node", status=401)


def test_authenticate_keeps_the_key_and_acts_for_its_project(server: KeyedServer) -> None:
    mine, other = project(), project()
    key = server.key(mine, ("member",))
    with Frames(server.url, other) as ws:
        bad = ws.authenticate(key + "x")
        assert status_of(bad) == 401
        assert status_of(ws.request("queue_create", {"queue_name": "q"})) == 401
        done = ws.authenticate(key)
        assert done["body"] == {"message": "Authentified."}
        assert done["request"]["headers"]["X-Auth-Token"] == "***"
        # X-Project-ID says `other`; the key says `mine`, and the key wins.
        assert ws.ok("queue_create", {"queue_name": "q"}, 201)
    with server.client(key) as api:
        assert [q["name"] for q in api.get("/v2/queues").json()["queues"]] == ["q"]


def test_a_key_that_runs_out_closes_its_socket_with_4003(server: KeyedServer) -> None:
    key = server.key(project())
    with Frames(server.url) as ws:
        assert status_of(ws.authenticate(key)) == 200
        assert ws.ok("queue_list")["queues"] == []
        expiring = server.key(project(), expires_in=1.5)
        assert status_of(ws.authenticate(expiring)) == 200
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                # Frames keep being answered until the key runs out, then the socket closes.
                ws.send("ping_node")
                ws.socket.recv(timeout=30)
        assert closed.value.rcvd is not None
        assert closed.value.rcvd.code == 4003
        assert closed.value.rcvd.reason == "Authentication expired."


def share(server: KeyedServer, key: str, queue: str, **body: Any) -> dict[str, Any]:
    with server.client(key) as api:
        answer = api.post(f"/v2/queues/{queue}/share", json=body)
        assert answer.status_code == 200, answer.text
        document: dict[str, Any] = answer.json()
        return document


def signed_headers(grant: dict[str, Any]) -> dict[str, str]:
    return {
        "URL-Signature": grant["signature"],
        "URL-Expires": grant["expires"],
        "URL-Methods": ",".join(grant["methods"]),
        "URL-Paths": ",".join(grant["paths"]),
        "X-Project-ID": grant["project"],
    }


@pytest.mark.parametrize("binary", [False, True], ids=["json", "msgpack"])
def test_a_pre_signed_frame_does_what_its_grant_allows(server: KeyedServer, binary: bool) -> None:
    owner = project()
    key = server.key(owner)
    grant = share(server, key, "shared", methods=["GET", "POST"])
    with Frames(server.url, None, binary=binary) as ws:
        signed = signed_headers(grant)
        body = {"queue_name": "shared", "messages": [{"body": "hi"}]}
        posted = ws.request("message_post", body, **signed)
        assert status_of(posted) == 201
        listed = ws.request("message_list", {"queue_name": "shared", "echo": True}, **signed)
        assert [m["body"] for m in listed["body"]["messages"]] == ["hi"]
        message_id = listed["body"]["messages"][0]["id"]
        one = {"queue_name": "shared", "message_id": message_id}
        assert status_of(ws.request("message_get", one, **signed)) == 200
        # Not granted: another method, another path, another queue, a changed signature.
        assert status_of(ws.request("message_delete", one, **signed)) == 404
        assert status_of(ws.request("queue_get", {"queue_name": "shared"}, **signed)) == 404
        elsewhere = {"queue_name": "other", "echo": True}
        assert status_of(ws.request("message_list", elsewhere, **signed)) == 404
        forged = {**signed, "URL-Signature": "0" * 64}
        refused = ws.request("message_list", {"queue_name": "shared"}, **forged)
        assert status_of(refused) == 404
        assert refused["body"]["title"] == "404 Not Found"
        # A signature never authenticates the connection: unsigned frames are still refused.
        assert status_of(ws.request("message_list", {"queue_name": "shared"})) == 401


def test_a_pre_signed_frame_past_its_expiry_is_refused(server: KeyedServer) -> None:
    key = server.key(project())
    soon = (datetime.now(UTC) + timedelta(seconds=2)).strftime("%Y-%m-%dT%H:%M:%S")
    grant = share(server, key, "q", expires=soon)
    body = {"queue_name": "q"}
    with Frames(server.url, None) as ws:
        assert status_of(ws.request("message_list", body, **signed_headers(grant))) == 200
        deadline = time.monotonic() + 30
        while status_of(ws.request("message_list", body, **signed_headers(grant))) == 200:
            assert time.monotonic() < deadline, "the grant never ran out"
            time.sleep(0.2)
        reply = ws.request("message_list", body, **signed_headers(grant))
        assert status_of(reply) == 404
        # Each frame is judged alone: the socket itself stays open.
        assert status_of(ws.request("message_list", body)) == 401
