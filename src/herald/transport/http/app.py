"""The ASGI application: request checks, dispatch, error bodies, lifespan."""

from __future__ import annotations

import logging
import os
import re
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from herald import errors
from herald.app import Herald, build
from herald.config import Settings, load_settings
from herald.identity import Presented
from herald.logs import REQUEST_ID
from herald.service import Abandoned, check_queue_name, check_topic_name
from herald.service.topics import as_topics
from herald.storage.base import Store
from herald.transport.http.protocol import ConnectionLimits
from herald.transport.http.request import Request
from herald.transport.http.responses import TOPICS, Response, error_response, json_response
from herald.transport.http.routes import UNMATCHED, Route, Router
from herald.transport.websocket.connection import Connection

if TYPE_CHECKING:
    from herald.metrics import RequestMetrics

log = logging.getLogger("herald")
access_log = logging.getLogger("herald.access")

_ACCEPTABLE = frozenset(("*/*", "application/*", "application/json"))
# A request id a client sends is kept if it is short and printable ASCII without spaces,
# so that it can go into a header and a log line unchanged.
_SANE_REQUEST_ID = re.compile(r"[\x21-\x7e]{1,128}")


class HeraldApp:
    """Serves the Zaqar v2 API of one Herald over HTTP, and over WebSockets on the same port."""

    def __init__(self, herald: Herald) -> None:
        self.herald = herald
        self.service = herald.service
        self.identify = herald.identify
        self.router = Router(
            admin_mode=herald.settings.admin_mode,
            auth=herald.settings.auth,
            console=herald.settings.console,
        )
        # Read by the HTTP protocol serving this app, once per connection.
        self.connection_limits = ConnectionLimits.of(herald.settings)
        self.access_log = herald.settings.access_log
        self.request_metrics: RequestMetrics | None = None
        if herald.metric_events is not None:
            from herald.metrics import RequestMetrics

            self.request_metrics = RequestMetrics()

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        kind = scope["type"]
        if kind == "http":
            await self._http(scope, receive, send)
        elif kind == "websocket":
            await Connection(self.herald, scope, receive, send).serve()
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
        started = time.perf_counter()
        request = Request(scope, receive)
        request_id = _request_id(request.headers)
        token = REQUEST_ID.set(request_id)
        route = self.router.resolve(request.path)
        try:
            try:
                response = await self._answer(request, route)
            except Abandoned:
                return  # the client left during a long poll: nobody to answer
            headers = response.headers
            encoded_id = request_id.encode()
            headers.append((b"content-length", str(len(response.body)).encode()))
            headers.append((b"x-openstack-request-id", encoded_id))
            headers.append((b"x-request-id", encoded_id))
            await send(
                {"type": "http.response.start", "status": response.status, "headers": headers}
            )
            await send({"type": "http.response.body", "body": response.body})
            template = UNMATCHED if route is None else route.template
            seconds = time.perf_counter() - started
            if self.request_metrics is not None:
                self.request_metrics.observe(template, request.method, response.status, seconds)
            if self.access_log and access_log.isEnabledFor(logging.INFO):
                _log_access(request, template, response.status, seconds)
        finally:
            REQUEST_ID.reset(token)

    async def _answer(self, request: Request, route: Route | None) -> Response:
        try:
            return await self._dispatch(request, route)
        except errors.HeraldError as exc:
            self.service.watch.saw(exc)
            return error_response(exc)
        except Exception:
            log.exception("unexpected error serving %s %s", request.method, request.path)
            return error_response(
                errors.HeraldError("An unexpected error prevented the server from answering.")
            )

    async def _dispatch(self, request: Request, route: Route | None) -> Response:
        presented = Presented(request.method, request.path, request.headers)
        if route is None or not route.anonymous:
            # Credentials first, even for a path that does not exist: Zaqar's
            # auth middleware runs ahead of its router.
            presented = await self.identify.authenticate(presented)
        if route is None:
            return json_response(404, {"title": "404 Not Found"})
        handler = route.resource.get(request.method)
        if handler is None:
            allow = ", ".join(sorted(route.resource)).encode()
            return json_response(405, {"title": "405 Method Not Allowed"}, [(b"allow", allow)])
        if not route.anonymous:
            # Zaqar judges a pre-signed URL before any other check of the routed request.
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


def _request_id(headers: dict[str, str]) -> str:
    """The client's request id if it is sane, else a new one."""
    for name in ("x-openstack-request-id", "x-request-id"):
        given = headers.get(name)
        if given is not None and _SANE_REQUEST_ID.fullmatch(given):
            return given
    # 128 random bits in the shape of a UUID, as OpenStack's ids are; uuid4() costs
    # four times as much for version bits nobody reads.
    h = os.urandom(16).hex()
    return f"req-{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def _log_access(request: Request, route: str, status: int, seconds: float) -> None:
    caller = request.caller
    project = caller.project or "-"
    client_id = caller.client_id or "-"
    milliseconds = round(seconds * 1000, 3)
    access_log.info(
        "%s %s %d %.3fms project=%s client=%s",
        request.method,
        route,
        status,
        milliseconds,
        project,
        client_id,
        extra={
            "method": request.method,
            "route": route,
            "status": status,
            "duration_ms": milliseconds,
            "project": project,
            "client_id": client_id,
        },
    )


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


def create_app(
    settings: Settings, *, store: Store | None = None, clock: Callable[[], float] = time.time
) -> HeraldApp:
    """Build the application; the store opens at lifespan startup."""
    return HeraldApp(build(settings, store=store, clock=clock))


def app_from_environment() -> HeraldApp:
    """The factory worker processes use: settings come from HERALD_* variables."""
    return create_app(load_settings())
