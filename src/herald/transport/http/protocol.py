"""uvicorn's httptools protocol, with each response written in one piece and closes HTTP allows.

uvicorn writes a response's head and body with two `transport.write` calls,
and on loopback each is a system call that also wakes the client. Writes made
during one turn of the event loop are joined and sent once at its end.

Closing a socket that still receives makes the kernel answer with a reset,
which clients report as an error instead of retrying on a new connection. So
an idle connection is closed at shutdown by sending FIN first and discarding
what still arrives until the client closes too; and a client that half-closes
after its request still gets the answer.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol


class _JoiningTransport:
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


LINGER_SECONDS = 2.0
"""How long a connection closed at shutdown waits for the client to close its side."""


class HeraldHttpProtocol(HttpToolsProtocol):
    """The httptools protocol on a transport that writes each response once."""

    _lingering = False
    _client_done = False

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        # uvloop's transports are not asyncio.Transport subclasses; duck typing is enough.
        super().connection_made(_JoiningTransport(transport, self.loop))  # type: ignore[arg-type]

    def shutdown(self) -> None:
        if self.cycle is None or self.cycle.response_complete:
            self._linger()
        else:
            self.cycle.keep_alive = False

    def _linger(self) -> None:
        if self._lingering or self.transport.is_closing():
            return
        self._lingering = True
        self._unset_keepalive_if_required()
        if self.transport.can_write_eof():
            self.transport.write_eof()
        self.loop.call_later(LINGER_SECONDS, self.transport.close)

    def data_received(self, data: bytes) -> None:
        if self._lingering:
            return  # we said goodbye; the client will retry elsewhere
        super().data_received(data)

    def eof_received(self) -> bool | None:  # type: ignore[override]  # asyncio allows True
        if self._lingering or self.cycle is None or self.cycle.response_complete:
            return None  # nothing left to answer: let the transport close
        # The request is in hand: keep the write side open to send its answer.
        self._client_done = True
        return True

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if self._client_done and not self.transport.is_closing():
            self.transport.close()
