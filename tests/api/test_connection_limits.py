"""Limits on what one connection may send, and how slowly: each at its boundary and past it.

Every refusal is a JSON `{title, description}` answer, after which the server
ends the connection.
"""

from __future__ import annotations

import contextlib
import json
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit

import pytest

from api_support import ServerFactory
from support import headers

LINE, HEADER, HEAD = 8192, 16384, 65536


@contextmanager
def connection(base_url: str) -> Iterator[socket.socket]:
    parts = urlsplit(base_url)
    assert parts.hostname is not None and parts.port is not None
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as sock:
        yield sock


def read_all(sock: socket.socket) -> bytes:
    """Everything until the server ends the connection."""
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return data


def status_and_document(answer: bytes) -> tuple[int, dict[str, Any]]:
    head, _, body = answer.partition(b"\r\n\r\n")
    assert b"content-type: application/json" in head.lower(), head
    return int(head.split()[1]), json.loads(body)


def exchange(base_url: str, data: bytes) -> tuple[int, dict[str, Any]]:
    """Send a request on a new connection and read one answer."""
    with connection(base_url) as sock:
        sock.sendall(data)
        answer = b""
        while b"\r\n\r\n" not in answer:
            chunk = sock.recv(65536)
            assert chunk, answer
            answer += chunk
        head, _, body = answer.partition(b"\r\n\r\n")
        length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
        while len(body) < length:
            body += sock.recv(65536)
        return status_and_document(head + b"\r\n\r\n" + body[:length])


def head_of(target: str, extra: list[str] | None = None) -> bytes:
    lines = [f"GET {target} HTTP/1.1", "Host: h"]
    lines += [f"{k}: {v}" for k, v in headers("limits").items()]
    lines += extra or []
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def assert_refused(answer: tuple[int, dict[str, Any]], status: int, title: str) -> None:
    assert answer[0] == status, answer
    assert answer[1]["title"] == title and answer[1]["description"], answer


@pytest.fixture(scope="module")
def strict(make_server: ServerFactory) -> str:
    """A server with short timeouts and a cap of a few connections."""
    return make_server(head_timeout=0.5, body_timeout=0.5, body_deadline=1.5, max_connections=40)


def test_a_request_target_at_the_limit_is_read(server_url: str) -> None:
    target = "/v2/queues?x="
    target += "a" * (LINE - len(target))
    assert exchange(server_url, head_of(target))[0] == 200


def test_a_request_target_past_the_limit_is_414(server_url: str) -> None:
    target = "/v2/queues?x="
    target += "a" * (LINE + 1 - len(target))
    assert_refused(exchange(server_url, head_of(target)), 414, "URI Too Long")


def test_a_header_at_the_limit_is_read(server_url: str) -> None:
    name = "X-Padding"
    answer = exchange(server_url, head_of("/v2/queues", [f"{name}: {'v' * (HEADER - len(name))}"]))
    assert answer[0] == 200


def test_a_header_past_the_limit_is_431(server_url: str) -> None:
    name = "X-Padding"
    value = "v" * (HEADER + 1 - len(name))
    answer = exchange(server_url, head_of("/v2/queues", [f"{name}: {value}"]))
    assert_refused(answer, 431, "Request Header Fields Too Large")


def padded_head(total: int) -> bytes:
    """A head of exactly `total` bytes, its end included."""
    base = head_of("/v2/queues")
    room = total - len(base)
    lines, index = [], 0
    while room > 0:
        line = f"X-Pad-{index}: "
        size = min(room - 2, 8000)  # each line also costs its CRLF
        lines.append(line + "p" * max(size - len(line), 1))
        room -= len(lines[-1]) + 2
        index += 1
    head = head_of("/v2/queues", lines)
    assert len(head) == total, (len(head), total)
    return head


def test_a_head_at_the_limit_is_read(server_url: str) -> None:
    assert exchange(server_url, padded_head(HEAD))[0] == 200


def test_a_head_past_the_limit_is_431(server_url: str) -> None:
    answer = exchange(server_url, padded_head(HEAD + 1))
    assert_refused(answer, 431, "Request Header Fields Too Large")


