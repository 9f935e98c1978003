"""Connections end the way HTTP allows: no reset for a client that did nothing wrong."""

from __future__ import annotations

import socket
import time
from pathlib import Path

from support import ServerProcess, headers


def request_bytes(path: str = "/v2/queues", method: str = "GET", extra: str = "") -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1"]
    lines += [f"{k}: {v}" for k, v in headers("conn").items()]
    return ("\r\n".join(lines) + "\r\n" + extra + "\r\n").encode()


def read_response(sock: socket.socket) -> bytes:
    """One whole response (by Content-Length) from the socket."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, f"closed before a response: {data!r}"
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(
        int(line.split(b":", 1)[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length:")
    )
    while len(body) < length:
        body += sock.recv(65536)
    return head


def test_shutdown_closes_idle_keep_alive_connections_without_a_reset(tmp_path: Path) -> None:
    server = ServerProcess(f"sqlite:///{tmp_path / 'h.sqlite3'}", tmp_path).start()
    idle = []
    try:
        for _ in range(20):
            sock = socket.create_connection(("127.0.0.1", server.port), timeout=10)
            sock.sendall(request_bytes())
            assert read_response(sock).startswith(b"HTTP/1.1 200")
            idle.append(sock)
        assert server.process is not None
        server.process.terminate()
        time.sleep(0.3)
        # A client that sends on its idle connection as the server stops, as a pool
        # would, sees the connection end cleanly and can retry on a new one: a
        # socket closed under its feet would answer the first send with a reset,
        # and the second send or the read would fail.
        for _ in range(2):
            for sock in idle[:10]:
                sock.sendall(request_bytes())
            time.sleep(0.2)
        for sock in idle:
            assert sock.recv(65536) == b""  # end of stream, not ConnectionResetError
    finally:
        for sock in idle:
            sock.close()
        assert server.stop() == 0


def test_a_request_followed_by_a_half_close_is_answered(tmp_path: Path) -> None:
    server = ServerProcess(f"sqlite:///{tmp_path / 'h.sqlite3'}", tmp_path).start()
    try:
        body = '{"messages": [{"body": 1}]}'
        post = (
            request_bytes("/v2/queues/q/messages", "POST", f"Content-Length: {len(body)}\r\n")
            + body.encode()
        )
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
            sock.sendall(post)
            sock.shutdown(socket.SHUT_WR)
            assert read_response(sock).startswith(b"HTTP/1.1 201")
            assert sock.recv(65536) == b""
    finally:
        assert server.stop() == 0
