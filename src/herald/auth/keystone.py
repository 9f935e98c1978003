"""Keystone: every X-Auth-Token is validated against Keystone v3 with a service token.

keystoneauth1 does the talking: the service user's password auth, a new
service token when Keystone refuses the old one, tokens redacted from its
logs. It is synchronous, so its calls run in a small pool of threads of their
own and the event loop never waits on Keystone. A validation is cached until
the token expires or `cache_seconds` pass, whichever comes first.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import datetime
import functools
import hashlib
import logging
import re
import time
from collections.abc import Callable
from typing import TypeVar

import msgspec
from keystoneauth1 import exceptions as ksa_exceptions
from keystoneauth1 import session as ksa_session
from keystoneauth1.identity import v3

from herald.auth.cache import DeadlineCache
from herald.config import KeystoneSettings
from herald.errors import HeraldError, NotAuthenticated, NotAuthorized, ServiceUnavailable
from herald.identity import (
    Caller,
    ClientIdRule,
    Credential,
    IdentityStep,
    Presented,
    check_project,
)

log = logging.getLogger("herald")

T = TypeVar("T")

THREADS = 4
"""Validations under way at once: Keystone, not Herald, is what they wait on."""
MAX_PENDING = 256
"""Distinct tokens waiting for Keystone at once; past it, 503 at once rather than a queue."""
CACHE_SIZE = 10_000
"""Validated tokens kept per process (a few hundred bytes each)."""

UNAVAILABLE = "Tokens cannot be checked right now; please try again in a few seconds."
# Printable ASCII without spaces: what any Keystone token is made of (fernet
# tokens are URL-safe base64, JWS tokens add dots). Anything else is refused
# without a round trip.
_TOKEN = re.compile(r"[\x21-\x7e]{1,8192}")


class Validated(msgspec.Struct, frozen=True):
    """What a valid token proves: its project (None if not scoped to one), user and roles,
    until it expires."""

    project: str | None
    user_id: str
    roles: frozenset[str]
    expires: float


class Vouched(Presented, frozen=True, kw_only=True):
    """A request whose token `authenticate` has validated, with what the token proves."""

    validated: Validated


class KeystoneAuth(IdentityStep):
    """Acts for the project, user and roles of a token Keystone says is valid.

    X-Project-ID and X-Roles as sent are never read: a token for project A
    acts for A whatever the headers say, as keystonemiddleware's rewriting of
    those headers makes Zaqar do. The Client-ID rules are those of noauth."""

    def __init__(
        self,
        settings: KeystoneSettings,
        client_ids: ClientIdRule,
        *,
        threads: int = THREADS,
        max_pending: int = MAX_PENDING,
        cache_size: int = CACHE_SIZE,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.client_ids = client_ids
        self.identity_url = v3_url(settings.auth_url)
        self.challenge = f'Keystone uri="{settings.www_authenticate_uri or settings.auth_url}"'
        self.threads = threads
        self.max_pending = max_pending
        self.clock = clock
        self.cache: DeadlineCache[Validated] = DeadlineCache(cache_size)
        self.session = ksa_session.Session(
            auth=v3.Password(
                auth_url=self.identity_url,
                username=settings.username,
                password=settings.password,
                project_name=settings.project_name,
                user_domain_name=settings.user_domain_name,
                project_domain_name=settings.project_domain_name,
            ),
            timeout=settings.timeout,
        )
        self._pending: dict[bytes, asyncio.Future[Validated]] = {}
        # What is wrong with Keystone now, if anything; set and read by the pool
        # threads, where a race costs at most one extra log line.
        self._trouble: str | None = None
        self._pool: concurrent.futures.ThreadPoolExecutor | None = None

    async def start(self) -> None:
        """Authenticate the service user once: credentials Keystone refuses stop
        start-up, while a Keystone out of reach only warns (requests get 503 until
        it answers)."""
        self._pool = concurrent.futures.ThreadPoolExecutor(
            self.threads, thread_name_prefix="herald-keystone"
        )
        try:
            await self._in_thread(self.session.get_token)
        except ksa_exceptions.HttpError as exc:
            if (exc.http_status or 500) >= 500:
                # Keystone's own failure, which may pass; only a refusal is final.
                self._unavailable(f"failed to authenticate the service user ({exc.http_status})")
                return
            raise RuntimeError(
                f"Keystone at {self.identity_url} refused the service user "
                f"{self.settings.username!r} ({exc.http_status}): check [keystone] "
                "username, password, project_name and the domain names"
            ) from None
        except ksa_exceptions.ClientException as exc:
            self._unavailable(f"cannot be reached ({type(exc).__name__})")

    async def stop(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None
        self.session.session.close()

    async def authenticate(self, presented: Presented) -> Presented:
        """The token is validated before routing: a caller without a valid one
        learns nothing of the API, not even which paths exist (Zaqar's order)."""
        validated = await self.validate(presented.headers.get("x-auth-token"))
        return Vouched(presented.method, presented.path, presented.headers, validated=validated)

    async def __call__(self, presented: Presented) -> Caller:
        headers = presented.headers
        token = headers.get("x-auth-token")
        if isinstance(presented, Vouched):
            validated = presented.validated
        else:
            validated = await self.validate(token)
        client_id = self.client_ids.check(headers.get("client-id"))
        if validated.project is None:
            raise NotAuthorized(
                "The token is not scoped to a project; ask Keystone for a project-scoped token."
            )
        return Caller(
            project=validated.project,
            client_id=client_id,
            roles=validated.roles,
            user_id=validated.user_id,
            authenticated_by="keystone",
            expires=validated.expires,
            # Validated just above: the very token Keystone vouched for.
            credential=Credential(token) if token else None,
        )

    async def validate(self, token: str | None) -> Validated:
        """What the token proves, from the cache or from Keystone; raises if it proves nothing."""
        if not token:
            raise NotAuthenticated(
                "This request needs an X-Auth-Token header with a Keystone token.",
                challenge=self.challenge,
            )
        if not _TOKEN.fullmatch(token):
            raise self._invalid()
        # Kept by digest: the cache then holds no token, and a lookup compares
        # digests, which tell an attacker nothing about the tokens behind them.
        key = hashlib.sha256(token.encode()).digest()
        validated = self.cache.get(key)
        if validated is not None:
            return validated
        pending = self._pending.get(key)
        if pending is None:
            if len(self._pending) >= self.max_pending:
                raise ServiceUnavailable(
                    f"{len(self._pending)} token validations are already waiting for Keystone",
                    public=UNAVAILABLE,
                )
            # Requests that bring the same new token at once share one validation.
            pending = asyncio.ensure_future(self._validate(key, token))
            self._pending[key] = pending
            pending.add_done_callback(functools.partial(self._settled, key))
        # Shielded: a client that goes away does not cancel the others' validation.
        return await asyncio.shield(pending)

    async def _validate(self, key: bytes, token: str) -> Validated:
        validated, expires = await self._in_thread(self._ask_keystone, token)
        self.cache.put(key, validated, min(self.settings.cache_seconds, expires - self.clock()))
        return validated

    def _settled(self, key: bytes, future: asyncio.Future[Validated]) -> None:
        self._pending.pop(key, None)
        if not future.cancelled():
            # Each waiter raises the failure itself; marking it retrieved here
            # keeps asyncio from also logging it when nobody waited.
            future.exception()

    async def _in_thread(self, call: Callable[..., T], *args: object) -> T:
        if self._pool is None:
            raise ServiceUnavailable("the Keystone step is not started", public=UNAVAILABLE)
        return await asyncio.get_running_loop().run_in_executor(self._pool, call, *args)

    def _ask_keystone(self, token: str) -> tuple[Validated, float]:
        """Validate the token (in a pool thread): what it proves and when it expires."""
        try:
            answer = self.session.get(
                self.identity_url + "/auth/tokens",
                headers={"X-Subject-Token": token},
                authenticated=True,
                raise_exc=False,
            )
        except ksa_exceptions.HttpError as exc:
            # Raised only while getting a service token: a 401 on a validation
            # has already been retried with a new one.
            raise self._refused(exc.http_status) from None
        except ksa_exceptions.ClientException as exc:
            raise self._unavailable(f"cannot be reached ({type(exc).__name__})") from None
        status = answer.status_code
        if status == 200:
            validated = self._parse(answer.content)
            self._answers()
            return validated
        if status in (400, 404):
            # Keystone answers 404 for a token it does not know, has revoked or
            # has seen expire, and 400 for one it cannot read.
            self._answers()
            raise self._invalid()
        if status in (401, 403):
            raise self._refused(status)
        raise self._unavailable(f"answered {status} to a token validation")

    def _parse(self, body: bytes) -> tuple[Validated, float]:
        try:
            token = _decode(body).token
            expires = datetime.datetime.fromisoformat(token.expires_at).timestamp()
        except (msgspec.ValidationError, ValueError) as exc:
            raise self._unavailable(f"answered a validation that does not parse ({exc})") from None
        project = None if token.project is None else check_project(token.project.id)
        # Role names compare without regard to case, as oslo.policy's role checks do.
        roles = frozenset(role.name.lower() for role in token.roles)
        return Validated(project, token.user.id, roles, expires), expires

    def _invalid(self) -> HeraldError:
        return NotAuthenticated(
            "The X-Auth-Token is not valid: Keystone does not know it, or it has expired "
            "or been revoked.",
            challenge=self.challenge,
        )

    def _refused(self, status: int | None) -> HeraldError:
        return self._unavailable(
            f"refused Herald's service user {self.settings.username!r} ({status}); "
            "check its password and its `service` role"
        )

    def _unavailable(self, trouble: str) -> HeraldError:
        """The 503 for a Keystone in trouble; the trouble is logged when it starts
        or changes, not once per request, so an outage does not flood the log."""
        if trouble != self._trouble:
            self._trouble = trouble
            log.warning(
                "Keystone at %s %s; tokens are answered 503 until it answers",
                self.identity_url,
                trouble,
            )
        return ServiceUnavailable(UNAVAILABLE, public=UNAVAILABLE)

    def _answers(self) -> None:
        if self._trouble is not None:
            self._trouble = None
            log.info("Keystone at %s answers again", self.identity_url)


def v3_url(auth_url: str) -> str:
    """Keystone's v3 root, whether `auth_url` names it or the server's root."""
    url = auth_url.rstrip("/")
    return url if url.endswith("/v3") else url + "/v3"


# Keystone's validation answer: only the fields Herald reads.


class _Named(msgspec.Struct):
    name: str


class _Identified(msgspec.Struct):
    id: str


class _Token(msgspec.Struct):
    expires_at: str
    user: _Identified
    project: _Identified | None = None
    roles: list[_Named] = msgspec.field(default_factory=list)


class _Validation(msgspec.Struct):
    token: _Token


_decode = msgspec.json.Decoder(_Validation).decode
