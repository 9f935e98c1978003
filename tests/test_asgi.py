"""The ASGI application dispatches by scope type: a websocket scope is served, not refused."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from herald.transport.http.app import create_app
from support import make_settings, new_client_id


async def test_a_websocket_scope_is_accepted_and_its_frames_answered(tmp_path: Path) -> None:
    app = create_app(make_settings(tmp_path))
    await app.herald.start()
    headers = {"Client-ID": new_client_id(), "X-Project-ID": "p"}
    frame = json.dumps({"action": "queue_create", "headers": headers, "body": {"queue_name": "q"}})
    incoming: list[dict[str, Any]] = [
        {"type": "websocket.connect"},
        {"type": "websocket.receive", "text": frame},
        {"type": "websocket.disconnect", "code": 1000},
    ]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return incoming.pop(0)

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "websocket", "path": "/", "headers": [], "query_string": b""}
    try:
        await app(scope, receive, send)
    finally:
        await app.herald.stop()
    assert sent[0] == {"type": "websocket.accept"}
    reply = json.loads(sent[1]["text"])
    assert reply["headers"] == {"status": 201}
    assert reply["body"] == "Queue q created."
    assert reply["request"]["action"] == "queue_create"
    assert len(sent) == 2


async def test_a_push_subscription_ends_with_its_socket(tmp_path: Path) -> None:
    app = create_app(make_settings(tmp_path))
    await app.herald.start()
    headers = {"Client-ID": new_client_id(), "X-Project-ID": "p"}
    frame = json.dumps(
        {"action": "subscription_create", "headers": headers, "body": {"queue_name": "q"}}
    )
    incoming: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    for event in ({"type": "websocket.connect"}, {"type": "websocket.receive", "text": frame}):
        incoming.put_nowait(event)
    sent: list[dict[str, Any]] = []
    while_subscribed: list[asyncio.Task[Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)
        if len(sent) == 2:
            # Subscribed: now the client goes away.
            while_subscribed.extend(pushing())
            incoming.put_nowait({"type": "websocket.disconnect", "code": 1000})

    def pushing() -> list[asyncio.Task[Any]]:
        return [
            t
            for t in asyncio.all_tasks()
            if getattr(t.get_coro(), "__qualname__", "") == "Connection._push"
        ]

    scope = {"type": "websocket", "path": "/", "headers": [], "query_string": b""}
    try:
        await app(scope, incoming.get, send)
        assert json.loads(sent[1]["text"])["headers"] == {"status": 201}
        assert len(while_subscribed) == 1
        assert pushing() == []
    finally:
        await app.herald.stop()
