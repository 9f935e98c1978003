"""The webhook client against a raw TCP server that answers with exactly the bytes each test
writes: framing, kept and stale connections, interim answers, broken peers, and what the
request carries."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Literal

import pytest

from herald.delivery import http1

Then = Literal["next", "hold", "close"]


class Server:
    """A TCP server on a free port; `connections` counts accepted connections, `heads` holds
    each request head read."""

    def __init__(self) -> None:
        self.connections = 0
        self.heads: list[bytes] = []
        self.bodies: list[bytes] = []
        self.port = 0


Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter, int, Server], Awaitable[None]]


@asynccontextmanager
async def serving(handle: Handler) -> AsyncIterator[Server]:
    """A TCP server on a free port that hands each connection, numbered from 0, to `handle`."""
    state = Server()

    async def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        index = state.connections
        state.connections += 1
        try:
            await handle(reader, writer, index, state)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(accept, "127.0.0.1", 0)
    state.port = server.sockets[0].getsockname()[1]
    try:
        yield state
    finally:
        server.close()
        await server.wait_closed()


@asynccontextmanager
async def replying(*chunks: bytes, then: Then = "hold") -> AsyncIterator[Server]:
    """A server that reads each request and writes `chunks` (each sent on its own), then
    reads the `next` request, `hold`s the connection until the client closes it, or
    `close`s it."""

    async def handle(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter, index: int, state: Server
    ) -> None:
        while True:
            await read_request(reader, state)
            for chunk in chunks:
                writer.write(chunk)
                await writer.drain()
            if then != "next":
                break
        if then == "hold":
            await reader.read()

    async with serving(handle) as state:
        yield state


async def read_request(reader: asyncio.StreamReader, server: Server) -> None:
    head = await reader.readuntil(b"\r\n\r\n")
    server.heads.append(head)
    length = next(
        int(line.split(b":", 1)[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length:")
    )
    server.bodies.append(await reader.readexactly(length))


OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}"


async def post_each(
    server: Server, count: int = 1, timeout: float = 2.0, pause: float = 0.0
) -> list[http1.Response]:
    """`count` POSTs to the server, one after another on one client, `pause` seconds apart."""
    client = http1.Client(timeout=timeout)
    try:
        url = f"http://127.0.0.1:{server.port}/hook"
        answers = []
        for _ in range(count):
            answers.append(await client.post(url, b'{"a": 1}', {}))
            await asyncio.sleep(pause)
        return answers
    finally:
        await client.aclose()


async def test_kept_alive_answers_reuse_one_connection() -> None:
    async with replying(OK, then="next") as server:
        assert await post_each(server, 3) == [http1.Response(200)] * 3
    assert server.connections == 1


async def test_a_chunked_body_is_drained_and_the_connection_kept() -> None:
    head = b"HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n"
    async with replying(head, b"3\r\nabc\r\n0\r\n\r\n", then="next") as server:
        assert await post_each(server, 2) == [http1.Response(201)] * 2
    assert server.connections == 1


async def test_connection_close_from_the_server_opens_a_new_one() -> None:
    closing = b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"
    async with replying(closing, then="next") as server:
        assert await post_each(server, 2) == [http1.Response(200)] * 2
    assert server.connections == 2


@pytest.mark.parametrize("pause", [0.0, 0.05])
async def test_a_kept_connection_the_server_dropped_is_replaced_without_a_failure(
    pause: float,
) -> None:
    # The server answers as if it kept the connection, then closes it: the next request
    # finds it dead (seen before sending after a pause, or by the missing answer right
    # away) and goes out on a new one.
    async with replying(OK, then="close") as server:
        assert await post_each(server, 2, pause=pause) == [http1.Response(200)] * 2
    assert server.connections == 2


async def test_kept_connections_are_capped_over_every_origin() -> None:
    client = http1.Client(timeout=2.0, max_idle=1)
    async with replying(OK, then="next") as first, replying(OK, then="next") as second:
        for server in (first, second, first, second):
            await client.post(f"http://127.0.0.1:{server.port}/", b"", {})
        await client.aclose()
    # The first origin's connection was kept; the second's found no room, twice.
    assert (first.connections, second.connections) == (1, 2)


async def test_a_connection_closed_before_any_answer_is_a_connect_failure() -> None:
    async with replying(then="close") as server:
        with pytest.raises(http1.ConnectFailed):
            await post_each(server)


async def test_an_interim_answer_is_skipped_for_the_final_one() -> None:
    interim = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 503 Busy\r\nRetry-After: 12\r\n"
    async with replying(interim, b"Content-Length: 0\r\n\r\n") as server:
        assert await post_each(server) == [http1.Response(503, "12")]


async def test_a_status_read_before_the_body_is_cut_still_counts() -> None:
    cut = b"HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\nab"
    async with replying(cut, then="close") as server:
        assert await post_each(server) == [http1.Response(200)]


@pytest.mark.parametrize(
    "garbage",
    [
        b"SSH-2.0-OpenSSH_9.2\r\n",
        b"HTTP/1.1 abc OK\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nX: " + b"y" * 70_000,
    ],
)
async def test_bytes_that_are_not_a_response_are_a_bad_response(garbage: bytes) -> None:
    async with replying(garbage) as server:
        with pytest.raises(http1.BadResponse):
            await post_each(server)


async def test_no_answer_within_the_deadline_is_a_timeout() -> None:
    async with replying() as server:
        with pytest.raises(http1.Timeout):
            await post_each(server, timeout=0.2)


async def test_the_request_carries_host_length_agent_userinfo_and_headers() -> None:
    async with replying(OK) as server:
        client = http1.Client(timeout=2.0)
        url = f"http://us%40er:p%3Ass@127.0.0.1:{server.port}/a%20b?x=1&y=%2F"
        await client.post(url, b"12345", {"X-Custom": "v", "Content-Type": "application/json"})
        await client.aclose()
    (head,) = server.heads
    lines = head.decode().split("\r\n")
    assert lines[0] == "POST /a%20b?x=1&y=%2F HTTP/1.1"
    assert f"Host: 127.0.0.1:{server.port}" in lines
    assert "Content-Length: 5" in lines
    assert "User-Agent: herald-notifier" in lines
    assert "X-Custom: v" in lines
    assert "Content-Type: application/json" in lines
    assert f"Authorization: Basic {base64.b64encode(b'us@er:p:ss').decode()}" in lines
    assert server.bodies == [b"12345"]


async def test_a_pinned_host_header_names_the_subscribers_host() -> None:
    async with replying(OK) as server:
        client = http1.Client(timeout=2.0)
        url = f"http://127.0.0.1:{server.port}/"
        await client.post(url, b"", {}, host_header="hooks.example")
        await client.aclose()
    assert b"\r\nHost: hooks.example\r\n" in server.heads[0]


@pytest.mark.parametrize(
    "headers",
    [
        {"X-Evil": "a\r\nInjected: yes"},
        {"X-Evil": "a\nb"},
        {"Bad Name": "v"},
        {"X": "caf\u00e9\u0101"},
    ],
)
async def test_a_header_that_would_break_the_request_is_refused_unsent(
    headers: dict[str, str],
) -> None:
    async with replying(OK) as server:
        client = http1.Client(timeout=2.0)
        with pytest.raises(http1.InvalidURL):
            await client.post(f"http://127.0.0.1:{server.port}/", b"", headers)
        await client.aclose()
    assert server.connections == 0


@pytest.mark.parametrize("url", ["ftp://127.0.0.1/", "http:///nohost", "http://127.0.0.1:99999/"])
async def test_a_url_this_client_cannot_post_to_is_invalid(url: str) -> None:
    client = http1.Client(timeout=2.0)
    with pytest.raises(http1.InvalidURL):
        await client.post(url, b"", {})
    await client.aclose()


# Pipelining: requests of one lane share a connection once its server has kept one.

KEPT = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"
CLOSING = b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"


async def answer_each(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, state: Server
) -> None:
    while True:
        await read_request(reader, state)
        writer.write(KEPT)
        await writer.drain()


async def kept_then_read(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, state: Server, count: int
) -> None:
    """Answer the first request kept alive, then read `count` more before answering any:
    only a client that pipelines sends them without waiting."""
    await read_request(reader, state)
    writer.write(KEPT)
    for _ in range(count):
        await asyncio.wait_for(read_request(reader, state), 2.0)


async def posts(
    client: http1.Client, port: int, count: int, lane: str | None, path: str = "/hook"
) -> list[http1.Response]:
    url = f"http://127.0.0.1:{port}{path}"
    return list(
        await asyncio.gather(*(client.post(url, b"{}", {}, lane=lane) for _ in range(count)))
    )


async def test_requests_of_one_lane_are_pipelined_once_the_server_kept_the_connection() -> None:
    async def handle(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter, index: int, state: Server
    ) -> None:
        await kept_then_read(reader, writer, state, 4)
        writer.write(KEPT * 4)
        await answer_each(reader, writer, state)

    async with serving(handle) as server:
        client = http1.Client(timeout=5.0)
        assert await posts(client, server.port, 1, "a") == [http1.Response(200)]
        assert await posts(client, server.port, 4, "a") == [http1.Response(200)] * 4
        await client.aclose()
    assert server.connections == 1


async def test_nothing_is_pipelined_without_a_lane_or_before_a_kept_answer() -> None:
    async def handle(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter, index: int, state: Server
    ) -> None:
        await answer_each(reader, writer, state)

    async with serving(handle) as server:
        client = http1.Client(timeout=5.0)
        # A new connection carries one request until its answer says it is kept.
        assert await posts(client, server.port, 3, "a") == [http1.Response(200)] * 3
        assert server.connections == 3
        assert await posts(client, server.port, 3, None) == [http1.Response(200)] * 3
        await client.aclose()
    assert server.connections == 3


async def test_requests_pipelined_behind_a_closing_answer_go_again_on_a_new_connection() -> None:
    async def handle(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter, index: int, state: Server
    ) -> None:
        if index > 0:
            await answer_each(reader, writer, state)
            return
        await kept_then_read(reader, writer, state, 3)
        # The server answers the first of the three and reads no further.
        writer.write(CLOSING)
        await writer.drain()

    async with serving(handle) as server:
        client = http1.Client(timeout=5.0)
        await posts(client, server.port, 1, "a")
        assert await posts(client, server.port, 3, "a") == [http1.Response(200)] * 3
        await client.aclose()
    # The two the closing server never answered were sent again, and answered.
    assert len(server.heads) == 1 + 3 + 2
    assert server.connections >= 2


async def test_a_lane_held_by_an_unanswered_request_does_not_hold_another_lane() -> None:
    async def handle(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter, index: int, state: Server
    ) -> None:
        while True:
            await read_request(reader, state)
            if b"/slow" in state.heads[-1].split(b"\r\n", 1)[0]:
                await reader.read()  # never answered
                return
            writer.write(KEPT)
            await writer.drain()

    async with serving(handle) as server:
        client = http1.Client(timeout=1.0)
        await posts(client, server.port, 1, "slow", "/fast")
        await posts(client, server.port, 1, "fast", "/fast")
        slow = asyncio.ensure_future(posts(client, server.port, 3, "slow", "/slow"))
        await asyncio.sleep(0.05)
        assert await posts(client, server.port, 3, "fast", "/fast") == [http1.Response(200)] * 3
        assert not slow.done()
        with pytest.raises(http1.Timeout):
            await slow
        await client.aclose()


async def test_answers_that_arrive_together_give_the_connection_back_once() -> None:
    async def handle(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter, index: int, state: Server
    ) -> None:
        await kept_then_read(reader, writer, state, 4)
        writer.write(KEPT * 4)
        # The next request on this connection is answered late.
        await read_request(reader, state)
        await asyncio.sleep(0.3)
        writer.write(KEPT)
        await answer_each(reader, writer, state)

    async with serving(handle) as server:
        client = http1.Client(timeout=5.0)
        await posts(client, server.port, 1, "a")
        await posts(client, server.port, 4, "a")
        late = asyncio.ensure_future(posts(client, server.port, 1, "x"))
        await asyncio.sleep(0.05)
        # Were the connection kept twice, this request would take it from under the late one.
        assert await posts(client, server.port, 1, "y") == [http1.Response(200)]
        assert await late == [http1.Response(200)]
        await client.aclose()
    assert len(server.heads) == 1 + 4 + 1 + 1


async def test_a_bad_answer_mid_pipeline_does_not_answer_the_requests_behind_it() -> None:
    async def handle(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter, index: int, state: Server
    ) -> None:
        if index > 0:
            await answer_each(reader, writer, state)
            return
        await kept_then_read(reader, writer, state, 3)
        broken = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"
        writer.write(KEPT + broken)
        await reader.read()

    async with serving(handle) as server:
        client = http1.Client(timeout=5.0)
        await posts(client, server.port, 1, "a")
        url = f"http://127.0.0.1:{server.port}/hook"
        answers = await asyncio.gather(
            *(client.post(url, b"{}", {}, lane="a") for _ in range(3)), return_exceptions=True
        )
        await client.aclose()
    assert answers[0] == http1.Response(200)
    assert isinstance(answers[1], http1.BadResponse)
    # The third had no answer on the broken connection: it went again, and was answered.
    assert answers[2] == http1.Response(200)
    assert len(server.heads) == 1 + 3 + 1
    assert server.connections == 2
