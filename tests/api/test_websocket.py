"""The WebSocket transport on the HTTP port: every action, both encodings, bad frames, limits."""

from __future__ import annotations

import socket
import time
import uuid
from typing import Any

import msgspec
import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus

from api_support import ServerFactory, client
from ws_support import Frames, RawSocket, close_code, status_of


def project() -> str:
    return f"ws-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def url(make_server: ServerFactory) -> str:
    return make_server()


@pytest.mark.parametrize("binary", [False, True], ids=["json", "msgpack"])
def test_every_queue_message_and_claim_action(url: str, binary: bool) -> None:
    with Frames(url, project(), binary=binary) as ws:
        assert ws.ok("queue_create", {"queue_name": "q", "metadata": {"k": 1}}, 201) == (
            "Queue q created."
        )
        assert ws.ok("queue_create", {"queue_name": "q"}, 204) == "Queue q exists."
        assert ws.ok("queue_get", {"queue_name": "q"})["k"] == 1
        patch = [{"op": "replace", "path": "/metadata/k", "value": 2}]
        assert ws.ok("queue_update", {"queue_name": "q", "metadata": patch})["k"] == 2
        listed = ws.ok("queue_list", {"detailed": True, "with_count": True})
        assert [q["name"] for q in listed["queues"]] == ["q"]
        assert listed["queues"][0]["metadata"]["k"] == 2
        assert listed["count"] == 1

        posted = ws.ok(
            "message_post",
            {"queue_name": "q", "messages": [{"body": {"n": i}, "ttl": 300} for i in range(3)]},
            201,
        )
        ids = posted["message_ids"]
        assert len(ids) == 3
        page = ws.ok("message_list", {"queue_name": "q", "echo": True, "limit": 2})
        assert [m["body"] for m in page["messages"]] == [{"n": 0}, {"n": 1}]
        assert set(page["messages"][0]) == {"id", "claim_id", "ttl", "age", "body"}
        one = ws.ok("message_get", {"queue_name": "q", "message_id": ids[0]})
        assert one["messages"]["body"] == {"n": 0}
        many = ws.ok("message_get_many", {"queue_name": "q", "message_ids": ids[:2]})
        assert len(many["messages"]) == 2
        stats = ws.ok("queue_get_stats", {"queue_name": "q"})
        assert stats["messages"]["total"] == 3

        claimed = ws.ok("claim_create", {"queue_name": "q", "limit": 2, "ttl": 60}, 201)
        claim_id = claimed["claim_id"]
        assert [m["claim_id"] for m in claimed["messages"]] == [claim_id, claim_id]
        got = ws.ok("claim_get", {"queue_name": "q", "claim_id": claim_id})
        assert got["ttl"] == 60 and len(got["messages"]) == 2
        body = {"queue_name": "q", "claim_id": claim_id, "ttl": 120, "grace": 60}
        assert ws.ok("claim_update", body, 204) == f"Claim {claim_id} updated."
        refused = ws.request("message_delete", {"queue_name": "q", "message_id": ids[0]})
        assert status_of(refused) == 403
        deleted = {"queue_name": "q", "message_id": ids[0], "claim_id": claim_id}
        assert ws.ok("message_delete", deleted, 204) == {}
        release = {"queue_name": "q", "claim_id": claim_id}
        assert ws.ok("claim_delete", release, 204) == f"Claim {claim_id} deleted."
        assert ws.ok("claim_create", {"queue_name": "empty"}, 204) == {
            "claim_id": None,
            "messages": [],
        }

        popped = ws.ok("message_delete_many", {"queue_name": "q", "pop": 1})
        assert [m["body"] for m in popped["messages"]] == [{"n": 1}]
        gone = {"queue_name": "q", "message_ids": [ids[2]]}
        assert ws.ok("message_delete_many", gone, 204) == {}
        assert ws.ok("queue_purge", {"queue_name": "q", "resource_types": ["messages"]}, 204) == {}
        assert ws.ok("queue_delete", {"queue_name": "q"}, 204) == "Queue q removed."


