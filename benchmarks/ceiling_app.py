"""The HTTP-stack ceiling: an app that parses a message POST with msgspec and answers 201.

Three versions of the same handler, served by uvicorn (uvloop, httptools):
`bare` is a plain ASGI callable, `falcon_app` uses Falcon's ASGI app and
`starlette_app` Starlette. What separates them is only the framework's cost
per request, which is what the choice of Herald's HTTP stack rests on.

    uvicorn --app-dir benchmarks ceiling_app:bare --port 8000
"""

from __future__ import annotations

from typing import Any

import msgspec


class _Message(msgspec.Struct):
    body: Any
    ttl: int = 3600


class _Post(msgspec.Struct):
    messages: list[_Message]


_decode = msgspec.json.Decoder(_Post).decode
_ANSWER = msgspec.json.encode({"resources": ["/v2/queues/q/messages/0123456789abcdef01234567"]})
_BAD = msgspec.json.encode({"title": "Invalid request body"})


def _handle(body: bytes) -> tuple[int, bytes]:
    try:
        _decode(body)
    except msgspec.DecodeError:
        return 400, _BAD
    return 201, _ANSWER


async def bare(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Plain ASGI: read the body, decode it, answer."""
    if scope["type"] != "http":
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        return
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            break
    status, answer = _handle(b"".join(chunks))
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(answer)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": answer})


def _falcon() -> Any:
    import falcon
    import falcon.asgi

    class Messages:
        async def on_post(self, req: Any, resp: Any, **_: Any) -> None:
            status, answer = _handle(await req.stream.read())
            resp.status = status
            resp.content_type = "application/json"
            resp.data = answer

    app = falcon.asgi.App()
    app.add_route("/v2/queues/{queue}/messages", Messages())
    return app


def _starlette() -> Any:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    async def messages(request: Request) -> Response:
        status, answer = _handle(await request.body())
        return Response(answer, status_code=status, media_type="application/json")

    return Starlette(routes=[Route("/v2/queues/{queue}/messages", messages, methods=["POST"])])


def __getattr__(name: str) -> Any:
    # Built on first use, so that the bare app needs neither framework installed.
    if name == "falcon_app":
        return _falcon()
    if name == "starlette_app":
        return _starlette()
    raise AttributeError(name)
