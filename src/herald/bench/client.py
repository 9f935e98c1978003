"""A minimal keep-alive HTTP/1.1 client: one connection, one request in flight.

The load generator spends most of its CPU here, so it is an asyncio protocol
with the httptools C parser and prebuilt request bytes rather than a general
HTTP library; it does just what the Zaqar API needs.
"""

from __future__ import annotations

import asyncio
from typing import cast
from urllib.parse import urlsplit

import httptools


class ServerURL:
    """Host, port and path prefix of the server under test."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        if parts.scheme != "http" or not parts.hostname:
            raise ValueError(f"expected an http://HOST[:PORT][/PREFIX] URL, not {url!r}")
        self.url = url
        self.host = parts.hostname
        self.port = parts.port or 80
        self.prefix = parts.path.rstrip("/")
        self.authority = parts.netloc


def build_request(
    method: str, target: str, headers: bytes, body: bytes = b"", *, content_type: bool = True
) -> bytes:
    """The bytes of one request; `headers` is a block of complete `Name: value\\r\\n` lines."""
    head = f"{method} {target} HTTP/1.1\r\n".encode() + headers
    if body or method in ("POST", "PUT", "PATCH"):
        if content_type:
            head += b"Content-Type: application/json\r\n"
        head += b"Content-Length: %d\r\n" % len(body)
    return head + b"\r\n" + body


class _Protocol(asyncio.Protocol):
    """Feeds received bytes to httptools and completes the waiting request's future."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.waiter: asyncio.Future[tuple[int, bytes]] | None = None
        self.chunks: list[bytes] = []
        self.closed = False
        self.answered = False  # any byte of the current request's answer seen

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports do not subclass asyncio.Transport.
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        self.answered = True
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(ConnectionError(f"unparseable response: {exc}"))
            self._close()

    def on_body(self, body: bytes) -> None:
        self.chunks.append(body)

    def on_message_complete(self) -> None:
        status = self.parser.get_status_code()
        body = b"".join(self.chunks)
        self.chunks = []
        if not self.parser.should_keep_alive():
            # Servers without keep-alive (gunicorn's sync workers) close after
            # each answer: the next request opens a new connection.
            self._close()
        waiter, self.waiter = self.waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result((status, body))

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._fail(ConnectionError(str(exc) if exc else "connection closed by the server"))

    def _fail(self, exc: Exception) -> None:
        waiter, self.waiter = self.waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_exception(exc)

    def _close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()


class Connection:
    """One HTTP/1.1 connection that reconnects when the server closes it."""

    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port
        self._protocol: _Protocol | None = None

    async def send(self, request: bytes) -> tuple[int, bytes]:
        """Send prebuilt request bytes; the response status and body."""
        loop = asyncio.get_running_loop()
        protocol = self._protocol
        reused = protocol is not None and not protocol.closed
        if protocol is None or protocol.closed:
            protocol = await self._connect(loop)
        try:
            return await self._exchange(loop, protocol, request)
        except ConnectionError:
            self._protocol = None
            # A kept-alive connection the server closed while idle fails
            # before any byte of our answer: that request was never served,
            # so one retry on a fresh connection is safe.
            if not reused or protocol.answered:
                raise
        return await self._exchange(loop, await self._connect(loop), request)

    @staticmethod
    async def _exchange(
        loop: asyncio.AbstractEventLoop, protocol: _Protocol, request: bytes
    ) -> tuple[int, bytes]:
        waiter: asyncio.Future[tuple[int, bytes]] = loop.create_future()
        protocol.waiter = waiter
        protocol.answered = False
        assert protocol.transport is not None
        protocol.transport.write(request)
        return await waiter

    async def _connect(self, loop: asyncio.AbstractEventLoop) -> _Protocol:
        _, protocol = await loop.create_connection(_Protocol, self.host, self.port)
        self._protocol = protocol
        return protocol

    def close(self) -> None:
        if self._protocol is not None:
            self._protocol._close()
            self._protocol = None
