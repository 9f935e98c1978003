"""The web console: three static files that call the public API from the browser.

The files hold no data and no rules; every request the page makes carries the
credentials its user typed and is judged by the API like any other client's.
"""

from __future__ import annotations

from importlib import resources

from herald.service import Service
from herald.transport.http.request import Request
from herald.transport.http.responses import Response

_TYPES = {
    "index.html": b"text/html; charset=utf-8",
    "console.js": b"text/javascript; charset=utf-8",
    "console.css": b"text/css; charset=utf-8",
}
# The page loads only its own files and talks only to this origin; nothing it
# shows can run as script, and no other site may frame it.
_HEADERS = [
    (
        b"content-security-policy",
        b"default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
        b"img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    ),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"cache-control", b"no-cache"),
]


class ConsoleFiles:
    """The console's files, read once from the package."""

    def __init__(self) -> None:
        folder = resources.files("herald.transport.http") / "static" / "console"
        self._files = {name: (folder / name).read_bytes() for name in _TYPES}

    def names(self) -> frozenset[str]:
        return frozenset(self._files)

    def handler(self, name: str) -> ConsoleFile:
        return ConsoleFile(self._files[name], _TYPES[name])


class ConsoleFile:
    """A GET handler serving one file of the console."""

    __slots__ = ("_body", "_content_type")

    def __init__(self, body: bytes, content_type: bytes) -> None:
        self._body = body
        self._content_type = content_type

    async def __call__(self, svc: Service, req: Request) -> Response:
        return Response(200, self._body, list(_HEADERS), content_type=self._content_type)
