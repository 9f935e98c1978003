"""Frames on the wire: a request names an action, a reply echoes it with a status.

Text frames carry JSON and binary frames MessagePack of the same shape; a
reply goes back in the encoding of its request. The service speaks JSON
documents, so MessagePack parts it needs are turned into JSON on the way in,
and the JSON it answers turned into MessagePack on the way out.
"""

from __future__ import annotations

import enum
from typing import Any, TypeVar

import msgspec

from herald import errors

T = TypeVar("T")

CREDENTIALS = frozenset(("x-auth-token", "authorization"))
"""Header names whose values a reply never echoes: the client has them, nobody else should."""

_HIDDEN = "***"


class Encoding(enum.Enum):
    JSON = "text"
    MSGPACK = "bytes"


class Request(msgspec.Struct, frozen=True):
    """A request frame: the action, its headers (names as the client spelled them) and body.

    A header whose value is null counts as absent: clients send null for what they lack."""

    action: str
    headers: dict[str, str | None] = {}
    body: msgspec.Raw | msgspec.UnsetType = msgspec.UNSET


class Echo(msgspec.Struct, frozen=True):
    """The request as a reply repeats it, as Zaqar's replies do, credentials hidden."""

    action: str
    body: Any
    headers: dict[str, str | None]
    api: str = "v2"


class Status(msgspec.Struct, frozen=True):
    status: int


class Reply(msgspec.Struct, frozen=True):
    request: Echo | None
    body: Any
    headers: Status


class BadFrame(errors.InvalidRequest):
    """A frame that is not a request: it does not decode, or is not an object of the right shape."""


_json_request = msgspec.json.Decoder(Request)
_msgpack_request = msgspec.msgpack.Decoder(Request)
_json_any = msgspec.json.Decoder()
_msgpack_any = msgspec.msgpack.Decoder()
_json_encode = msgspec.json.Encoder().encode
_msgpack_encode = msgspec.msgpack.Encoder().encode
_EMPTY = {Encoding.JSON: msgspec.Raw(b"{}"), Encoding.MSGPACK: msgspec.Raw(b"\x80")}


def decode_request(data: bytes, encoding: Encoding) -> Request:
    """The request in a frame, or BadFrame saying what is wrong with it."""
    try:
        if encoding is Encoding.JSON:
            return _json_request.decode(data)
        return _msgpack_request.decode(data)
    except msgspec.ValidationError as exc:
        # Only a problem of the frame as a whole has no path after it.
        if str(exc).startswith("Expected `object`") and " - at `" not in str(exc):
            raise BadFrame("Unexpected body type. Expected dict or dict like.") from None
        raise BadFrame(f"Schema validation failed: {exc}.") from None
    except msgspec.DecodeError as exc:
        kind = "text (JSON)" if encoding is Encoding.JSON else "binary (MessagePack)"
        raise BadFrame(f"Can't decode {kind} request: {exc}.") from None
    except RecursionError:
        raise BadFrame("The request is nested too deeply.") from None


def body_of(request: Request, encoding: Encoding) -> msgspec.Raw:
    """The request's body as sent; `{}` when it has none."""
    return _EMPTY[encoding] if request.body is msgspec.UNSET else request.body


def decode_part(raw: msgspec.Raw, kind: type[T], encoding: Encoding) -> T:
    """A part of a request as a typed value; BadFrame when it does not fit."""
    try:
        if encoding is Encoding.JSON:
            return msgspec.json.decode(raw, type=kind)
        return msgspec.msgpack.decode(raw, type=kind)
    except msgspec.ValidationError as exc:
        raise BadFrame(f"Schema validation failed: {exc}.") from None
    except (msgspec.DecodeError, RecursionError) as exc:
        raise BadFrame(f"The request body does not decode: {exc}.") from None


def as_json(raw: msgspec.Raw, encoding: Encoding) -> bytes:
    """A part of a request as the JSON document the service reads."""
    if encoding is Encoding.JSON:
        return bytes(raw)
    try:
        return _json_encode(_msgpack_any.decode(raw))
    except (msgspec.DecodeError, TypeError, RecursionError) as exc:
        raise BadFrame(f"The MessagePack request has no JSON equivalent: {exc}.") from None


def echo_of(request: Request, encoding: Encoding) -> Echo:
    headers = {
        name: _HIDDEN if name.lower() in CREDENTIALS else value
        for name, value in request.headers.items()
    }
    return Echo(request.action, body_of(request, encoding), headers)


def encode_reply(echo: Echo | None, status: int, document: Any, encoding: Encoding) -> bytes:
    """The reply frame: the echoed request, the answer's document and its status.

    `document` may hold raw JSON (message bodies as stored); a MessagePack reply
    has it decoded and encoded again."""
    if encoding is Encoding.JSON:
        return _json_encode(Reply(echo, document, Status(status)))
    plain = _json_any.decode(_json_encode(document))
    return _msgpack_encode(Reply(echo, plain, Status(status)))


def encode_document(document: Any, encoding: Encoding) -> bytes:
    """A bare frame (a notification, not a reply) in the given encoding."""
    data = _json_encode(document)
    if encoding is Encoding.JSON:
        return data
    return _msgpack_encode(_json_any.decode(data))


def lower_headers(request: Request) -> dict[str, str]:
    """The request's headers by lower-case name, as the identity step reads them."""
    return {name.lower(): value for name, value in request.headers.items() if value is not None}
