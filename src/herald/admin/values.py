"""Command-line values checked as argparse reads them, so a bad one is a usage error."""

from __future__ import annotations

import argparse
from typing import Any

import msgspec


def positive_int(text: str) -> int:
    try:
        number = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, not {text!r}") from None
    if number < 1:
        raise argparse.ArgumentTypeError(f"expected a number of at least 1, not {number}")
    return number


def json_value(text: str) -> Any:
    try:
        return msgspec.json.decode(text)
    except msgspec.DecodeError:
        raise argparse.ArgumentTypeError(
            f"not JSON: {text!r} (quote a string as '\"text\"', or give --text)"
        ) from None


def json_object(text: str) -> dict[str, Any]:
    value = json_value(text)
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError(f"expected a JSON object, not {text!r}")
    return value
