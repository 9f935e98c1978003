"""Error codes as Zaqar's statuses and titles: one table for every transport.

HTTP sends the status as the response's and the title in the body; a
WebSocket frame carries the same status in its `headers` and the same title.
"""

from __future__ import annotations

import logging

from herald.errors import HeraldError, StoreUnavailable

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
    "store_unavailable": (503, "Service temporarily unavailable"),
    "encryption_failure": (500, "Message encryption failure"),
    "internal_error": (500, "Internal server error"),
}


def status_and_title(error: HeraldError) -> tuple[int, str]:
    """The status and title of the error's code; an unknown code is an internal error."""
    return STATUS_AND_TITLE.get(error.code, STATUS_AND_TITLE["internal_error"])


def public_form(error: HeraldError) -> tuple[int, str, str]:
    """The status, title and description a client is told; what it may not be told is logged."""
    status, title = status_and_title(error)
    description = error.public_description
    # A store outage is logged once by the outage watch, not once per request.
    if description != error.description and not isinstance(error, StoreUnavailable):
        log.warning("%s: %s", title, error.description)
    return status, title, description
