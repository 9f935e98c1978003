"""The ASGI application: request checks, dispatch, error bodies, lifespan."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from herald import errors
from herald.app import Herald, build
from herald.config import Settings, load_settings
from herald.identity import Presented
from herald.service import check_queue_name, check_topic_name
from herald.service.topics import as_topics
from herald.storage.base import Store
from herald.transport.http.protocol import ConnectionLimits
from herald.transport.http.request import Request
from herald.transport.http.responses import TOPICS, Response, error_response, json_response
from herald.transport.http.routes import Router

log = logging.getLogger("herald")

_ACCEPTABLE = frozenset(("*/*", "application/*", "application/json"))


class HeraldApp:
    """Serves the Zaqar v2 API of one Herald over HTTP."""

    def __init__(self, herald: Herald) -> None:
        self.herald = herald
        self.service = herald.service
        self.identify = herald.identify
        self.router = Router(admin_mode=herald.settings.admin_mode)
        # Read by the HTTP protocol serving this app, once per connection.
        self.connection_limits = ConnectionLimits.of(herald.settings)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        kind = scope["type"]
        if kind == "http":
            await self._http(scope, receive, send)
        elif kind == "websocket":
            await _refuse_websocket(receive, send)
        elif kind == "lifespan":
            await self._lifespan(receive, send)

    async def _lifespan(self, receive: Any, send: Any) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    await self.herald.start()
                except Exception as exc:
                    log.exception("startup failed")
                    await send({"type": "lifespan.startup.failed", "message": str(exc)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.herald.stop()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _http(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        request = Request(scope, receive)
        try:
            response = await self._dispatch(request)
        except errors.HeraldError as exc:
            response = error_response(exc)
        except Exception:
            log.exception("unexpected error serving %s %s", request.method, request.path)
            response = error_response(
                errors.HeraldError("An unexpected error prevented the server from answering.")
            )
        headers = response.headers
        headers.append((b"content-length", str(len(response.body)).encode()))
        await send({"type": "http.response.start", "status": response.status, "headers": headers})
        await send({"type": "http.response.body", "body": response.body})

    async def _dispatch(self, request: Request) -> Response:
        route = self.router.resolve(request.path)
        if route is None:
            return json_response(404, {"title": "404 Not Found"})
        handler = route.resource.get(request.method)
        if handler is None:
            allow = ", ".join(sorted(route.resource)).encode()
            return json_response(405, {"title": "405 Method Not Allowed"}, [(b"allow", allow)])
        if not route.anonymous:
            presented = Presented(request.method, request.path, request.headers)
            # Zaqar judges a pre-signed URL before any other check of the request.
            self.identify.screen(presented)
            _check_media_types(request.headers)
            request.caller = await self.identify(presented)
            queue = route.params.get("queue")
            if route.topic:
                if queue is not None:
                    check_topic_name(queue)
                request.caller = as_topics(request.caller)
                request.root = TOPICS
            elif queue is not None:
                check_queue_name(queue)
        return await handler(self.service, request, **route.params)


def _check_media_types(headers: dict[str, str]) -> None:
    content_type = headers.get("content-type", "")
    if content_type.startswith("application/x-www-form-urlencoded") and (
        headers.get("content-length", "0") != "0" or "transfer-encoding" in headers
    ):
        raise errors.InvalidContentType("Form-encoded bodies are not accepted; send JSON.")
    accept = headers.get("accept")
    if accept and not _accepts_json(accept):
        raise errors.NotAcceptable("The response can only be given as application/json.")


def _accepts_json(accept: str) -> bool:
    return any(part.split(";")[0].strip() in _ACCEPTABLE for part in accept.split(","))


async def _refuse_websocket(receive: Any, send: Any) -> None:
    # No WebSocket transport yet: refuse the handshake rather than leave it hanging.
    message = await receive()
    if message["type"] == "websocket.connect":
        await send({"type": "websocket.close", "code": 1008})


def create_app(
    settings: Settings, *, store: Store | None = None, clock: Callable[[], float] = time.time
) -> HeraldApp:
    """Build the application; the store opens at lifespan startup."""
    return HeraldApp(build(settings, store=store, clock=clock))


def app_from_environment() -> HeraldApp:
    """The factory worker processes use: settings come from HERALD_* variables."""
    return create_app(load_settings())
