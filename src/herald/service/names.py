"""Which names, markers and name filters the API accepts."""

from __future__ import annotations

import re

from herald import errors

QUEUE_NAME_MAX_LEN = 64
_QUEUE_NAME = re.compile(r"[a-zA-Z0-9_.-]{1,64}")
# A full regex would let one request pin a CPU with catastrophic
# backtracking; without repetition or groups, matching stays linear.
_NAME_FILTER = re.compile(r"\^?[A-Za-z0-9_.-]{0,64}\$?")
# Markers are opaque, but they travel in hrefs and reach stores as text.
_MARKER = re.compile(r"[!-~]{1,256}")


def is_queue_name(name: str) -> bool:
    # "." and ".." are path segments every HTTP client rewrites, so no client could reach them.
    return _QUEUE_NAME.fullmatch(name) is not None and name not in (".", "..")


def check_queue_name(name: str) -> None:
    if not is_queue_name(name):
        raise errors.InvalidQueueName(
            "Queue names may not be more than 64 characters long and must be made "
            "up of letters, digits, underscores, dots and dashes (but not only dots)."
        )


def check_topic_name(name: str) -> None:
    if not is_queue_name(name):
        raise errors.InvalidQueueName(
            "Topic names may not be more than 64 characters long and must be made "
            "up of letters, digits, underscores, dots and dashes (but not only dots).",
            code="invalid_topic_name",
        )


def check_name_filter(pattern: str) -> None:
    if not _NAME_FILTER.fullmatch(pattern):
        raise errors.InvalidRequest(
            "The name filter may hold letters, digits, '_', '-', '.' (any character), "
            "and '^' or '$' to anchor it."
        )


def check_marker(marker: str | None) -> str | None:
    """The marker, if it is printable ASCII that any store can hold."""
    if marker is not None and not _MARKER.fullmatch(marker):
        raise errors.InvalidParameter(
            'The "marker" parameter is invalid. A marker is 1 to 256 printable ASCII characters.'
        )
    return marker
