"""WebSockets under `auth = "keystone"`, with a real Keystone: `authenticate` validates the
token, the socket then acts for the token's project only, and a pre-signed frame needs none."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
from zaqarclient.transport import errors as zaqar_errors
from zaqarclient.transport import get_transport_for
from zaqarclient.transport.request import Request

from auth_support import ServerFactory, as_user
from keystone_server import Keystone
from ws_support import Frames, status_of, ws_url

SECRET = "keystone-websocket-secret"


def test_authenticate_validates_the_token_with_keystone(
    keystone_herald: ServerFactory, keystone: Keystone, tokens: Callable[[str], str]
) -> None:
    url = keystone_herald().url
    bob = keystone.accounts["bob"].project_id
    with Frames(url, bob) as ws:
        assert status_of(ws.request("queue_list")) == 401
        refused = ws.authenticate("gAAAA-not-a-token")
        assert status_of(refused) == 401
        assert status_of(ws.request("queue_list")) == 401
        alice = tokens("alice")
        assert ws.authenticate(alice)["body"] == {"message": "Authentified."}
        # The frames say bob's project; the token is alice's, and acts for hers.
        assert ws.ok("queue_create", {"queue_name": "ws-alice"}, 201)
    with Frames(url, None) as ws:
        ws.authenticate(tokens("bob"))
        assert "ws-alice" not in [q["name"] for q in ws.ok("queue_list")["queues"]]
    with Frames(url, None) as ws:
        ws.authenticate(tokens("alice"))
        assert "ws-alice" in [q["name"] for q in ws.ok("queue_list")["queues"]]


def test_a_pre_signed_frame_needs_no_token(
    keystone_herald: ServerFactory, tokens: Callable[[str], str]
) -> None:
    url = keystone_herald(signed_url_secret_key=SECRET).url
    with httpx.Client(base_url=url, headers=as_user(tokens("alice")), timeout=30) as api:
        grant: dict[str, Any] = api.post(
            "/v2/queues/ws-shared/share", json={"methods": ["POST", "GET"]}
        ).json()
    signed = {
        "URL-Signature": grant["signature"],
        "URL-Expires": grant["expires"],
        "URL-Methods": ",".join(grant["methods"]),
        "URL-Paths": ",".join(grant["paths"]),
        "X-Project-ID": grant["project"],
    }
    with Frames(url, None) as ws:
        body = {"queue_name": "ws-shared", "messages": [{"body": "signed"}]}
        assert status_of(ws.request("message_post", body, **signed)) == 201
        assert status_of(ws.request("queue_list")) == 401


def test_python_zaqarclients_websocket_transport_authenticates_with_its_token(
    keystone_herald: ServerFactory, keystone: Keystone, tokens: Callable[[str], str]
) -> None:
    url = ws_url(keystone_herald().url)
    conf = {
        "auth_opts": {
            "backend": "keystone",
            "options": {
                "os_auth_token": tokens("alice"),
                "os_project_id": keystone.accounts["alice"].project_id,
            },
        }
    }
    with get_transport_for(url, options=conf) as ws:
        body = json.dumps({"queue_name": "zc-ws", "messages": [{"body": 1}]})
        answer = ws.send(Request(url, "message_post", content=body))
        assert answer.status_code == 201
    bad = {"auth_opts": {**conf["auth_opts"], "options": {"os_auth_token": "nope"}}}
    try:
        with get_transport_for(url, options=bad) as ws:
            ws.send(Request(url, "queue_list"))
    except zaqar_errors.UnauthorizedError:
        pass
    else:
        raise AssertionError("a bad token authenticated")