def test_the_actions_zaqar_drops_the_connection_on_are_answered(url: str) -> None:
    with Frames(url, project()) as ws:
        assert ws.ok("ping_node", status=204) == {}
        home = ws.ok("get_home_doc")
        assert "message_post" in home["actions"]
        assert home["actions"]["message_post"]["required"] == ["queue_name", "messages"]
        # Health is for admins, as over HTTP.
        assert status_of(ws.request("check_node_health")) == 403
        assert ws.ok("ping_node", status=204) == {}


def test_a_reply_echoes_the_request_with_credentials_hidden(url: str) -> None:
    with Frames(url, project()) as ws:
        reply = ws.request("queue_get", {"queue_name": "q"}, **{"X-Auth-Token": "secret"})
        assert reply["request"]["body"] == {"queue_name": "q"}
        assert reply["request"]["headers"]["X-Auth-Token"] == "***"
        assert reply["request"]["api"] == "v2"


def test_a_message_body_keeps_its_values_across_encodings(url: str) -> None:
    name = project()
    body = {"text": "é\u2028", "big": 2**62, "float": 1.5, "list": [None, True]}
    with Frames(url, name, binary=True) as packed, Frames(url, name) as text:
        packed.ok("message_post", {"queue_name": "q", "messages": [{"body": body}]}, 201)
        listed = text.ok("message_list", {"queue_name": "q", "echo": True})
        assert listed["messages"][0]["body"] == body
        again = packed.ok("message_list", {"queue_name": "q", "echo": True})
        assert again["messages"][0]["body"] == body


BAD_TEXT = [
    ("not json", "Can't decode text (JSON) request"),
    ("[1, 2]", "Unexpected body type"),
    ('{"headers": {}}', "Schema validation failed"),
    ('{"action": 7}', "Schema validation failed"),
    ('{"action": "queue_get", "headers": {"Client-ID": 1}}', "Schema validation failed"),
    ('{"action": "teleport"}', "teleport is not a valid action"),
    ('{"action": "queue_get", "body": {}}', "Schema validation failed"),
    ('{"action": "queue_get", "body": {"queue_name": 5}}', "Schema validation failed"),
    ('{"action": "message_post", "body": {"queue_name": "q"}}', "`messages`"),
    ('{"action": "queue_get", "body": []}', "Schema validation failed"),
]


@pytest.mark.parametrize(("frame", "error"), BAD_TEXT, ids=[e for _, e in BAD_TEXT])
def test_a_bad_text_frame_gets_a_400_and_the_socket_stays_open(
    url: str, frame: str, error: str
) -> None:
    with Frames(url, project()) as ws:
        ws.send_raw(frame)
        reply = ws.receive()
        assert status_of(reply) == 400
        assert error in reply["body"]["error"]
        assert reply["body"]["title"] == "Invalid API request"
        assert ws.ok("ping_node", status=204) == {}


@pytest.mark.parametrize(
    "frame",
    [b"\xc1", msgspec.msgpack.encode([1]), msgspec.msgpack.encode({"action": "queue_get"})],
    ids=["not msgpack", "not a map", "no queue"],
)
def test_a_bad_binary_frame_gets_a_binary_400(url: str, frame: bytes) -> None:
    with Frames(url, project(), binary=True) as ws:
        ws.send_raw(frame)
        reply = ws.receive()
        assert status_of(reply) == 400
        assert ws.ok("ping_node", status=204) == {}


def test_a_service_error_is_the_http_status_and_title(url: str) -> None:
    with Frames(url, project()) as ws:
        reply = ws.request("queue_get", {"queue_name": "no/slash"})
        assert status_of(reply) == 400
        assert reply["body"]["title"] == "Invalid queue identification"
        missing = ws.request("message_get", {"queue_name": "q", "message_id": "404"})
        assert status_of(missing) == 404
        assert missing["body"]["title"] == "Not found"
    with Frames(url, None) as anonymous:
        reply = anonymous.request("queue_get", {"queue_name": "q"})
        assert status_of(reply) == 400
        assert reply["body"]["title"] == "Project-Id Missing"


def test_metadata_larger_than_the_limit_is_refused_over_websocket_too(url: str) -> None:
    with Frames(url, project()) as ws:
        body = {"queue_name": "q", "metadata": {"k": "x" * 70000}}
        reply = ws.request("queue_create", body)
        assert status_of(reply) == 400
        assert "too large" in reply["body"]["description"]
        assert status_of(ws.request("queue_get_stats", {"queue_name": "q"})) == 200
        assert ws.ok("queue_list")["queues"] == []


