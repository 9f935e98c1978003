"""uvicorn's sans-I/O `websockets` protocol, with Herald's frame size limit and keepalive.

An upgrade is read by `HeraldHttpProtocol`, so its head is bounded like any
request's and the socket counts against `max_connections` before and after
the upgrade (uvicorn keeps both kinds in one set). What is left to set per
socket is the largest frame and the ping that finds dead peers; the settings
come from the app, so that every server of the app keeps the same limits.
"""

from __future__ import annotations

import logging
from typing import Any

from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.server import ServerProtocol

from herald.transport.http.protocol import limits_of


class HeraldWebSocketProtocol(WebSocketsSansIOProtocol):
    """A WebSocket connection that refuses frames over `max_frame_size` (close 1009) and
    closes a peer that leaves a ping unanswered for `ping_timeout` (close 1011)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        limits = limits_of(self.app).websocket
        # No compression: it costs tens of kilobytes of zlib state per socket,
        # and Herald's frames are small JSON.
        self.conn = ServerProtocol(
            max_size=limits.max_frame_size, logger=logging.getLogger("uvicorn.error")
        )
        self.ping_interval = limits.ping_interval
        self.ping_timeout = limits.ping_timeout
