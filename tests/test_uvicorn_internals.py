"""The parts of uvicorn that HeraldHttpProtocol builds on, checked against the installed uvicorn.

The protocol subclasses uvicorn's private httptools protocol and hands it a
transport that holds writes until the end of the loop turn. A uvicorn that
renames that class, changes how it takes its transport, or sends bytes by any
other path than `transport.write` would break responses quietly; it fails here.
"""

from __future__ import annotations

import asyncio
import inspect
import socket
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import httpx
import pytest
import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from herald.transport.http.app import create_app
from herald.transport.http.protocol import HeraldHttpProtocol
from support import make_settings, running_app

# Transport calls that put bytes on the wire or end it without the joining
# transport flushing first: they would overtake the writes it holds.
UNJOINED_OUTPUT = {"writelines", "abort"}


class RecordingTransport:
    """The server's own transport, noting every write and every other name asked of it."""

    def __init__(self, transport: asyncio.Transport) -> None:
        self._transport = transport
        self.writes: list[bytes] = []
        self.asked: set[str] = set()

    def write(self, data: bytes) -> None:
        self.writes.append(bytes(data))
        self._transport.write(data)

    def __getattr__(self, name: str) -> Any:
        self.asked.add(name)
        return getattr(self._transport, name)


@dataclass
class Connection:
    """What one connection showed of uvicorn's side of the protocol."""

    transport: RecordingTransport
    loop_was_running: bool
    server: tuple[str, int | None] | None = None
    scheme: str | None = None


@dataclass
class Recorded:
    """A server whose connections are recorded, and what they showed."""

    url: str
    port: int
    connections: list[Connection] = field(default_factory=list)

    def only_connection(self) -> Connection:
        (connection,) = self.connections
        return connection


@pytest.fixture(params=["asyncio", "uvloop"])
def recorded(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Recorded]:
    """A real Herald on a free port, its protocol recording what uvicorn does with the transport."""
    connections: list[Connection] = []

    class RecordingProtocol(HeraldHttpProtocol):
        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            recorder = RecordingTransport(transport)
            # HeraldHttpProtocol reads the loop uvicorn set up before connection_made.
            connection = Connection(recorder, self.loop is asyncio.get_running_loop())
            connections.append(connection)
            # Duck-typed, as HeraldHttpProtocol's own transport is.
            super().connection_made(cast(asyncio.Transport, recorder))
            connection.server, connection.scheme = self.server, self.scheme

    settings = make_settings(tmp_path)
    with running_app(settings, protocol=RecordingProtocol, loop=request.param) as url:
        port = httpx.URL(url).port
        assert port is not None
        yield Recorded(url, port, connections)


def content_length(response: bytes) -> int:
    head = response.partition(b"\r\n\r\n")[0].lower()
    (line,) = (line for line in head.split(b"\r\n") if line.startswith(b"content-length:"))
    return int(line.partition(b":")[2])


def body_of(response: bytes) -> bytes:
    return response.partition(b"\r\n\r\n")[2]


def read_until_closed(sock: socket.socket) -> bytes:
    received = b""
    while chunk := sock.recv(65536):
        received += chunk
    return received


def test_the_httptools_protocol_is_where_herald_imports_it() -> None:
    assert issubclass(HttpToolsProtocol, asyncio.Protocol)
    assert issubclass(HeraldHttpProtocol, HttpToolsProtocol)
    # Herald's override hands the transport on with super(): uvicorn's own must be there to take it.
    assert "connection_made" in vars(HttpToolsProtocol)


def test_connection_made_takes_just_the_transport() -> None:
    parameters = list(inspect.signature(HttpToolsProtocol.connection_made).parameters)
    assert parameters == ["self", "transport"]


def test_uvicorn_serves_with_the_protocol_class_it_is_given() -> None:
    async def app(scope: object, receive: object, send: object) -> None:
        raise AssertionError("never called")

    config = uvicorn.Config(app, http=HeraldHttpProtocol)
    config.load()
    assert config.http_protocol_class is HeraldHttpProtocol


def test_the_protocol_has_its_loop_and_addresses_from_the_transport(recorded: Recorded) -> None:
    assert httpx.get(recorded.url + "/").status_code == 300
    connection = recorded.only_connection()
    assert connection.loop_was_running
    assert connection.server == ("127.0.0.1", recorded.port)
    assert connection.scheme == "http"


def test_each_response_leaves_in_one_write(recorded: Recorded) -> None:
    with httpx.Client(base_url=recorded.url) as client:
        responses = [client.get("/") for _ in range(3)]
    assert [r.status_code for r in responses] == [300, 300, 300]
    writes = recorded.only_connection().transport.writes
    # uvicorn writes the head and the body apart; joined, each response is one write.
    assert len(writes) == len(responses)
    for write, response in zip(writes, responses, strict=True):
        assert write.startswith(b"HTTP/1.1 300 ")
        assert content_length(write) == len(response.content)
        assert body_of(write) == response.content