def test_a_frame_at_the_size_limit_is_read_and_one_past_it_closes(
    make_server: ServerFactory,
) -> None:
    url = make_server(websocket_max_frame_size=4096)
    with Frames(url, project()) as ws:
        head = msgspec.json.encode({"action": "ping_node", "headers": ws.headers})[:-1]
        head += b', "pad": "'
        exact = head + b"x" * (4096 - len(head) - 2) + b'"}'
        assert len(exact) == 4096
        ws.send_raw(exact.decode())
        assert status_of(ws.receive()) == 204
        ws.send_raw(exact[:-2].decode() + 'x"}')
        with pytest.raises(ConnectionClosed) as closed:
            ws.receive()
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009


def test_a_silent_socket_is_closed_after_the_idle_timeout(make_server: ServerFactory) -> None:
    url = make_server(websocket_idle_timeout=0.5)
    with Frames(url, project()) as ws:
        with pytest.raises(ConnectionClosed) as closed:
            ws.socket.recv(timeout=30)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1000


def test_a_peer_that_never_answers_pings_is_closed(make_server: ServerFactory) -> None:
    url = make_server(websocket_ping_interval=0.2, websocket_ping_timeout=0.2)
    raw = RawSocket(url)
    try:
        frames = raw.frames()
    finally:
        raw.close()
    assert frames[0][0] == 0x9, "a ping comes first"
    assert frames[-1][0] == 0x8 and close_code(frames[-1][1]) == 1011


def test_a_websocket_counts_against_the_connection_cap(make_server: ServerFactory) -> None:
    url = make_server(max_connections=2)
    host, port = url.removeprefix("http://").split(":")
    with Frames(url, project()) as first, Frames(url, project()) as second:
        # The third connection is answered 503 as soon as it is accepted, before its
        # upgrade request: read the answer without sending one, so no write races it.
        with socket.create_connection((host, int(port)), timeout=30) as third:
            answer = b""
            while chunk := third.recv(65536):
                answer += chunk
        assert answer.startswith(b"HTTP/1.1 503 ")
        assert first.ok("ping_node", status=204) == {}
        assert second.ok("ping_node", status=204) == {}


def test_a_long_upgrade_head_is_refused_like_any_request(make_server: ServerFactory) -> None:
    url = make_server(max_header_size=1024)
    with pytest.raises(InvalidStatus) as refused:
        Frames(url, project(), additional_headers={"X-Long": "x" * 2000})
    assert refused.value.response.status_code == 431


def test_listing_waits_for_a_message_posted_over_http(url: str) -> None:
    name = project()
    with Frames(url, name) as ws:
        ws.send("message_list", {"queue_name": "q", "wait": 20})
        with client(url, name) as api:
            assert api.post("/v2/queues/q/messages", json={"messages": [{"body": 1}]}).is_success
        reply = ws.reply_to("message_list")
        assert [m["body"] for m in reply["body"]["messages"]] == [1]


def test_a_frame_sent_during_a_long_poll_is_answered_after_it(url: str) -> None:
    name = project()
    with Frames(url, name) as ws:
        ws.send("message_list", {"queue_name": "q", "wait": 20})
        ws.send("ping_node")
        with client(url, name) as api:
            assert api.post("/v2/queues/q/messages", json={"messages": [{"body": 1}]}).is_success
        assert [m["body"] for m in ws.reply_to("message_list")["body"]["messages"]] == [1]
        assert status_of(ws.reply_to("ping_node")) == 204


def test_a_socket_that_leaves_during_a_waiting_claim_claims_nothing(url: str) -> None:
    name = project()
    with Frames(url, name) as ws:
        ws.send("claim_create", {"queue_name": "q", "wait": 20})
    # Let the server see the close before the message comes.
    time.sleep(0.5)
    with client(url, name) as api:
        assert api.post("/v2/queues/q/messages", json={"messages": [{"body": "kept"}]}).is_success
        claimed = api.post("/v2/queues/q/claims", json={"ttl": 60, "grace": 60})
        assert claimed.status_code == 201
        assert [m["body"] for m in claimed.json()["messages"]] == ["kept"]


