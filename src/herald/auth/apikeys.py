"""The `apikey` identity step: a request proves its project and roles with an API key.

The key comes as `Authorization: Bearer <key>` or `X-Auth-Token: <key>`; its
record in the store, not any header, says the project and the roles, so
X-Project-ID and X-Roles are ignored. The Client-ID is checked as in noauth.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from herald.auth.cache import DeadlineCache
from herald.auth.keys import key_id_of, refusal
from herald.errors import NotAuthenticated
from herald.identity import Caller, ClientIdRule, Headers, IdentityStep, Presented
from herald.model import ApiKeyRecord
from herald.storage.base import Store

log = logging.getLogger("herald")

CACHE_SIZE = 10_000

# RFC 6750: a request that presented no key gets the bare challenge; one whose
# key was refused is told the token is invalid. Every refused key gets the
# same words, so that an answer tells nothing about which keys exist.
MISSING_CHALLENGE = 'Bearer realm="herald"'
MISSING_DESCRIPTION = (
    "This request needs an API key: send Authorization: Bearer <key> or X-Auth-Token: <key>."
)
INVALID_CHALLENGE = f'{MISSING_CHALLENGE}, error="invalid_token"'
INVALID_DESCRIPTION = "The API key is not valid: it is malformed, unknown, revoked or expired."


class ApiKeyAuth(IdentityStep):
    """Checks API keys against the store, trusting a checked key for `cache_seconds`."""

    def __init__(
        self,
        store: Store,
        client_ids: ClientIdRule,
        *,
        cache_seconds: float,
        cache_size: int = CACHE_SIZE,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store = store
        self.client_ids = client_ids
        self.cache_seconds = cache_seconds
        self.checked: DeadlineCache[ApiKeyRecord] = DeadlineCache(cache_size, monotonic)
        self._clock = clock

    async def __call__(self, presented: Presented) -> Caller:
        headers = presented.headers
        key = presented_key(headers)
        key_id = key_id_of(key)
        if key_id is None:
            log.debug("API key refused: malformed")
            raise invalid()
        record = await self._record(key_id)
        if record is None:
            log.debug("API key %s refused: unknown", key_id)
            raise invalid()
        reason = refusal(record, key, self._clock())
        if reason is not None:
            log.info("API key %s refused: %s", key_id, reason)
            raise invalid()
        return Caller(
            project=record.project,
            client_id=self.client_ids.check(headers.get("client-id")),
            roles=frozenset(record.roles),
            user_id=record.id,
            authenticated_by="apikey",
            expires=record.expires,
        )

    async def _record(self, key_id: str) -> ApiKeyRecord | None:
        # A store that fails raises ServiceUnavailable, a 503: never a 401.
        record = self.checked.get(key_id.encode())
        if record is None:
            asked_at = self.checked.clock()
            record = await self.store.get_key(key_id)
            if record is not None:
                self.checked.put(key_id.encode(), record, self.cache_seconds, since=asked_at)
        return record


def presented_key(headers: Headers) -> str:
    """The key a request presents, or NotAuthenticated when it presents none or two."""
    authorization = headers.get("authorization")
    token = headers.get("x-auth-token")
    if authorization is not None:
        scheme, _, credentials = authorization.strip().partition(" ")
        if scheme.lower() != "bearer" or not credentials.strip():
            raise invalid()
        bearer = credentials.strip()
        if token is not None and token.strip() != bearer:
            raise invalid()
        return bearer
    if token is None or not token.strip():
        raise NotAuthenticated(MISSING_DESCRIPTION, challenge=MISSING_CHALLENGE)
    return token.strip()


def invalid() -> NotAuthenticated:
    """The 401 for a key that was presented but does not hold."""
    return NotAuthenticated(INVALID_DESCRIPTION, challenge=INVALID_CHALLENGE)
