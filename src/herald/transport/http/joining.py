"""A transport that joins the writes of one event-loop turn into one system call.

uvicorn writes a response's head and body with two `transport.write` calls,
and on loopback each is a system call that also wakes the client. Writes made
during one turn of the event loop are joined and sent once at its end.
"""

from __future__ import annotations

import asyncio
from typing import Any


class JoiningTransport:
    """Forwards everything to the real transport but gathers writes until the loop turn ends."""

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._pending: list[bytes] = []

    def write(self, data: bytes) -> None:
        if not data:
            return
        self._pending.append(data)
        if len(self._pending) == 1:
            self._loop.call_soon(self._flush)

    def _flush(self) -> None:
        if not self._pending:
            return
        data = self._pending[0] if len(self._pending) == 1 else b"".join(self._pending)
        self._pending = []
        if not self._transport.is_closing():
            self._transport.write(data)

    def close(self) -> None:
        self._flush()
        self._transport.close()

    def write_eof(self) -> None:
        self._flush()
        self._transport.write_eof()

    def abort(self) -> None:
        self._pending = []
        self._transport.abort()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)