# Push


def notifications(ws: Frames, count: int) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    while len(found) < count:
        frame = ws.receive()
        assert frame.get("Message_Type") == "Notification", frame
        found.append(frame)
    return found


@pytest.mark.parametrize("binary", [False, True], ids=["json", "msgpack"])
def test_a_subscribed_socket_is_pushed_the_messages_posted_after(url: str, binary: bool) -> None:
    name = project()
    with client(url, name) as api, Frames(url, name, binary=binary) as ws:
        api.post("/v2/queues/q/messages", json={"messages": [{"body": "before"}]})
        made = ws.ok("subscription_create", {"queue_name": "q", "ttl": 600}, 201)
        assert made["message"] == "Subscription q created."
        posted = [{"body": {"n": i}, "ttl": 120} for i in range(25)]
        assert api.post("/v2/queues/q/messages", json={"messages": posted[:20]}).is_success
        assert api.post("/v2/queues/q/messages", json={"messages": posted[20:]}).is_success
        pushed = notifications(ws, 25)
        assert [p["body"] for p in pushed] == [m["body"] for m in posted]
        assert pushed[0]["queue_name"] == "q" and pushed[0]["ttl"] == 120
        # A claim by a worker does not hide a message from a subscriber.
        api.post("/v2/queues/q/claims", json={"ttl": 60, "grace": 60})
        api.post("/v2/queues/q/messages", json={"messages": [{"body": "after"}]})
        assert [p["body"] for p in notifications(ws, 1)] == ["after"]


def test_push_subscriptions_are_listed_renewed_and_ended(url: str) -> None:
    name = project()
    with client(url, name) as api, Frames(url, name) as ws:
        sid = ws.ok("subscription_create", {"queue_name": "q"}, 201)["subscription_id"]
        listed = ws.ok("subscription_list", {"queue_name": "q"})["subscriptions"]
        assert [s["id"] for s in listed] == [sid]
        assert listed[0]["ttl"] == 3600 and listed[0]["source"] == "q"
        one = {"queue_name": "q", "subscription_id": sid}
        assert ws.ok("subscription_get", one)["id"] == sid
        assert ws.ok("subscription_update", {**one, "ttl": 120}, 204)
        assert ws.ok("subscription_get", one)["ttl"] == 120
        refused = ws.request("subscription_update", {**one, "ttl": 59})
        assert status_of(refused) == 400
        assert ws.ok("subscription_delete", one, 204)
        assert status_of(ws.request("subscription_get", one)) == 404
        assert ws.ok("subscription_list", {"queue_name": "q"})["subscriptions"] == []
        api.post("/v2/queues/q/messages", json={"messages": [{"body": "unseen"}]})
        # Nothing is pushed any more: the next frame is the reply to the next request.
        assert ws.ok("ping_node", status=204) == {}


def test_a_subscription_to_a_webhook_is_refused_clearly(url: str) -> None:
    with Frames(url, project()) as ws:
        body = {"queue_name": "q", "subscriber": "http://example.invalid/hook"}
        reply = ws.request("subscription_create", body)
        assert status_of(reply) == 400
        assert "subscriber" in reply["body"]["description"]


def test_a_reader_that_falls_behind_is_told_and_closed(make_server: ServerFactory) -> None:
    url = make_server(websocket_push_backlog=1024)
    name = project()
    raw = RawSocket(url, receive_buffer=4096)
    try:
        headers = {"Client-ID": str(uuid.uuid4()), "X-Project-ID": name}
        frame = {"action": "subscription_create", "headers": headers, "body": {"queue_name": "q"}}
        raw.send_text(msgspec.json.encode(frame).decode())
        subscribed = raw.frame()
        assert subscribed is not None and b'"status":201' in subscribed[1]
        big = "x" * 200_000
        with client(url, name) as api:
            for _ in range(60):
                answer = api.post("/v2/queues/q/messages", json={"messages": [{"body": big}]})
                assert answer.status_code == 201
        frames = raw.frames()
    finally:
        raw.close()
    texts = [payload for opcode, payload in frames if opcode == 0x1]
    assert b"Overflow" in texts[-1]
    assert frames[-1][0] == 0x8 and close_code(frames[-1][1]) == 4008
    assert len(texts) < 61
