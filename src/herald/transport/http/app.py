"""The ASGI application: request checks, dispatch, error bodies, lifespan."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
import uuid
from collections.abc import Callable
from typing import Any

from herald import errors
from herald.config import Settings, load_settings
from herald.service import Service
from herald.storage.base import Store
from herald.storage.factory import open_store
from herald.transport.http.request import Request
from herald.transport.http.responses import Response, error_response, json_response
from herald.transport.http.routes import Router

log = logging.getLogger("herald")

_ACCEPTABLE = frozenset(("*/*", "application/*", "application/json"))


class HeraldApp:
    """Serves the Zaqar v2 API over one service and store."""

    def __init__(
        self, settings: Settings, store: Store, clock: Callable[[], float] = time.time
    ) -> None:
        self.settings = settings
        self.store = store
        self.service = Service(store, settings.limits, clock)
        self.router = Router(admin_mode=settings.admin_mode)
        self._gc_task: asyncio.Task[None] | None = None

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        kind = scope["type"]
        if kind == "http":
            await self._http(scope, receive, send)
        elif kind == "lifespan":
            await self._lifespan(receive, send)

    # Lifespan

    async def startup(self) -> None:
        await self.store.open()
        if self.settings.gc_interval > 0:
            self._gc_task = asyncio.create_task(self._collect_garbage())

    async def shutdown(self) -> None:
        if self._gc_task is not None:
            self._gc_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._gc_task
        await self.store.close()

    async def _lifespan(self, receive: Any, send: Any) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    await self.startup()
                except Exception as exc:
                    log.exception("startup failed")
                    await send({"type": "lifespan.startup.failed", "message": str(exc)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.shutdown()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _collect_garbage(self) -> None:
        while True:
            await asyncio.sleep(self.settings.gc_interval)
            try:
                await self.service.collect_garbage()
            except Exception:
                log.exception("garbage collection failed; will retry")

    # Requests

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
            self._check_headers(request)
            if route.queue is not None:
                self.service.check_queue_name(request.project, route.queue)
        return await handler(self.service, request, *route.args)

    def _check_headers(self, request: Request) -> None:
        headers = request.headers
        content_type = headers.get("content-type", "")
        if content_type.startswith("application/x-www-form-urlencoded") and (
            headers.get("content-length", "0") != "0" or "transfer-encoding" in headers
        ):
            raise errors.InvalidContentType("Form-encoded bodies are not accepted; send JSON.")
        accept = headers.get("accept")
        if accept and not _accepts_json(accept):
            raise errors.NotAcceptable("The response can only be given as application/json.")
        request.client_id = self._client_id(headers.get("client-id"))
        project = headers.get("x-project-id")
        if project is None:
            project = headers.get("x-tenant-id", headers.get("x-tenant"))
        if project is None:
            raise errors.InvalidHeader(
                "The header X-Project-ID was missing.", title="Project-Id Missing"
            )
        if project == "":
            raise errors.InvalidHeader(
                "X-Project-ID cannot be an empty string.",
                title="Empty project header not allowed",
            )
        request.project = project

    def _client_id(self, value: str | None) -> str:
        if value is None:
            raise errors.InvalidHeader(
                "The Client-ID header is required.", title="Missing header value"
            )
        if self.settings.client_id_uuid_safe == "off":
            low, high = self.settings.min_length_client_id, self.settings.max_length_client_id
            if not low <= len(value) <= high:
                raise errors.InvalidHeader(
                    f"Client-ID must be from {low} to {high} characters long.",
                    title="Wrong Client-ID value",
                )
            return value
        client_id = _uuid_hex(value)
        if client_id is None:
            raise errors.InvalidHeader("Client-ID must be a UUID.", title="Wrong UUID value")
        return client_id


@functools.lru_cache(maxsize=4096)
def _uuid_hex(value: str) -> str | None:
    """The UUID's 32 hex digits, or None; clients send the same id request after request."""
    try:
        return uuid.UUID(value).hex
    except ValueError:
        return None


def _accepts_json(accept: str) -> bool:
    return any(part.split(";")[0].strip() in _ACCEPTABLE for part in accept.split(","))


def create_app(
    settings: Settings, *, store: Store | None = None, clock: Callable[[], float] = time.time
) -> HeraldApp:
    """Build the application; the store opens at lifespan startup."""
    if store is None:
        store = open_store(settings.store, durability=settings.durability)
    return HeraldApp(settings, store, clock)


def app_from_environment() -> HeraldApp:
    """The factory worker processes use: settings come from HERALD_* variables."""
    return create_app(load_settings())