def test_every_byte_goes_out_through_write(recorded: Recorded) -> None:
    with socket.create_connection(("127.0.0.1", recorded.port), timeout=10) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: herald\r\nConnection: close\r\n\r\n")
        received = read_until_closed(sock)
    transport = recorded.only_connection().transport
    assert received == b"".join(transport.writes)
    assert len(transport.writes) == 1
    assert len(body_of(received)) == content_length(received) > 0
    assert not transport.asked & UNJOINED_OUTPUT, transport.asked


def test_a_response_before_a_close_is_sent_whole(recorded: Recorded) -> None:
    """uvicorn closes the connection right after the last write; the held bytes must go first."""
    with socket.create_connection(("127.0.0.1", recorded.port), timeout=10) as sock:
        sock.sendall(b"NOT HTTP AT ALL\r\n\r\n")
        received = read_until_closed(sock)
    transport = recorded.only_connection().transport
    assert received.startswith(b"HTTP/1.1 400 ")
    assert received == b"".join(transport.writes)
    # Herald ends the connection by FIN first; the joining transport flushes before it.
    assert "write_eof" in transport.asked
    assert not transport.asked & UNJOINED_OUTPUT, transport.asked


# What HeraldHttpProtocol overrides or calls, by name: a rename in uvicorn must fail here.
PROTOCOL_METHODS = (
    "connection_made",
    "connection_lost",
    "data_received",
    "eof_received",
    "on_message_begin",
    "on_url",
    "on_header",
    "on_headers_complete",
    "on_body",
    "on_message_complete",
    "on_response_complete",
    "shutdown",
    "send_400_response",
    "handle_websocket_upgrade",
    "_should_upgrade",
    "_unsupported_upgrade_warning",
    "_unset_keepalive_if_required",
)
PROTOCOL_STATE = ("app", "loop", "parser", "connections", "cycle", "transport")
CYCLE_STATE = ("response_started", "response_complete", "keep_alive")


@pytest.mark.parametrize("name", PROTOCOL_METHODS)
def test_the_protocol_methods_herald_builds_on_exist(name: str) -> None:
    assert callable(getattr(HttpToolsProtocol, name, None)), name


async def test_the_state_herald_reads_is_where_it_was(tmp_path: Path) -> None:
    from uvicorn.protocols.http.httptools_impl import RequestResponseCycle

    config = uvicorn.Config(create_app(make_settings(tmp_path)), http=HeraldHttpProtocol)
    config.load()
    protocol = HeraldHttpProtocol(
        config=config, server_state=uvicorn.server.ServerState(), app_state={}
    )
    for name in PROTOCOL_STATE:
        assert hasattr(protocol, name), name
    begun = inspect.getsource(HttpToolsProtocol.on_message_begin)
    assert "self.url =" in begun and "self.headers =" in begun
    cycle_init = inspect.signature(RequestResponseCycle.__init__).parameters
    assert "keep_alive" in cycle_init
    source = inspect.getsource(RequestResponseCycle.__init__)
    for name in CYCLE_STATE:
        assert f"self.{name} =" in source, name


# What HeraldWebSocketProtocol replaces after uvicorn's own __init__: the sans-I/O
# connection and the keepalive timings. A uvicorn that stops reading them would
# quietly lose the frame size limit and the ping.
WEBSOCKET_STATE = ("conn", "ping_interval", "ping_timeout", "connections", "transport")


async def test_the_websocket_state_herald_sets_is_where_it_was(tmp_path: Path) -> None:
    from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
    from websockets.server import ServerProtocol

    from herald.transport.websocket.protocol import HeraldWebSocketProtocol

    assert issubclass(HeraldWebSocketProtocol, WebSocketsSansIOProtocol)
    settings = make_settings(tmp_path, websocket_max_frame_size=2048, websocket_ping_interval=7)
    config = uvicorn.Config(create_app(settings), ws=HeraldWebSocketProtocol)
    config.load()
    assert config.ws_protocol_class is HeraldWebSocketProtocol
    protocol = HeraldWebSocketProtocol(
        config=config, server_state=uvicorn.server.ServerState(), app_state={}
    )
    for name in WEBSOCKET_STATE:
        assert hasattr(protocol, name), name
    assert isinstance(protocol.conn, ServerProtocol)
    assert protocol.conn.max_message_size == 2048
    assert protocol.ping_interval == 7
    # The keepalive reads the timings when it schedules, not when the protocol is made.
    assert "self.ping_interval" in inspect.getsource(WebSocketsSansIOProtocol.start_keepalive)
    assert "self.ping_timeout" in inspect.getsource(WebSocketsSansIOProtocol.send_keepalive_ping)


def test_a_websocket_upgrade_goes_through_the_joining_transport(recorded: Recorded) -> None:
    from ws_support import Frames

    with Frames(recorded.url) as ws:
        assert ws.ok("ping_node", status=204) == {}
    transport = recorded.only_connection().transport
    assert transport.writes[0].startswith(b"HTTP/1.1 101 ")
    assert "set_protocol" in transport.asked
    assert not transport.asked & UNJOINED_OUTPUT, transport.asked
