"""A lean HTTP/1.1 client for webhook POSTs: kept-alive connections per origin, llhttp's
parser through httptools, one deadline per exchange, and no redirects, proxies or cookies.

A general client spends most of a webhook's CPU on machinery a notifier never uses (see
docs/decisions.md); this one writes the request in one buffer and reads only the status,
`Retry-After` and the end of the response. Requests of one lane (a subscription) are
pipelined on a connection whose server has shown that it keeps connections: several go
out in one write and their answers come back in few reads.
"""

from __future__ import annotations

import asyncio
import base64
import collections
import functools
import ssl
import time
import urllib.parse
from collections.abc import Hashable, Mapping
from typing import cast

import httptools
import msgspec

from herald.delivery.deadlines import Deadlines

# An idle connection older than this is closed rather than reused: servers commonly drop
# kept-alive connections after about five seconds (uvicorn's default is 5 s).
KEEPALIVE_EXPIRY = 4.0
# Requests of one lane waiting for their answers on one connection, at most.
PIPELINE_DEPTH = 16
# How much of a response body is read so that the connection can be kept; past this it is
# closed instead of reading on (the body is never looked at).
DRAIN_LIMIT = 64 * 1024
_MAX_HEAD = 64 * 1024
_PARSED_URLS = 1024


class ClientError(Exception):
    """A webhook exchange that did not produce a response."""


class InvalidURL(ClientError):
    """The URL cannot be posted to by this client: a permanent failure."""


class ConnectFailed(ClientError):
    """No connection could be made or kept: worth a retry."""


class Timeout(ClientError):
    """The exchange did not finish within the deadline: worth a retry."""


class BadResponse(ClientError):
    """The peer's bytes are not an HTTP/1.1 response: worth a retry."""


class Response(msgspec.Struct, frozen=True):
    """What a notifier needs of an answer: its status and any `Retry-After`."""

    status: int
    retry_after: str | None = None


class _Target(msgspec.Struct, frozen=True):
    """A URL taken apart once: where to connect and what the request line and headers say."""

    tls: bool
    host: str
    port: int
    target: str
    host_header: str
    authorization: str | None


_Key = tuple[str, int, bool, str | None]


