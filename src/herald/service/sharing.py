"""Sharing: pre-signed URLs opening a queue's messages, subscriptions or claims to their holder."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from herald import errors
from herald.auth.signed_urls import (
    DEFAULT_LIFETIME,
    SHAREABLE,
    SharedUrl,
    Signer,
    grant,
    parse_expires,
    signed_path,
    utc_seconds,
)
from herald.identity import Caller
from herald.service.access import action
from herald.service.context import Context
from herald.service.documents import decode_document

_KEYS = frozenset(("paths", "methods", "expires"))


class Sharing:
    """The share operation of one service."""

    def __init__(self, context: Context, signer: Signer) -> None:
        self._clock = context.clock
        self.policy = context.policy
        self._signer = signer

    @action("queues:share")
    async def share(self, caller: Caller, queue: str, body: bytes) -> SharedUrl:
        """Sign a grant of the caller's project on the queue's paths, as the body asks."""
        if not body.strip():
            raise errors.InvalidBody(
                'The request body is empty: expected {"paths", "methods", "expires"}.'
            )
        document = decode_document(body, dict[str, Any])
        unknown = sorted(set(document) - _KEYS)
        if unknown:
            raise errors.InvalidRequest(
                f"Unknown keys: {unknown}; a share request takes paths, methods and expires."
            )
        kinds = _strings(document.get("paths"), "paths") or ["messages"]
        invalid = sorted(set(kinds) - set(SHAREABLE))
        if invalid:
            raise errors.InvalidRequest(
                f"Invalid paths: {invalid}; a URL may share any of {list(SHAREABLE)}."
            )
        if not self._signer.enabled:
            # Zaqar answers 400 here too ("The `key` can't be None").
            raise errors.InvalidRequest(
                "Pre-signed URLs are not enabled: this server has no [signed_url] secret_key."
            )
        methods = _strings(document.get("methods"), "methods") or ["GET"]
        # A backslash could be read as part of the signed text's separators.
        if any("\\" in text for text in (*methods, caller.project)):
            raise errors.InvalidRequest(
                "Methods and the project id of a pre-signed URL may not hold a backslash."
            )
        now = self._clock()
        expires = document.get("expires")
        if expires is None:
            moment = datetime.fromtimestamp(now + DEFAULT_LIFETIME, UTC).replace(tzinfo=None)
        elif not isinstance(expires, str):
            raise errors.InvalidRequest(
                "`expires` must be a date and time such as 2016-01-01T00:00:00."
            )
        else:
            try:
                moment = parse_expires(expires)
            except ValueError as exc:
                raise errors.InvalidRequest(str(exc)) from None
        # Judged on the second that is signed, so that no URL is born expired.
        if utc_seconds(moment) <= now:
            raise errors.InvalidRequest("`expires` must be later than the current time.")
        paths = [signed_path(queue, kind) for kind in kinds]
        return self._signer.sign(grant(paths, methods, caller.project, moment))


def _strings(value: Any, name: str) -> list[str]:
    """A list of strings from the body; absent or null is empty."""
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise errors.InvalidRequest(f"`{name}` must be a list of strings.")
    return value
