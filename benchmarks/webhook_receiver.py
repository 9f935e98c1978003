"""A webhook receiver for the notification benchmarks: counts the POSTs it is sent, and little else.

It answers every POST `200` with an empty body, on keep-alive connections as
the sender asks, parsing with httptools on uvloop so that it costs far less
than the servers that send to it (`notify.py` measures that with wrk).
`GET /count` answers `{"posts": n, "connections": c, "first": t, "last": t}`:
the POSTs and the connections made (its own `/count` requests included), the monotonic
clock (shared by every process on the host) at the first and the latest POST;
`DELETE /count` starts counting afresh.

    python benchmarks/webhook_receiver.py --port 9999
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from typing import cast

import httptools

_OK = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"
_OK_CLOSE = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"


class Tally:
    """What the receiver has seen since the last reset."""

    def __init__(self) -> None:
        self.posts = 0
        self.connections = 0
        self.first = 0.0
        self.last = 0.0

    def count(self) -> None:
        now = time.monotonic()
        if not self.posts:
            self.first = now
        self.posts += 1
        self.last = now

    def reset(self) -> None:
        self.posts = self.connections = 0
        self.first = self.last = 0.0


class Receiver(asyncio.Protocol):
    """One connection: each complete request is counted or answered, in order."""

    def __init__(self, tally: Tally) -> None:
        self._tally = tally
        self._parser = httptools.HttpRequestParser(self)
        self._transport: asyncio.Transport | None = None
        self._url = b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not subclasses of asyncio's, only alike.
        self._transport = cast(asyncio.Transport, transport)
        self._tally.connections += 1

    def data_received(self, data: bytes) -> None:
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError:
            if self._transport is not None:
                self._transport.write(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
                self._transport.close()

    # httptools callbacks

    def on_message_begin(self) -> None:
        self._url = b""

    def on_url(self, url: bytes) -> None:
        self._url += url

    def on_message_complete(self) -> None:
        transport = self._transport
        if transport is None:
            return
        method = self._parser.get_method()
        keep = self._parser.should_keep_alive()
        if method == b"POST":
            self._tally.count()
            transport.write(_OK if keep else _OK_CLOSE)
        elif self._url.startswith(b"/count"):
            if method == b"DELETE":
                self._tally.reset()
            tally = self._tally
            counts = {"posts": tally.posts, "connections": tally.connections}
            body = json.dumps({**counts, "first": tally.first, "last": tally.last}).encode()
            head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
            head += b"Content-Length: %d\r\n" % len(body)
            if not keep:
                head += b"Connection: close\r\n"
            transport.write(head + b"\r\n" + body)
        else:
            transport.write(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
        if not keep:
            transport.close()


async def serve(host: str, port: int) -> None:
    tally = Tally()
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: Receiver(tally), host, port, backlog=1024)
    async with server:
        await server.serve_forever()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)
    try:
        import uvloop
    except ImportError:
        asyncio.run(serve(args.host, args.port))
    else:
        uvloop.run(serve(args.host, args.port))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
