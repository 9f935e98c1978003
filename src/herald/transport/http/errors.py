"""Error codes as Zaqar's HTTP statuses and titles, and the JSON body they travel in."""

from __future__ import annotations

import logging

from herald.errors import HeraldError, NotAuthenticated

log = logging.getLogger("herald")

STATUS_AND_TITLE: dict[str, tuple[int, str]] = {
    "invalid_request": (400, "Invalid API request"),
    "invalid_body": (400, "Invalid request body"),
    "invalid_parameter": (400, "Invalid parameter"),
    "invalid_header": (400, "Invalid header value"),
    "project_missing": (400, "Project-Id Missing"),
    "project_empty": (400, "Empty project header not allowed"),
    "client_id_missing": (400, "Missing header value"),
    "client_id_invalid": (400, "Wrong UUID value"),
    "client_id_length": (400, "Wrong Client-ID value"),
    "invalid_content_type": (400, "Invalid Content-Type"),
    "invalid_queue_name": (400, "Invalid queue identification"),
    "invalid_topic_name": (400, "Invalid topic identification"),
    "claim_gone": (400, "Unable to delete"),
    "message_not_claimed": (400, "Unable to delete"),
    "message_claimed": (403, "Unable to delete"),
    # keystonemiddleware's title for a missing or invalid token, which Zaqar's clients see.
    "not_authenticated": (401, "Unauthorized"),
    "not_authorized": (403, "Not authorized"),
    "not_found": (404, "Not found"),
    # Zaqar's title for a refused pre-signed request is falcon's bare 404.
    "signed_url_refused": (404, "404 Not Found"),
    "not_acceptable": (406, "Media type not acceptable"),
    "conflict": (409, "Resource conflict"),
    "unsupported_media_type": (415, "415 Unsupported Media Type"),
    "service_unavailable": (503, "Service temporarily unavailable"),
    "encryption_failure": (500, "Message encryption failure"),
    "internal_error": (500, "Internal server error"),
}


def status_and_document(error: HeraldError) -> tuple[int, dict[str, str]]:
    """The status and the `{title, description}` body a client gets for the error."""
    status, title = STATUS_AND_TITLE.get(error.code, STATUS_AND_TITLE["internal_error"])
    description = error.public_description
    if description != error.description:
        log.warning("%s: %s", title, error.description)
    document = {"title": title}
    if description:
        document["description"] = description
    return status, document


def error_headers(error: HeraldError) -> list[tuple[bytes, bytes]]:
    """The headers an error adds to its response: a 401's challenge, if it has one."""
    if isinstance(error, NotAuthenticated) and error.challenge:
        return [(b"www-authenticate", error.challenge.encode("latin-1"))]
    return []
