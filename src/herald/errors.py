"""Domain errors: each carries a stable code that every transport maps to its own wire form.

A code never changes once released; the HTTP layer maps codes to Zaqar's
statuses and titles, and another protocol maps the same codes its own way.
"""

from __future__ import annotations


class HeraldError(Exception):
    """A client-visible failure with a stable code and a description."""

    code: str = "internal_error"

    def __init__(self, description: str = "", *, code: str | None = None) -> None:
        super().__init__(description)
        self.description = description
        if code is not None:
            self.code = code

    @property
    def public_description(self) -> str:
        """What the client may be told; the description may hold more, for the log."""
        return self.description


class InvalidRequest(HeraldError):
    """A request that is well-formed but breaks a rule or a limit."""

    code = "invalid_request"


class InvalidBody(HeraldError):
    """A body that does not parse or has the wrong shape."""

    code = "invalid_body"


class InvalidParameter(HeraldError):
    """A query-string parameter that does not parse or is out of range."""

    code = "invalid_parameter"


class InvalidHeader(HeraldError):
    """A required header that is missing or malformed; the code says which."""

    code = "invalid_header"


class InvalidContentType(HeraldError):
    code = "invalid_content_type"


class InvalidQueueName(HeraldError):
    code = "invalid_queue_name"


class ClaimGone(HeraldError):
    """A claim id was given for a delete but no such live claim exists."""

    code = "claim_gone"


class MessageNotClaimed(HeraldError):
    code = "message_not_claimed"


class MessageClaimed(HeraldError):
    """The message is under a live claim the caller does not hold."""

    code = "message_claimed"


class NotAuthenticated(HeraldError):
    """The request proves no identity: its credentials are missing or not valid.

    `challenge` tells the client how to authenticate (HTTP sends it as
    `WWW-Authenticate`); None when there is nothing to tell."""

    code = "not_authenticated"

    def __init__(self, description: str = "", *, challenge: str | None = None) -> None:
        super().__init__(description)
        self.challenge = challenge


class NotAuthorized(HeraldError):
    code = "not_authorized"


class NotFound(HeraldError):
    code = "not_found"


class SignedUrlRefused(HeraldError):
    """A pre-signed request that does not hold; whatever failed, the answer is the same."""

    code = "signed_url_refused"


class NotAcceptable(HeraldError):
    code = "not_acceptable"


class Conflict(HeraldError):
    code = "conflict"


class UnsupportedMediaType(HeraldError):
    code = "unsupported_media_type"


class EncryptionFailure(HeraldError):
    """A body the server cannot encrypt or decrypt with its keys: a fault of its settings
    or of the store, never of the request. Clients are told `public`; the log gets more."""

    code = "encryption_failure"

    def __init__(self, description: str = "", *, public: str | None = None) -> None:
        super().__init__(description)
        self.public = public or description

    @property
    def public_description(self) -> str:
        return self.public


class ServiceUnavailable(HeraldError):
    """The storage backend failed or is out of reach; the client may retry.

    The description names the backend's address for the log; clients are told
    only `public`, since an internal address is nobody else's business."""

    code = "service_unavailable"
    GENERIC = "The store is unavailable right now; please try again in a few seconds."

    def __init__(self, description: str = "", *, public: str | None = None) -> None:
        super().__init__(description)
        self.public = public or self.GENERIC

    @property
    def public_description(self) -> str:
        return self.public


class StoreUnavailable(ServiceUnavailable):
    """It is the store that failed, not another service Herald relies on (Keystone):
    what the outage watch counts and logs once."""

    code = "store_unavailable"