class Client:
    """Posts over kept-alive HTTP/1.1 connections, pooled by origin and TLS server name."""

    def __init__(
        self,
        *,
        timeout: float,
        ssl_context: ssl.SSLContext | None = None,
        max_idle: int = 100,
        user_agent: str = "herald-notifier",
    ) -> None:
        self._deadlines = Deadlines(timeout)
        self._ssl = ssl_context
        # Kept connections over all origins: subscribers on many hosts must not pile up
        # open sockets that their servers never close.
        self._max_idle = max_idle
        self._idle_count = 0
        self._user_agent = user_agent
        self._idle: dict[_Key, collections.deque[_Connection]] = {}
        self._targets: collections.OrderedDict[str, _Target] = collections.OrderedDict()
        # The connection that each lane's next request is pipelined on, while it has
        # answers pending.
        self._lanes: dict[tuple[_Key, Hashable], _Connection] = {}
        self._closed = False

    @property
    def timeout(self) -> float:
        return self._deadlines.seconds

    async def post(
        self,
        url: str,
        body: bytes,
        headers: Mapping[str, str],
        *,
        host_header: str | None = None,
        server_name: str | None = None,
        lane: Hashable | None = None,
    ) -> Response:
        """POST `body` to `url` within the deadline. `host_header` and `server_name` name
        the subscriber's host when `url` holds the address it was pinned to; requests of
        one `lane` may share a connection while their answers are pending, so a slow
        answer holds back only its own lane's."""
        target = self._target(url)
        head = self._head(target, headers, len(body), host_header)
        key = (target.host, target.port, target.tls, server_name)
        try:
            with self._deadlines.within():
                return await self._exchange(key, target, server_name, head + body, lane)
        except TimeoutError:
            raise Timeout(f"no answer within {self.timeout:g} s") from None

    async def aclose(self) -> None:
        self._closed = True
        for pool in self._idle.values():
            for connection in pool:
                connection.close()
        self._idle.clear()
        self._idle_count = 0
        for connection in self._lanes.values():
            connection.close()
        self._lanes.clear()

    async def _exchange(
        self,
        key: _Key,
        target: _Target,
        server_name: str | None,
        request: bytes,
        lane: Hashable | None,
    ) -> Response:
        place = None if lane is None else (key, lane)
        connection = None if place is None else self._lanes.get(place)
        if connection is None or not connection.takes_more(PIPELINE_DEPTH):
            connection = self._checkout(key)
        if connection is not None:
            try:
                return await self._send(key, connection, request, place)
            except _Stale:
                # The server closed a kept connection before answering this request: it
                # is sent once more on a new one (deliveries are at least once).
                pass
        connection = await self._connect(target, server_name)
        try:
            return await self._send(key, connection, request, place)
        except _Stale:
            raise ConnectFailed("the connection closed before any answer") from None

    async def _send(
        self,
        key: _Key,
        connection: _Connection,
        request: bytes,
        place: tuple[_Key, Hashable] | None,
    ) -> Response:
        if place is not None:
            current = self._lanes.get(place)
            if current is None or not current.takes_more(PIPELINE_DEPTH):
                self._lanes[place] = connection
        connection.users += 1
        try:
            response = await connection.request(request)
        except BaseException:
            # The answers behind this one can no longer be told apart: the requests
            # pipelined after it go again on a new connection.
            connection.close()
            raise
        finally:
            connection.users -= 1
            if connection.users == 0:
                self._leave(connection, place)
        # Answers that came in one read resume their requests one after another: only
        # the last of them to resume lets the connection go.
        if connection.users == 0:
            if connection.reusable and not self._closed:
                self._checkin(key, connection)
            else:
                connection.close()
        return response

    def _leave(self, connection: _Connection, place: tuple[_Key, Hashable] | None) -> None:
        if place is not None and self._lanes.get(place) is connection:
            del self._lanes[place]

    def _checkout(self, key: _Key) -> _Connection | None:
        pool = self._idle.get(key)
        now = time.monotonic()
        found = None
        while pool:
            connection = pool.pop()
            self._idle_count -= 1
            if connection.reusable and now - connection.idle_since < KEEPALIVE_EXPIRY:
                found = connection
                break
            connection.close()
        if pool is not None and not pool:
            del self._idle[key]
        return found

    def _checkin(self, key: _Key, connection: _Connection) -> None:
        if self._idle_count >= self._max_idle:
            self._expire()
        if self._idle_count >= self._max_idle:
            connection.close()
            return
        connection.idle_since = time.monotonic()
        self._idle.setdefault(key, collections.deque()).append(connection)
        self._idle_count += 1

    def _expire(self) -> None:
        """Close the kept connections past their expiry or already closed, everywhere."""
        now = time.monotonic()
        for key, pool in list(self._idle.items()):
            kept = collections.deque(
                c for c in pool if c.reusable and now - c.idle_since < KEEPALIVE_EXPIRY
            )
            for connection in pool:
                if connection not in kept:
                    connection.close()
            self._idle_count -= len(pool) - len(kept)
            if kept:
                self._idle[key] = kept
            else:
                del self._idle[key]

    async def _connect(self, target: _Target, server_name: str | None) -> _Connection:
        loop = asyncio.get_running_loop()
        context: ssl.SSLContext | None = None
        if target.tls:
            context = self._ssl or _default_context()
        try:
            _, connection = await loop.create_connection(
                _Connection,
                target.host,
                target.port,
                ssl=context,
                server_hostname=(server_name or target.host) if context is not None else None,
            )
        except ssl.SSLError as exc:
            raise ConnectFailed(f"TLS failed ({exc.reason or type(exc).__name__})") from None
        except OSError as exc:
            raise ConnectFailed(f"cannot connect ({type(exc).__name__})") from None
        return connection

    def _target(self, url: str) -> _Target:
        target = self._targets.get(url)
        if target is None:
            target = _parse(url)
            self._targets[url] = target
            if len(self._targets) > _PARSED_URLS:
                self._targets.popitem(last=False)
        return target

    def _head(
        self,
        target: _Target,
        headers: Mapping[str, str],
        length: int,
        host_header: str | None,
    ) -> bytes:
        lines = [
            f"POST {target.target} HTTP/1.1",
            f"Host: {host_header or target.host_header}",
            f"User-Agent: {self._user_agent}",
            f"Content-Length: {length}",
        ]
        if target.authorization is not None and not _has(headers, "authorization"):
            lines.append(f"Authorization: {target.authorization}")
        for name, value in headers.items():
            lowered = name.lower()
            if lowered in ("host", "content-length", "transfer-encoding", "connection"):
                continue
            if not _token(name) or not _safe_value(value):
                raise InvalidURL(f"header {name!r} cannot be sent")
            lines.append(f"{name}: {value}")
        lines.append("\r\n")
        try:
            return "\r\n".join(lines).encode("latin-1")
        except UnicodeEncodeError:
            raise InvalidURL("a header holds characters HTTP/1.1 cannot carry") from None


