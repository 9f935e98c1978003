"""The parts of an ASGI request a handler reads: headers, query, body, and who asks."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl

from herald import errors
from herald.identity import Caller

ANONYMOUS = Caller(project="", client_id="")

LONG_POLL = "herald.long_poll"
"""Set in the scope of a request that waits for messages: the protocol then takes the
client's end of input for its leaving (see protocol.py)."""

TRUE_WORDS = frozenset(("true", "True", "t", "yes", "y", "1", "on"))
FALSE_WORDS = frozenset(("false", "False", "f", "no", "n", "0", "off"))
_INT64 = 2**63


class Request:
    """One HTTP request, with lazily parsed query string and body."""

    __slots__ = (
        "_pairs",
        "_receive",
        "_scope",
        "caller",
        "headers",
        "method",
        "path",
        "query",
        "root",
    )

    def __init__(self, scope: dict[str, Any], receive: Any) -> None:
        self.method: str = scope["method"]
        self.path: str = scope["path"]
        self.headers: dict[str, str] = {
            k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]
        }
        raw_query: bytes = scope.get("query_string", b"")
        self._pairs = parse_qsl(raw_query.decode("latin-1")) if raw_query else []
        # A repeated parameter counts once, by its first value, except in lists.
        self.query: dict[str, str] = {}
        for key, value in self._pairs:
            self.query.setdefault(key, value)
        # Set by the identity step before any handler that needs it runs.
        self.caller: Caller = ANONYMOUS
        # Where the named queue lives: its hrefs start here (topics have their own).
        self.root = "/v2/queues"
        self._receive = receive
        self._scope = scope

    def header(self, name: str) -> str | None:
        return self.headers.get(name)

    def int_param(self, name: str) -> int | None:
        """An integer query parameter; None when absent or blank."""
        value = self.query.get(name)
        if value is None or value == "":
            return None
        try:
            number = int(value)
        except ValueError:
            number = _INT64
        if not -_INT64 <= number < _INT64:
            raise errors.InvalidParameter(
                f'The "{name}" parameter is invalid. The value must be an integer.'
            )
        return number

    def seconds_param(self, name: str) -> float:
        """A number of seconds; 0 when absent or blank."""
        value = self.query.get(name)
        if value is None or value == "":
            return 0.0
        try:
            return float(value)
        except ValueError:
            raise errors.InvalidParameter(
                f'The "{name}" parameter is invalid. The value must be a number of seconds.'
            ) from None

    async def disconnected(self) -> None:
        """Return once the client has gone away: what a long poll waits for beside its
        messages. Any body not yet read is read and dropped."""
        self._scope[LONG_POLL] = True
        while (await self._receive())["type"] != "http.disconnect":
            pass

    def bool_param(self, name: str, default: bool = False) -> bool:
        value = self.query.get(name)
        if value is None or value == "":
            return default
        if value in TRUE_WORDS:
            return True
        if value in FALSE_WORDS:
            return False
        raise errors.InvalidParameter(
            f'The "{name}" parameter is invalid. The value must be a boolean (true or false).'
        )

    def list_param(self, name: str) -> list[str] | None:
        """A comma-separated or repeated query parameter without blank items; None if absent."""
        items = [
            item for key, value in self._pairs if key == name for item in value.split(",") if item
        ]
        return items or None

    def str_param(self, name: str) -> str | None:
        value = self.query.get(name)
        return value or None

    async def body(self, limit: int, too_large: str) -> bytes:
        """Read the body, refusing one longer than `limit` bytes before reading it."""
        declared = self.headers.get("content-length")
        if declared is not None:
            try:
                length = int(declared)
            except ValueError:
                raise errors.InvalidHeader("Content-Length must be an integer.") from None
            if length > limit:
                raise errors.InvalidRequest(too_large)
        chunks = []
        size = 0
        while True:
            event = await self._receive()
            if event["type"] == "http.disconnect":
                raise errors.InvalidBody("The client went away before sending the body.")
            chunk = event.get("body", b"")
            size += len(chunk)
            if size > limit:
                raise errors.InvalidRequest(too_large)
            chunks.append(chunk)
            if not event.get("more_body", False):
                break
        return chunks[0] if len(chunks) == 1 else b"".join(chunks)
