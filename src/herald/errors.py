"""Domain errors: each carries the HTTP-like status and the title a client sees."""

from __future__ import annotations


class HeraldError(Exception):
    """A client-visible failure with a status, a title and a description."""

    status: int = 500
    title: str = "Internal server error"

    def __init__(self, description: str = "", *, title: str | None = None) -> None:
        super().__init__(description)
        self.description = description
        if title is not None:
            self.title = title


class InvalidRequest(HeraldError):
    """A request that is well-formed but breaks a rule or a limit."""

    status = 400
    title = "Invalid API request"


class InvalidBody(HeraldError):
    """A body that does not parse or has the wrong shape."""

    status = 400
    title = "Invalid request body"


class InvalidParameter(HeraldError):
    """A query-string parameter that does not parse or is out of range."""

    status = 400
    title = "Invalid parameter"


class InvalidHeader(HeraldError):
    """A required header that is missing or malformed."""

    status = 400
    title = "Invalid header value"


class InvalidContentType(HeraldError):
    status = 400
    title = "Invalid Content-Type"


class InvalidQueueName(HeraldError):
    status = 400
    title = "Invalid queue identification"


class ClaimGone(HeraldError):
    """A claim id was given for a delete but no such live claim exists."""

    status = 400
    title = "Unable to delete"


class MessageNotClaimed(HeraldError):
    status = 400
    title = "Unable to delete"


class MessageClaimed(HeraldError):
    """The message is under a live claim the caller does not hold."""

    status = 403
    title = "Unable to delete"


class NotAuthorized(HeraldError):
    status = 403
    title = "Not authorized"


class NotFound(HeraldError):
    status = 404
    title = "Not found"


class NotAcceptable(HeraldError):
    status = 406
    title = "Media type not acceptable"


class Conflict(HeraldError):
    status = 409
    title = "Resource conflict"


class UnsupportedMediaType(HeraldError):
    status = 415
    title = "415 Unsupported Media Type"


class ServiceUnavailable(HeraldError):
    """The storage backend failed or is out of reach; the client may retry."""

    status = 503
    title = "Service temporarily unavailable"
