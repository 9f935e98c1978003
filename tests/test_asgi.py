"""The ASGI application dispatches by scope type and refuses what it does not serve."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from herald.transport.http.app import create_app
from support import make_settings


async def test_a_websocket_scope_is_closed_not_left_hanging(tmp_path: Path) -> None:
    app = create_app(make_settings(tmp_path))
    incoming: list[dict[str, Any]] = [{"type": "websocket.connect"}]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return incoming.pop(0)

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "websocket", "path": "/", "headers": [], "query_string": b""}
    await app(scope, receive, send)
    assert sent == [{"type": "websocket.close", "code": 1008}]
