"""Helpers of the delivery suite: a real HTTP server that records what it is sent and
answers as each path says, on a free port."""

from __future__ import annotations

import http.server
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from support import free_port


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    # The client's port: the same for requests that shared a kept-alive connection.
    peer_port: int = 0


@dataclass
class Receiver:
    """A webhook receiver: `/status/<n>` answers n, `/slow` answers after a long pause,
    `/drip` answers one header line at a time, `/redirect` points at `/status/200`,
    `/big` answers 200 with a 1 MiB body, anything else answers 200 (HTTP/1.1, kept
    alive)."""

    port: int
    received: list[Received] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def paths(self) -> list[str]:
        return [request.path for request in self.received]


@contextmanager
def receiving(tls: ssl.SSLContext | None = None) -> Iterator[Receiver]:
    """A receiver serving in a thread until the block ends, over TLS with a server context."""
    port = free_port()
    state = Receiver(port)
    stop = threading.Event()

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            body = self.rfile.read(length)
            headers = {name.lower(): value for name, value in self.headers.items()}
            state.received.append(Received(self.path, headers, body, self.client_address[1]))
            if self.path == "/drip":
                # Each line well within a read timeout, the whole answer far beyond it.
                self.wfile.write(b"HTTP/1.1 200 OK\r\n")
                for i in range(20):
                    if stop.wait(0.3):
                        return
                    self.wfile.write(f"X-Drip-{i}: x\r\n".encode())
                    self.wfile.flush()
                self.wfile.write(b"Content-Length: 0\r\n\r\n")
                return
            if self.path == "/slow":
                # Longer than any test's timeout; ends early when the fixture closes.
                stop.wait(30)
                status = 200
            elif self.path == "/redirect":
                status = 302
            elif self.path.startswith("/status/"):
                status = int(self.path.rsplit("/", 1)[1])
            else:
                status = 200
            self.send_response(status)
            if self.path == "/redirect":
                self.send_header("Location", "/status/200")
            if status in (429, 503):
                self.send_header("Retry-After", "7")
            answer = b"x" * (1 << 20) if self.path == "/big" else b"{}"
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield state
    finally:
        stop.set()
        server.shutdown()
        server.server_close()
        thread.join(5)
