"""Who is asking: the `Caller` every operation receives, and the step that decides it.

Identity is decided once per request, from the request's headers, by one
`Identify` step; nothing downstream reads identity headers. An authentication
backend replaces the step, never the code that uses a `Caller`.
"""

from __future__ import annotations

import functools
import re
import uuid
from collections.abc import Mapping
from typing import Literal, Protocol

import msgspec

from herald.errors import InvalidHeader, InvalidQueueName

PROJECT_ID_MAX_LEN = 256
# Any text but control characters: a project id travels in store keys and logs.
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")

Headers = Mapping[str, str]
"""Request headers by lower-case name."""

Proof = Literal["noauth", "keystone", "apikey", "signed_url"]
"""How a caller's identity was established."""


class Presented(msgspec.Struct, frozen=True):
    """What a request shows of itself to the identity step: its method, path and headers."""

    method: str
    path: str
    headers: Headers


class Credential:
    """The caller's own proof (a Keystone token), kept for the one operation that must lend
    it on (a trust); its repr hides it, so no log line or traceback shows it."""

    __slots__ = ("secret",)

    def __init__(self, secret: str) -> None:
        self.secret = secret

    def __repr__(self) -> str:
        return "Credential(<hidden>)"


class Caller(msgspec.Struct, frozen=True, kw_only=True):
    """The project and client a request acts for, its roles, and how that was proven.

    `expires` is when the proof runs out (seconds since the epoch), if it does: a
    connection that stays authenticated ends then. `credential` is the validated
    token itself, under keystone only."""

    project: str
    client_id: str
    roles: frozenset[str] = frozenset()
    user_id: str = ""
    authenticated_by: Proof = "noauth"
    expires: float | None = None
    credential: Credential | None = None

    @property
    def is_admin(self) -> bool:
        return "admin" in self.roles


class Identify(Protocol):
    """Turns what a request presents into a Caller, or raises a HeraldError.

    It may wait (on Keystone, on the store), so it is a coroutine; for a request
    that presents nothing it may check, it costs one await."""

    async def __call__(self, presented: Presented) -> Caller: ...


class IdentityStep:
    """An `Identify` with a life: started before serving, stopped after (clients, caches)."""

    async def start(self) -> None:
        """Prepare what checking credentials needs; a failure stops start-up."""

    async def stop(self) -> None:
        """Release what `start` took."""

    async def authenticate(self, presented: Presented) -> Presented:
        """Check the credentials before anything else of the request, even its path.

        Transports call it first on every path but the root, as Zaqar's auth
        middleware runs ahead of its routing; it may hand `__call__` what it
        proved, in what it returns. The default proves nothing and refuses nothing."""
        return presented

    def screen(self, presented: Presented) -> None:
        """Refuse, before any other check of the request, credentials wrong on their face.

        Transports call it once the request is routed, then check the rest of the
        request, then ask for the Caller; a pre-signed URL is judged here. The
        default refuses nothing."""

    async def __call__(self, presented: Presented) -> Caller:
        raise NotImplementedError


class ClientIdRule(msgspec.Struct, frozen=True, kw_only=True):
    """How a Client-ID is checked: as a UUID (`strict`) or only by length (`off`)."""

    mode: Literal["strict", "off"] = "strict"
    min_length: int = 10
    max_length: int = 36

    def check(self, value: str | None) -> str:
        """The client id as stored: a UUID's 32 hex digits, or the text as sent."""
        if value is None:
            raise InvalidHeader("The Client-ID header is required.", code="client_id_missing")
        if self.mode == "off":
            if not self.min_length <= len(value) <= self.max_length:
                raise InvalidHeader(
                    f"Client-ID must be from {self.min_length} to {self.max_length} "
                    "characters long.",
                    code="client_id_length",
                )
            return value
        client_id = _uuid_hex(value)
        if client_id is None:
            raise InvalidHeader("Client-ID must be a UUID.", code="client_id_invalid")
        return client_id


class NoAuth(IdentityStep):
    """Trusts the headers as sent: for a trusted network only.

    The project comes from X-Project-ID (or X-Tenant-Id / X-Tenant, as oslo
    reads them) and the roles from X-Roles; anyone who can reach the port can
    claim any project and any role."""

    def __init__(self, client_ids: ClientIdRule) -> None:
        self.client_ids = client_ids

    async def __call__(self, presented: Presented) -> Caller:
        headers = presented.headers
        client_id = self.client_ids.check(headers.get("client-id"))
        project = headers.get("x-project-id")
        if project is None:
            project = headers.get("x-tenant-id", headers.get("x-tenant"))
        return Caller(
            project=check_project(project),
            client_id=client_id,
            roles=roles_of(headers.get("x-roles")),
        )


def check_project(project: str | None) -> str:
    """The project id, if one was given and the API allows it."""
    if project is None:
        raise InvalidHeader("The header X-Project-ID was missing.", code="project_missing")
    if project == "":
        raise InvalidHeader("X-Project-ID cannot be an empty string.", code="project_empty")
    if len(project) > PROJECT_ID_MAX_LEN or _CONTROL.search(project):
        raise InvalidQueueName(
            f"Project ids may not be more than {PROJECT_ID_MAX_LEN} characters long "
            "and may hold no control characters."
        )
    return project


def roles_of(header: str | None) -> frozenset[str]:
    # Role names compare without regard to case, as oslo.policy's role checks do.
    return frozenset(r.strip().lower() for r in (header or "").split(",") if r.strip())


@functools.lru_cache(maxsize=4096)
def _uuid_hex(value: str) -> str | None:
    """The UUID's 32 hex digits, or None; clients send the same id request after request."""
    try:
        return uuid.UUID(value).hex
    except ValueError:
        return None
