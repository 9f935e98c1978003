"""Signed webhooks, beyond Zaqar: with `options.signing_secret`, a receiver can tell that a
request came from this server and was not replayed later.

Each signed request carries two headers:

    X-Herald-Timestamp: 1764590000
    X-Herald-Signature: <hex HMAC-SHA256 of b"1764590000." + body, keyed by the secret>

A receiver recomputes the HMAC over the timestamp, a dot and the exact body
bytes it received, compares the hex digests in constant time, and refuses a
timestamp further than a few minutes from its own clock. `verify` does all
three.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Final

SIGNATURE_HEADER: Final = "X-Herald-Signature"
TIMESTAMP_HEADER: Final = "X-Herald-Timestamp"
TOLERANCE: Final = 300.0
"""Seconds a timestamp may be from the receiver's clock, either way, by default."""


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """The hex HMAC-SHA256, keyed by the secret's UTF-8, of the timestamp, a dot and the body."""
    signed = str(timestamp).encode() + b"." + body
    return hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def signing_headers(secret: str, body: bytes, now: float) -> dict[str, str]:
    """The two headers that sign a request body sent at `now` (a Unix time)."""
    timestamp = int(now)
    return {
        TIMESTAMP_HEADER: str(timestamp),
        SIGNATURE_HEADER: signature(secret, timestamp, body),
    }


def verify(
    secret: str,
    body: bytes,
    signature_header: str | None,
    timestamp_header: str | None,
    *,
    now: float,
    tolerance: float = TOLERANCE,
) -> bool:
    """Whether the headers sign this body with this secret, sent within `tolerance` seconds of
    `now`; the digests are compared in constant time."""
    if not signature_header or not timestamp_header:
        return False
    text = timestamp_header.strip()
    if not text.isascii() or not text.isdigit() or len(text) > 12:
        return False
    timestamp = int(text)
    if abs(now - timestamp) > tolerance:
        return False
    expected = signature(secret, timestamp, body).encode()
    # latin-1 gives any header text its bytes; compare_digest refuses non-ASCII str.
    return hmac.compare_digest(expected, signature_header.strip().lower().encode("latin-1"))