def test_a_head_without_end_is_answered_as_soon_as_it_passes_the_limit(server_url: str) -> None:
    with connection(server_url) as sock:
        sock.sendall(b"GET /v2/queues HTTP/1.1\r\nX-Long: " + b"x" * (HEAD + 65536))
        # The answer is there before the head is over; what still comes is discarded.
        answer = sock.recv(65536)
        with contextlib.suppress(OSError):
            for _ in range(64):
                sock.sendall(b"x" * 65536)
    assert_refused(status_and_document(answer), 431, "Request Header Fields Too Large")


def test_a_head_that_does_not_come_in_time_is_408(strict: str) -> None:
    with connection(strict) as sock:
        sock.sendall(b"GET /v2/queues HTTP/1.1\r\nHost: h\r\n")
        answer = read_all(sock)
    assert_refused(status_and_document(answer), 408, "Request Timeout")


def test_a_connection_that_sends_nothing_is_closed(strict: str) -> None:
    with connection(strict) as sock:
        answer = read_all(sock)
    assert_refused(status_and_document(answer), 408, "Request Timeout")


def test_a_head_in_time_is_served(strict: str) -> None:
    with connection(strict) as sock:
        sock.sendall(b"GET /v2/queues HTTP/1.1\r\n")
        time.sleep(0.2)
        sock.sendall(head_of("/v2/queues")[len(b"GET /v2/queues HTTP/1.1\r\n") :])
        assert sock.recv(65536).startswith(b"HTTP/1.1 200")


def test_a_stalled_body_is_abandoned_and_nothing_is_stored(strict: str) -> None:
    project = "stalled-body"
    lines = ["POST /v2/queues/q/messages HTTP/1.1", "Host: h", "Content-Length: 100"]
    lines += [f"{k}: {v}" for k, v in headers(project).items()]
    with connection(strict) as sock:
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode() + b'{"messages": [')
        assert read_all(sock) == b""
    answer = exchange(strict, head_of("/v2/queues").replace(b"limits", project.encode()))
    assert answer == (200, {"queues": [], "links": []})


def test_a_body_trickled_in_is_abandoned_at_its_deadline(strict: str) -> None:
    project = "trickled-body"
    body = b'{"messages": [{"body": "' + b"x" * 60 + b'"}]}'
    lines = ["POST /v2/queues/q/messages HTTP/1.1", "Host: h", f"Content-Length: {len(body)}"]
    lines += [f"{k}: {v}" for k, v in headers(project).items()]
    started = time.monotonic()
    with connection(strict) as sock:
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        # A byte every 0.2 s is never a stall of 0.5 s, but the whole body is late.
        with contextlib.suppress(OSError):
            for byte in body:
                sock.sendall(bytes([byte]))
                time.sleep(0.2)
        assert read_all(sock) == b""
    assert time.monotonic() - started < 5
    answer = exchange(strict, head_of("/v2/queues").replace(b"limits", project.encode()))
    assert answer == (200, {"queues": [], "links": []})


def test_connections_past_the_cap_are_refused_with_503(make_server: ServerFactory) -> None:
    url = make_server(max_connections=3)
    parts = urlsplit(url)
    assert parts.hostname is not None and parts.port is not None
    held = []
    try:
        for _ in range(3):
            held.append(socket.create_connection((parts.hostname, parts.port), timeout=10))
        with connection(url) as sock:
            answer = read_all(sock)
        assert_refused(status_and_document(answer), 503, "Too many connections")
    finally:
        for sock in held:
            sock.close()
    time.sleep(0.2)
    assert exchange(url, head_of("/v2/queues"))[0] == 200


@pytest.mark.parametrize(
    "head",
    [
        b"POST /v2/queues/q/messages HTTP/1.1\r\nHost: h\r\nContent-Length: ten\r\n\r\n",
        b"POST /v2/queues/q/messages HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n",
        b"POST /v2/queues/q/messages HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"zz\r\n",
        b"GET /v2/queues HTTP/1.1\r\nHost: h\r\nX-Bad: a\x01b\r\n\r\n",
        b"NOT HTTP AT ALL\r\n\r\n",
    ],
    ids=["bad-length", "length-and-chunked", "bad-chunk-size", "control-byte", "garbage"],
)
def test_protocol_errors_are_json_too(server_url: str, head: bytes) -> None:
    with connection(server_url) as sock:
        sock.sendall(head)
        answer = read_all(sock)
    assert_refused(status_and_document(answer), 400, "Invalid HTTP request")
