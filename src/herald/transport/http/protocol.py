"""uvicorn's httptools protocol, hardened: bounded heads, timeouts, a connection cap, JSON errors.

What no client may do to the others: send a head without end (the parser's
cost grows faster than the head), hold a connection without ever finishing a
request, or open connections until the process has no files left. Every
refusal is a JSON `{title, description}` answer, as the API promises.

Closing a socket that still receives makes the kernel answer with a reset,
which clients report as an error instead of retrying on a new connection. So
a connection Herald ends sends FIN first and discards what still arrives
until the client closes too (or `LINGER_SECONDS` pass); and a client that
half-closes after its request still gets the answer, unless that request is a
long poll: there an end of input means the client left, and the wait ends.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import httptools
import msgspec
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from herald.config import Settings, WebSocketSettings
from herald.transport.http.joining import JoiningTransport
from herald.transport.http.request import LONG_POLL

log = logging.getLogger("herald")

LINGER_SECONDS = 2.0
"""How long a connection Herald closes waits for the client to close its side."""


class ConnectionLimits(msgspec.Struct, frozen=True, kw_only=True):
    """What one connection may send, and how slowly; see `Settings` for each."""

    max_request_line: int = 8192
    max_header_size: int = 16384
    max_head_size: int = 65536
    head_timeout: float = 10.0
    body_timeout: float = 30.0
    body_deadline: float = 60.0
    max_connections: int = 10000
    websocket: WebSocketSettings = msgspec.field(default_factory=WebSocketSettings)

    @classmethod
    def of(cls, settings: Settings) -> ConnectionLimits:
        return cls(
            max_request_line=settings.max_request_line,
            max_header_size=settings.max_header_size,
            max_head_size=settings.max_head_size,
            head_timeout=settings.head_timeout,
            body_timeout=settings.body_timeout,
            body_deadline=settings.body_deadline,
            max_connections=settings.max_connections,
            websocket=settings.websocket,
        )


class _Refused(Exception):
    """Raised from a parser callback to stop parsing a request Herald will not take."""


class HeraldHttpProtocol(HttpToolsProtocol):
    """The httptools protocol with Herald's connection limits and a joining transport."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.limits = limits_of(self.app)
        self._lingering = False
        self._client_done = False
        self._reading_head = True
        self._head_bytes = 0
        self._head_tail = b""
        self._refusal: tuple[int, str, str] | None = None
        self._deadline: asyncio.TimerHandle | None = None
        self._body_due = 0.0

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        # uvloop's transports are not asyncio.Transport subclasses; duck typing is enough.
        super().connection_made(JoiningTransport(transport, self.loop))  # type: ignore[arg-type]
        if len(self.connections) > self.limits.max_connections:
            log.warning("refused a connection: %d are open", len(self.connections) - 1)
            # Closed at once, not lingering: the point is to give its file back.
            self._refuse(
                503,
                "Too many connections",
                "This server holds as many connections as it may; retry in a moment.",
                linger=False,
            )
            return
        self._set_deadline(self.limits.head_timeout, self._head_timed_out)

    def connection_lost(self, exc: Exception | None) -> None:
        self._clear_deadline()
        super().connection_lost(exc)

    # Reading requests

    def data_received(self, data: bytes) -> None:
        if self._lingering:
            return  # we said goodbye; the client will retry elsewhere
        if self._reading_head and not self._head_fits(data):
            self._refuse(
                431,
                "Request Header Fields Too Large",
                f"The request head is longer than {self.limits.max_head_size} bytes.",
            )
            return
        self._unset_keepalive_if_required()
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            if self._should_upgrade():
                self.handle_websocket_upgrade()
            else:
                self._unsupported_upgrade_warning()
        except httptools.HttpParserError as exc:
            if self._refusal is None:
                self._refusal = (
                    400,
                    "Invalid HTTP request",
                    f"The request is not valid HTTP: {exc}.",
                )
            self._refuse(*self._refusal)

    def _head_fits(self, data: bytes) -> bool:
        """Whether the head, with this data, stays within its limit; the rest may be body."""
        room = self.limits.max_head_size - self._head_bytes
        self._head_bytes += len(data)
        if len(data) <= room:
            self._head_tail = (self._head_tail + data)[-3:]
            return True
        # The head may end inside this data, with the body after it.
        seen = self._head_tail + data
        end = seen.find(b"\r\n\r\n")
        return end != -1 and end + 4 - len(self._head_tail) <= room

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self._deadline is None:
            # A request begun on a kept-alive connection: its head has this long to come.
            self._set_deadline(self.limits.head_timeout, self._head_timed_out)

    def on_url(self, url: bytes) -> None:
        super().on_url(url)
        if len(self.url) > self.limits.max_request_line:
            self._refusal = (
                414,
                "URI Too Long",
                f"The request target is longer than {self.limits.max_request_line} bytes.",
            )
            raise _Refused

    def on_header(self, name: bytes, value: bytes) -> None:
        if len(name) + len(value) > self.limits.max_header_size:
            self._refusal = (
                431,
                "Request Header Fields Too Large",
                f"A header is longer than {self.limits.max_header_size} bytes.",
            )
            raise _Refused
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._reading_head = False
        self._clear_deadline()
        super().on_headers_complete()
        if any(name in (b"content-length", b"transfer-encoding") for name, _ in self.headers):
            self._body_due = self.loop.time() + self.limits.body_deadline
            self._expect_body()

    def on_body(self, body: bytes) -> None:
        super().on_body(body)
        self._expect_body()

    def _expect_body(self) -> None:
        # More body within body_timeout, and all of it by body_deadline: a client
        # trickling a byte now and then cannot hold the connection for ever.
        left = self._body_due - self.loop.time()
        self._set_deadline(min(self.limits.body_timeout, max(left, 0.0)), self._body_stalled)

    def on_message_complete(self) -> None:
        self._clear_deadline()
        # What follows the end of this message is the head of the next.
        self._await_head()
        super().on_message_complete()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if self._client_done and not self.transport.is_closing():
            self.transport.close()

    def eof_received(self) -> bool | None:  # type: ignore[override]  # asyncio allows True
        if self._lingering or self.cycle is None or self.cycle.response_complete:
            return None  # nothing left to answer: let the transport close
        if self.cycle.scope.get(LONG_POLL) and not self.cycle.response_started:
            # A client that stops sending during a long poll has almost always closed
            # its socket, and a waiter is only worth keeping for a reader: closing
            # delivers http.disconnect, which ends the wait at once.
            return None
        # The request is in hand: keep the write side open to send its answer.
        self._client_done = True
        return True

    # Ending connections

    def shutdown(self) -> None:
        if self.cycle is None or self.cycle.response_complete:
            self._linger()
        else:
            self.cycle.keep_alive = False

    def send_400_response(self, msg: str) -> None:
        self._refuse(400, "Invalid HTTP request", msg)

    def _await_head(self) -> None:
        self._reading_head = True
        self._head_bytes = 0
        self._head_tail = b""

    def _head_timed_out(self) -> None:
        self._refuse(
            408,
            "Request Timeout",
            f"No complete request head came within {self.limits.head_timeout:g} seconds.",
        )

    def _body_stalled(self) -> None:
        # The application is waiting for this body: losing the connection tells it.
        log.info("abandoned a request body that stalled or came too slowly")
        self._linger()

    def _refuse(self, status: int, title: str, description: str, *, linger: bool = True) -> None:
        """Answer with a JSON error and end the connection, unless an answer is under way."""
        if self._lingering or self.transport.is_closing():
            return
        if (
            self.cycle is not None
            and not self.cycle.response_complete
            and self.cycle.response_started
        ):
            self._linger()
            return
        body = msgspec.json.encode({"title": title, "description": description})
        head = (
            f"HTTP/1.1 {status} {title}\r\ncontent-type: application/json\r\n"
            f"content-length: {len(body)}\r\nconnection: close\r\n\r\n"
        )
        self.transport.write(head.encode("latin-1") + body)
        if linger:
            self._linger()
        else:
            self.transport.close()

    def _linger(self) -> None:
        if self._lingering or self.transport.is_closing():
            return
        self._lingering = True
        self._unset_keepalive_if_required()
        if self.transport.can_write_eof():
            self.transport.write_eof()
        self._set_deadline(LINGER_SECONDS, self.transport.close)

    def _set_deadline(self, seconds: float, then: Any) -> None:
        self._clear_deadline()
        self._deadline = self.loop.call_later(seconds, then)

    def _clear_deadline(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None


def limits_of(app: Any) -> ConnectionLimits:
    """The limits the app asks its connections to keep; the defaults if it asks none."""
    # The app may sit inside uvicorn's middleware; each keeps the next in `.app`.
    while app is not None:
        limits = getattr(app, "connection_limits", None)
        if isinstance(limits, ConnectionLimits):
            return limits
        app = getattr(app, "app", None)
    return ConnectionLimits()
