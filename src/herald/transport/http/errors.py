"""The JSON body an error travels in over HTTP, and the headers it adds."""

from __future__ import annotations

from herald.errors import HeraldError, NotAuthenticated
from herald.transport.codes import STATUS_AND_TITLE, public_form

__all__ = ["STATUS_AND_TITLE", "error_headers", "status_and_document"]


def status_and_document(error: HeraldError) -> tuple[int, dict[str, str]]:
    """The status and the `{title, description}` body a client gets for the error."""
    status, title, description = public_form(error)
    document = {"title": title}
    if description:
        document["description"] = description
    return status, document


def error_headers(error: HeraldError) -> list[tuple[bytes, bytes]]:
    """The headers an error adds to its response: a 401's challenge, if it has one."""
    if isinstance(error, NotAuthenticated) and error.challenge:
        return [(b"www-authenticate", error.challenge.encode("latin-1"))]
    return []