class _Stale(Exception):
    """The connection ended before a byte of the answer arrived."""


class _Connection(asyncio.Protocol):
    """One HTTP/1.1 connection: its requests' answers parsed in order as they arrive.
    Requests written in one turn of the loop leave in one write."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.idle_since = 0.0
        # A final answer came with keep-alive: the server reads one request after another.
        self.proven = False
        # Requests of the client's that have not yet resumed with their answers.
        self.users = 0
        self._keep = True
        self._parser = httptools.HttpResponseParser(self)
        self._answers: collections.deque[asyncio.Future[Response]] = collections.deque()
        self._outgoing: list[bytes] = []
        self._received = 0
        self._begun = False
        self._body = 0
        self._status = 0
        self._retry_after: str | None = None
        self._header_name = b""
        self._headers_done = False
        self._lost = False

    @property
    def pending(self) -> int:
        """Requests written or to be written whose answers have not arrived."""
        return len(self._answers)

    @property
    def reusable(self) -> bool:
        """Open, kept alive by the server, and with no answer pending."""
        return self._open() and self._keep and not self._answers

    def takes_more(self, depth: int) -> bool:
        """Whether another request may be pipelined behind those pending."""
        return self.proven and self._keep and self._open() and len(self._answers) < depth

    def _open(self) -> bool:
        return not self._lost and self.transport is not None and not self.transport.is_closing()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not subclasses of asyncio's, only alike.
        self.transport = cast(asyncio.Transport, transport)

    def connection_lost(self, exc: Exception | None) -> None:
        self._lost = True
        answers, self._answers = self._answers, collections.deque()
        if not answers:
            return
        first = answers.popleft()
        if not first.done():
            if self._headers_done:
                # The status was read; a body cut short changes nothing a notifier decides.
                first.set_result(Response(self._status, self._retry_after))
            elif not self._begun:
                first.set_exception(_Stale())
            else:
                first.set_exception(BadResponse("the connection closed mid-answer"))
        for answer in answers:
            # Not a byte of their answers came: they go again on a new connection,
            # whether or not the server read them (deliveries are at least once).
            if not answer.done():
                answer.set_exception(_Stale())

    async def request(self, data: bytes) -> Response:
        if not self._open() or not self._keep:
            raise _Stale()
        answer: asyncio.Future[Response] = asyncio.get_running_loop().create_future()
        self._answers.append(answer)
        if not self._outgoing:
            answer.get_loop().call_soon(self._flush)
        self._outgoing.append(data)
        return await answer

    def _flush(self) -> None:
        outgoing, self._outgoing = self._outgoing, []
        transport = self.transport
        if transport is not None and self._open():
            transport.write(outgoing[0] if len(outgoing) == 1 else b"".join(outgoing))

    def close(self) -> None:
        self._keep = False
        if self.transport is not None:
            self.transport.close()

    def data_received(self, data: bytes) -> None:
        if not self._answers or not self._keep:
            # Bytes nobody asked for: the connection's framing can no longer be trusted.
            self.close()
            return
        self._received += len(data)
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._fail(BadResponse("the server switched protocols"))
            return
        except httptools.HttpParserError as exc:
            self._fail(BadResponse(f"not an HTTP/1.1 response ({exc})"))
            return
        if self._answers and not self._headers_done and self._received > _MAX_HEAD:
            self._fail(BadResponse("the response head is too large"))

    def _fail(self, error: BadResponse) -> None:
        if self._answers and self._keep:
            answer = self._answers.popleft()
            if not answer.done():
                answer.set_exception(error)
        # What was read of the bad answer must not be taken for the next one's.
        self._next_answer()
        self.close()

    def _next_answer(self) -> None:
        self._received = 0
        self._begun = False
        self._body = 0
        self._status = 0
        self._retry_after = None
        self._headers_done = False

    # httptools' callbacks.

    def on_message_begin(self) -> None:
        self._begun = True

    def on_header(self, name: bytes, value: bytes) -> None:
        # A header may arrive in pieces across reads; only the name tells them apart.
        if name:
            self._header_name = name
        if self._header_name.lower() == b"retry-after":
            piece = value.decode("latin-1")
            self._retry_after = piece if name else (self._retry_after or "") + piece

    def on_headers_complete(self) -> None:
        self._status = self._parser.get_status_code()
        self._headers_done = self._status >= 200

    def on_body(self, body: bytes) -> None:
        self._body += len(body)
        if self._body > DRAIN_LIMIT:
            self._finish(keep=False)

    def on_message_complete(self) -> None:
        if self._status < 200:
            # An interim answer (100 Continue and the like): the real one follows.
            self._next_answer()
            return
        self._finish(keep=self._parser.should_keep_alive())

    def _finish(self, *, keep: bool) -> None:
        if not self._answers or not self._keep:
            # After a cut: what the parser still reports belongs to no request.
            return
        answer = self._answers.popleft()
        if not answer.done():
            answer.set_result(Response(self._status, self._retry_after))
        self._next_answer()
        if keep:
            self.proven = True
        else:
            # The server reads nothing after this answer: what was pipelined behind it
            # goes again on a new connection.
            self.close()


def _parse(url: str) -> _Target:
    try:
        parts = urllib.parse.urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise InvalidURL(f"not a URL ({exc})") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidURL("only http and https URLs with a host can be posted to")
    tls = parts.scheme == "https"
    default_port = 443 if tls else 80
    port = port or default_port
    host = parts.hostname
    shown = f"[{host}]" if ":" in host else host
    host_header = shown if port == default_port else f"{shown}:{port}"
    target = parts.path or "/"
    if parts.query:
        target = f"{target}?{parts.query}"
    if any(ord(c) <= 0x20 or ord(c) >= 0x7F for c in target):
        target = urllib.parse.quote(target, safe="/?=&%:@!$'()*+,;~-._[]")
    authorization = None
    if parts.username is not None:
        user = urllib.parse.unquote(parts.username)
        pair = f"{user}:{urllib.parse.unquote(parts.password or '')}"
        authorization = "Basic " + base64.b64encode(pair.encode()).decode("ascii")
    return _Target(tls, host, port, target, host_header, authorization)


@functools.lru_cache(maxsize=256)
def _token(name: str) -> bool:
    return bool(name) and all(c in _TCHARS for c in name)


def _safe_value(value: str) -> bool:
    return "\r" not in value and "\n" not in value and "\0" not in value


def _has(headers: Mapping[str, str], lowered: str) -> bool:
    return any(name.lower() == lowered for name in headers)


_TCHARS = frozenset("!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
_DEFAULT_CONTEXT: ssl.SSLContext | None = None


def _default_context() -> ssl.SSLContext:
    """The system's trust store, built once: making a context reads every certificate."""
    global _DEFAULT_CONTEXT
    if _DEFAULT_CONTEXT is None:
        _DEFAULT_CONTEXT = ssl.create_default_context()
    return _DEFAULT_CONTEXT
