"""JSON documents from clients: decoded into typed shapes, refused with a true reason.

Beyond JSON's own grammar a document must be valid UTF-8 and hold no integer
outside signed 64 bits and no number that overflows a double, so that every
consumer can read back what it was given.
"""

from __future__ import annotations

import re
from typing import Any, TypeVar

import msgspec

from herald import errors

T = TypeVar("T")

_INT64 = 2**63
# Only a run of 19 digits or a three-digit exponent can overflow, so the usual
# document is kept off the slow path of a second decode by looking at its
# bytes first. Mapped to a few classes, the look is three substring searches
# in C: about 2 ns a byte where a regex took 20 (benchmarks/json_checks.py).
_NUMBER_CLASSES = bytes(
    ord("0")
    if chr(b).isdigit() and b < 128
    else ord("e")
    if chr(b) in "eE"
    else ord("+")
    if chr(b) in "+-"
    else ord(" ")
    for b in range(256)
)
_LONG_DIGITS = b"0" * 19
_BIG_EXPONENTS = (b"e000", b"e+000")
_LONE_SURROGATE = re.compile(rb"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")
_decode_any = msgspec.json.Decoder().decode


def decode_document(data: bytes, kind: type[T]) -> T:
    """Decode a JSON body into `kind`, with a client-facing error when it does not fit."""
    try:
        document = msgspec.json.decode(data, type=kind)
    except msgspec.ValidationError as exc:
        if "Number out of range" in str(exc):
            raise errors.InvalidBody("JSON contains a number too large for a double.") from None
        raise errors.InvalidBody(f"The JSON body does not fit the request: {exc}.") from None
    except msgspec.DecodeError as exc:
        raise errors.InvalidBody(_parse_failure(data, exc)) from None
    except RecursionError:
        # msgspec gives up on very deep nesting with a RecursionError, not a DecodeError.
        raise errors.InvalidBody("Request body is nested too deeply.") from None
    if not data.isascii() or _may_overflow(data):
        # `kind` may keep parts as raw bytes msgspec never looked into.
        _check_everything(data)
    return document


def _may_overflow(data: bytes) -> bool:
    """Whether the bytes hold a digit run or an exponent that might not fit."""
    classes = data.translate(_NUMBER_CLASSES)
    return _LONG_DIGITS in classes or any(e in classes for e in _BIG_EXPONENTS)


def _check_everything(data: bytes) -> None:
    try:
        _check_numbers(_decode_any(data))
    except msgspec.ValidationError:
        raise errors.InvalidBody("JSON contains a number too large for a double.") from None
    except msgspec.DecodeError as exc:
        raise errors.InvalidBody(_parse_failure(data, exc)) from None


def _check_numbers(value: Any) -> None:
    # Iterative, so that deep documents msgspec accepted cannot exhaust the stack here.
    pending = [value]
    while pending:
        item = pending.pop()
        if type(item) is int:
            if not -_INT64 <= item < _INT64:
                raise errors.InvalidBody("JSON contains integer that is too large.")
        elif type(item) is dict:
            pending.extend(item.values())
        elif type(item) is list:
            pending.extend(item)


def _parse_failure(data: bytes, exc: msgspec.DecodeError) -> str:
    if not data.strip():
        return "Request body could not be parsed."
    if "UTF-8" in str(exc):
        return "Request body could not be parsed: it is not valid UTF-8."
    if _LONE_SURROGATE.search(data):
        return (
            "Request body could not be parsed: it holds a \\u escape of an unpaired "
            "UTF-16 surrogate (\\ud800 to \\udfff), which stands for no character."
        )
    return f"Request body could not be parsed: {exc}."
