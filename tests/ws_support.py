"""A WebSocket client of Herald's frames over `websockets`' synchronous client."""

from __future__ import annotations

import base64
import os
import socket
import struct
from typing import Any, cast

import msgspec
from websockets.sync.client import ClientConnection, connect

from support import new_client_id

TIMEOUT = 30.0


def ws_url(base_url: str) -> str:
    """The WebSocket URL of a server's HTTP base URL: the same port, any path."""
    return base_url.replace("https://", "wss://").replace("http://", "ws://") + "/"


class Frames:
    """A socket that sends request frames and reads their replies."""

    def __init__(
        self, base_url: str, project: str | None = "p", *, binary: bool = False, **options: Any
    ) -> None:
        self._connecting = connect(ws_url(base_url), open_timeout=TIMEOUT, **options)
        self.socket: ClientConnection = self._connecting.__enter__()
        self.binary = binary
        self.headers: dict[str, str] = {"Client-ID": new_client_id()}
        if project is not None:
            self.headers["X-Project-ID"] = project

    def __enter__(self) -> Frames:
        return self

    def __exit__(self, *exc: object) -> None:
        self._connecting.__exit__(None, None, None)

    def send(self, action: str, body: dict[str, Any] | None = None, **headers: str) -> None:
        frame: dict[str, Any] = {"action": action, "headers": {**self.headers, **headers}}
        if body is not None:
            frame["body"] = body
        self.send_raw(
            msgspec.msgpack.encode(frame) if self.binary else msgspec.json.encode(frame).decode()
        )

    def send_raw(self, data: str | bytes) -> None:
        self.socket.send(data)

    def receive(self) -> dict[str, Any]:
        data = self.socket.recv(timeout=TIMEOUT)
        if self.binary:
            assert isinstance(data, bytes), "a binary request is answered in binary"
            return cast(dict[str, Any], msgspec.msgpack.decode(data))
        assert isinstance(data, str), "a text request is answered in text"
        return cast(dict[str, Any], msgspec.json.decode(data))

    def request(
        self, action: str, body: dict[str, Any] | None = None, **headers: str
    ) -> dict[str, Any]:
        """Send the frame, read its reply; the reply's status and body, checked for shape."""
        self.send(action, body, **headers)
        return self.reply_to(action)

    def authenticate(self, token: str) -> dict[str, Any]:
        """Send `authenticate` with the token; its reply."""
        self.send("authenticate", None, **{"X-Auth-Token": token})
        return self.reply_to("authenticate")

    def reply_to(self, action: str) -> dict[str, Any]:
        reply = self.receive()
        assert set(reply) == {"request", "body", "headers"}, reply
        assert reply["request"]["action"] == action
        return reply

    def ok(self, action: str, body: dict[str, Any] | None = None, status: int = 200) -> Any:
        reply = self.request(action, body)
        assert reply["headers"]["status"] == status, reply
        return reply["body"]


def status_of(reply: dict[str, Any]) -> int:
    return int(reply["headers"]["status"])


class RawSocket:
    """A WebSocket client by hand, for what a library would not do: never read, never pong."""

    def __init__(self, base_url: str, receive_buffer: int | None = None) -> None:
        host, port = base_url.removeprefix("http://").split(":")
        self.socket = socket.socket()
        if receive_buffer is not None:
            self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
        self.socket.settimeout(TIMEOUT)
        self.socket.connect((host, int(port)))
        key = base64.b64encode(os.urandom(16)).decode()
        self.socket.sendall(
            (
                f"GET / HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
                f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                "Sec-WebSocket-Version: 13\r\n\r\n"
            ).encode()
        )
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = self.socket.recv(1)
            assert chunk, "the server closed during the handshake"
            head += chunk
        assert head.startswith(b"HTTP/1.1 101"), head

    def send_text(self, text: str) -> None:
        payload = text.encode()
        mask = os.urandom(4)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        if len(payload) < 126:
            head = struct.pack("!BB", 0x81, 0x80 | len(payload))
        else:
            head = struct.pack("!BBH", 0x81, 0x80 | 126, len(payload))
        self.socket.sendall(head + mask + masked)

    def frames(self) -> list[tuple[int, bytes]]:
        """Every frame (opcode, payload) until the server closes the connection."""
        found: list[tuple[int, bytes]] = []
        while True:
            frame = self.frame()
            if frame is None:
                return found
            found.append(frame)

    def frame(self) -> tuple[int, bytes] | None:
        """The next frame (opcode, payload); None once the server has closed."""
        head = self._exactly(2)
        if head is None:
            return None
        opcode, length = head[0] & 0x0F, head[1] & 0x7F
        if length == 126:
            (length,) = struct.unpack("!H", self._exactly(2) or b"\0\0")
        elif length == 127:
            (length,) = struct.unpack("!Q", self._exactly(8) or b"\0" * 8)
        payload = self._exactly(length)
        return None if payload is None else (opcode, payload)

    def _exactly(self, count: int) -> bytes | None:
        data = b""
        while len(data) < count:
            try:
                chunk = self.socket.recv(count - len(data))
            except ConnectionResetError:
                return None
            if not chunk:
                return None
            data += chunk
        return data

    def close(self) -> None:
        self.socket.close()


def close_code(payload: bytes) -> int:
    """The status code of a close frame's payload."""
    return int(struct.unpack("!H", payload[:2])[0])
