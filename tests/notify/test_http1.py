"""The webhook client against a raw TCP server that answers with exactly the bytes each test
writes: framing, kept and stale connections, interim answers, broken peers, and what the
request carries."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import pytest

from herald.delivery import http1

Answer = Callable[[asyncio.StreamReader, asyncio.StreamWriter, int], Awaitable[None]]


class Server:
    """A TCP server on a free port; `connections` counts accepted connections, `heads` holds
    each request head read (by `read_request`)."""

    def __init__(self) -> None:
        self.connections = 0
        self.heads: list[bytes] = []
        self.port = 0


@asynccontextmanager
async def serving(answer: Answer) -> AsyncIterator[Server]:
    state = Server()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        state.connections += 1
        try:
            await answer(reader, writer, state.connections)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    state.port = server.sockets[0].getsockname()[1]
    try:
        yield state
    finally:
        server.close()
        await server.wait_closed()


async def read_request(reader: asyncio.StreamReader, server: Server) -> bytes:
    head = await reader.readuntil(b"\r\n\r\n")
    server.heads.append(head)
    length = next(
        int(line.split(b":", 1)[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length:")
    )
    return await reader.readexactly(length)


OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}"


def client(timeout: float = 2.0) -> http1.Client:
    return http1.Client(timeout=timeout)


async def post(c: http1.Client, server: Server, path: str = "/hook") -> http1.Response:
    return await c.post(f"http://127.0.0.1:{server.port}{path}", b'{"a": 1}', {})


async def test_kept_alive_answers_reuse_one_connection() -> None:
    async def answer(r: asyncio.StreamReader, w: asyncio.StreamWriter, n: int) -> None:
        while True:
            await read_request(r, state)
            w.write(OK)

    async with serving(answer) as state:
        c = client()
        for _ in range(3):
            assert await post(c, state) == http1.Response(200)
        await c.aclose()
    assert state.connections == 1


async def test_a_chunked_body_is_drained_and_the_connection_kept() -> None:
    async def answer(r: asyncio.StreamReader, w: asyncio.StreamWriter, n: int) -> None:
        while True:
            await read_request(r, state)
            w.write(b"HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n")
            await w.drain()
            w.write(b"3\r\nabc\r\n0\r\n\r\n")

    async with serving(answer) as state:
        c = client()
        assert await post(c, state) == http1.Response(201)
        assert await post(c, state) == http1.Response(201)
        await c.aclose()
    assert state.connections == 1


async def test_connection_close_from_the_server_opens_a_new_one() -> None:
    async def answer(r: asyncio.StreamReader, w: asyncio.StreamWriter, n: int) -> None:
        await read_request(r, state)
        w.write(b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n")

    async with serving(answer) as state:
        c = client()
        assert await post(c, state) == http1.Response(200)
        assert await post(c, state) == http1.Response(200)
        await c.aclose()
    assert state.connections == 2


async def test_a_kept_connection_the_server_dropped_is_replaced_without_a_failure() -> None:
    # The server answers as if it kept the connection, then closes it while idle: the
    # next request finds it dead before any answer and goes out on a new one.
    async def answer(r: asyncio.StreamReader, w: asyncio.StreamWriter, n: int) -> None:
        await read_request(r, state)
        w.write(OK)
        await w.drain()

    async with serving(answer) as state:
        c = client()
        assert await post(c, state) == http1.Response(200)
        await asyncio.sleep(0.05)
        assert await post(c, state) == http1.Response(200)
        await c.aclose()
    assert state.connections == 2


async def test_a_connection_closed_before_any_answer_is_a_connect_failure() -> None:
    async def answer(r: asyncio.StreamReader, w: asyncio.StreamWriter, n: int) -> None:
        await read_request(r, state)

    async with serving(answer) as state:
        c = client()
        with pytest.raises(http1.ConnectFailed):
            await post(c, state)
        await c.aclose()


async def test_an_interim_answer_is_skipped_for_the_final_one() -> None:
    async def answer(r: asyncio.StreamReader, w: asyncio.StreamWriter, n: int) -> None:
        await read_request(r, state)
        w.write(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 503 Busy\r\nRetry-After: 12\r\n")
        w.write(b"Content-Length: 0\r\n\r\n")
        await w.drain()
        await r.read()

    async with serving(answer) as state:
        c = client()
        assert await post(c, state) == http1.Response(503, "12")
        await c.aclose()


async def test_a_status_read_before_the_body_is_cut_still_counts() -> None:
    async def answer(r: asyncio.StreamReader, w: asyncio.StreamWriter, n: int) -> None:
        await read_request(r, state)
        w.write(b"HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\nab")

    async with serving(answer) as state:
        c = client()
        assert await post(c, state) == http1.Response(200)
        await c.aclose()


@pytest.mark.parametrize(
    "garbage",
    [
        b"SSH-2.0-OpenSSH_9.2\r\n",
        b"HTTP/1.1 abc OK\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nX: " + b"y" * 70_000,
    ],
)
async def test_bytes_that_are_not_a_response_are_a_bad_response(garbage: bytes) -> None:
    async def answer(r: asyncio.StreamReader, w: asyncio.StreamWriter, n: int) -> None:
        await read_request(r, state)
        w.write(garbage)
        await w.drain()
        await r.read()

    async with serving(answer) as state:
        c = client()
        with pytest.raises(http1.BadResponse):
            await post(c, state)
        await c.aclose()


async def test_no_answer_within_the_deadline_is_a_timeout() -> None:
    async def answer(r: asyncio.StreamReader, w: asyncio.StreamWriter, n: int) -> None:
        await read_request(r, state)
        await r.read()

    async with serving(answer) as state:
        c = client(timeout=0.2)
        with pytest.raises(http1.Timeout):
            await post(c, state)
        await c.aclose()


async def test_the_request_carries_host_length_agent_userinfo_and_headers() -> None:
    bodies: list[bytes] = []

    async def answer(r: asyncio.StreamReader, w: asyncio.StreamWriter, n: int) -> None:
        bodies.append(await read_request(r, state))
        w.write(OK)
        await w.drain()
        await r.read()

    async with serving(answer) as state:
        c = client()
        url = f"http://us%40er:p%3Ass@127.0.0.1:{state.port}/a%20b?x=1&y=%2F"
        await c.post(url, b"12345", {"X-Custom": "v", "Content-Type": "application/json"})
        await c.aclose()
    (head,) = state.heads
    lines = head.decode().split("\r\n")
    assert lines[0] == "POST /a%20b?x=1&y=%2F HTTP/1.1"
    assert f"Host: 127.0.0.1:{state.port}" in lines
    assert "Content-Length: 5" in lines
    assert "User-Agent: herald-notifier" in lines
    assert "X-Custom: v" in lines
    assert "Content-Type: application/json" in lines
    assert f"Authorization: Basic {base64.b64encode(b'us@er:p:ss').decode()}" in lines
    assert bodies == [b"12345"]


async def test_a_pinned_host_header_names_the_subscribers_host() -> None:
    async def answer(r: asyncio.StreamReader, w: asyncio.StreamWriter, n: int) -> None:
        await read_request(r, state)
        w.write(OK)
        await w.drain()
        await r.read()

    async with serving(answer) as state:
        c = client()
        await c.post(f"http://127.0.0.1:{state.port}/", b"", {}, host_header="hooks.example")
        await c.aclose()
    assert b"\r\nHost: hooks.example\r\n" in state.heads[0]


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
    async def answer(r: asyncio.StreamReader, w: asyncio.StreamWriter, n: int) -> None:
        await r.read()

    async with serving(answer) as state:
        c = client()
        with pytest.raises(http1.InvalidURL):
            await c.post(f"http://127.0.0.1:{state.port}/", b"", headers)
        await c.aclose()
    assert state.connections == 0


@pytest.mark.parametrize("url", ["ftp://127.0.0.1/", "http:///nohost", "http://127.0.0.1:99999/"])
async def test_a_url_this_client_cannot_post_to_is_invalid(url: str) -> None:
    c = client()
    with pytest.raises(http1.InvalidURL):
        await c.post(url, b"", {})
    await c.aclose()
