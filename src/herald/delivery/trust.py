"""Keystone trusts for `trust+http(s)` subscribers: the subscriber's own authority, lent to Herald.

When such a subscription is made, the caller's own token creates a trust:
the caller's user and project as trustor, Herald's service user as trustee,
the roles the token carries, impersonation on, expiring with the subscription.
What the trust grants is read from Keystone's answer about the token, never
from the request. At delivery Herald's service user gets a trust-scoped token
(acting as the trustor) and sends it as `X-Auth-Token`. keystoneauth1 does
the talking in threads of their own, as in `herald.auth.keystone`.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import hashlib
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

import msgspec
from keystoneauth1 import exceptions as ksa_exceptions
from keystoneauth1 import session as ksa_session
from keystoneauth1.identity import v3

from herald.auth.cache import DeadlineCache
from herald.auth.keystone import v3_url
from herald.config import KeystoneSettings
from herald.delivery.outcome import Outcome
from herald.delivery.payload import NotifiedMessage
from herald.delivery.senders import WebhookDelivery
from herald.errors import HeraldError, NotAuthenticated, NotAuthorized, ServiceUnavailable
from herald.identity import Caller
from herald.model import Subscription
from herald.service.subscribers import Subscriber
from herald.service.subscriptions import TRUST_ID

log = logging.getLogger("herald.delivery")

T = TypeVar("T")

THREADS = 2
CACHE_SIZE = 10_000
EXPIRY_MARGIN = 60.0
"""Seconds before its expiry a trust-scoped token stops being handed out."""
_READ_TOKEN = "read the caller's token"
UNAVAILABLE = "Keystone cannot create the trust right now; please try again in a few seconds."


class TrustRefused(Exception):
    """Keystone will not give a token for the trust (deleted, expired, or the trustor lost
    the roles): a permanent failure of the delivery."""


class TrustUnavailable(Exception):
    """Keystone cannot be asked now: worth a retry."""


class Trusts:
    """Creates trusts with callers' tokens and gets trust-scoped tokens for Herald's service
    user, who is every trust's trustee."""

    def __init__(
        self,
        settings: KeystoneSettings,
        *,
        threads: int = THREADS,
        cache_size: int = CACHE_SIZE,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.identity_url = v3_url(settings.auth_url)
        self.clock = clock
        self.threads = threads
        self.tokens: DeadlineCache[str] = DeadlineCache(cache_size)
        # The trustee's own session: a token of Herald's service user, to learn its id.
        self.session = ksa_session.Session(auth=self._trustee_auth(), timeout=settings.timeout)
        # Calls made with a caller's token carry it themselves; no auth plugin.
        self.bare = ksa_session.Session(timeout=settings.timeout)
        self._pool: concurrent.futures.ThreadPoolExecutor | None = None

    async def start(self) -> None:
        self._pool = concurrent.futures.ThreadPoolExecutor(
            self.threads, thread_name_prefix="herald-trust"
        )

    async def stop(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None
        self.session.session.close()
        self.bare.session.close()

    async def create(self, caller_token: str, project: str, expires_at: datetime | None) -> str:
        """Create a trust from the caller's token for `project` (the caller's, as identity
        decided it), expiring at `expires_at` (UTC) or never; its id. Raises HeraldErrors
        a client may be shown: 401 for a token Keystone refuses, 403 for another project
        or a trust Keystone forbids, 503 while Keystone is out of reach."""
        return await self._in_thread(self._create, caller_token, project, expires_at)

    async def lend(self, caller: Caller, expires: float) -> str:
        """The subscriptions' `Trustor`: a trust from the caller's own validated token for
        its project, expiring at `expires` (seconds since the epoch)."""
        if caller.credential is None:
            # A pre-signed URL, say: no token of the caller's to make a trust with.
            raise NotAuthorized("A trust+ subscriber can only be made with a Keystone token.")
        moment = datetime.fromtimestamp(expires, UTC)
        return await self.create(caller.credential.secret, caller.project, moment)

    async def revoke(self, caller: Caller, trust_id: str) -> None:
        """Delete the trust with the caller's token: Keystone lets its trustor (or an
        admin) do so; any other answer leaves it to expire with the subscription."""
        if caller.credential is not None:
            await self._in_thread(self._delete, caller.credential.secret, trust_id)

    async def token(self, trust_id: str) -> str:
        """A trust-scoped token for the trust, cached until shortly before it expires.
        Raises TrustRefused or TrustUnavailable."""
        key = hashlib.sha256(trust_id.encode()).digest()
        cached = self.tokens.get(key)
        if cached is not None:
            return cached
        token, expires = await self._in_thread(self._trust_token, trust_id)
        self.tokens.put(key, token, expires - self.clock() - EXPIRY_MARGIN)
        return token

    # In pool threads

    def _create(self, caller_token: str, project: str, expires_at: datetime | None) -> str:
        token = self._caller(caller_token)
        if token.project is None or token.project.id != project:
            raise NotAuthorized(
                "A trust can only be made with a token scoped to the queue's project."
            )
        trust: dict[str, Any] = {
            "trustor_user_id": token.user.id,
            "trustee_user_id": self._trustee_id(),
            "project_id": project,
            "impersonation": True,
            "roles": [{"id": role.id} for role in token.roles],
        }
        if expires_at is not None:
            moment = expires_at.astimezone(UTC) if expires_at.tzinfo else expires_at
            trust["expires_at"] = moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        answer = self._call(
            self.bare.post,
            self.identity_url + "/OS-TRUST/trusts",
            json={"trust": trust},
            headers={"X-Auth-Token": caller_token},
        )
        if answer.status_code == 201:
            return self._decoded(_decode_trust, answer.content).trust.id
        raise self._refusal(answer.status_code, "create the trust")

    def _delete(self, caller_token: str, trust_id: str) -> None:
        answer = self._call(
            self.bare.delete,
            f"{self.identity_url}/OS-TRUST/trusts/{trust_id}",
            headers={"X-Auth-Token": caller_token},
        )
        if answer.status_code not in (204, 404):
            log.info(
                "Keystone kept a deleted subscription's trust (%s); it expires on its own",
                answer.status_code,
            )

    def _caller(self, caller_token: str) -> _Token:
        """What Keystone says the caller's token is: a token may look itself up."""
        answer = self._call(
            self.bare.get,
            self.identity_url + "/auth/tokens",
            headers={"X-Auth-Token": caller_token, "X-Subject-Token": caller_token},
        )
        if answer.status_code == 200:
            return self._decoded(_decode_token, answer.content).token
        raise self._refusal(answer.status_code, _READ_TOKEN)

    def _trustee_id(self) -> str:
        try:
            user_id = self.session.get_user_id()
        except ksa_exceptions.HttpError as exc:
            # Herald's own credentials, not the caller's: a fault of the server's settings.
            raise self._unavailable(f"refused Herald's service user ({exc.http_status})") from None
        except ksa_exceptions.ClientException as exc:
            raise self._unavailable(type(exc).__name__) from None
        if not user_id:
            raise self._unavailable("no user id for the service user")
        return str(user_id)

    def _trust_token(self, trust_id: str) -> tuple[str, float]:
        auth = self._trustee_auth(trust_id)
        try:
            token = auth.get_token(self.bare)
            access = auth.get_access(self.bare)
        except ksa_exceptions.HttpError as exc:
            status = exc.http_status or 500
            if status >= 500:
                raise TrustUnavailable(f"Keystone answered {status}") from None
            raise TrustRefused(f"Keystone refused a token for the trust ({status})") from None
        except ksa_exceptions.ClientException as exc:
            raise TrustUnavailable(f"Keystone cannot be reached ({type(exc).__name__})") from None
        if not token or access.expires is None:
            raise TrustUnavailable("Keystone gave no token for the trust")
        return str(token), access.expires.timestamp()

    def _trustee_auth(self, trust_id: str | None = None) -> v3.Password:
        s = self.settings
        if trust_id:
            # A trust-scoped token takes the trust as its only scope.
            return v3.Password(
                auth_url=self.identity_url,
                username=s.username,
                password=s.password,
                user_domain_name=s.user_domain_name,
                trust_id=trust_id,
            )
        return v3.Password(
            auth_url=self.identity_url,
            username=s.username,
            password=s.password,
            user_domain_name=s.user_domain_name,
            project_name=s.project_name,
            project_domain_name=s.project_domain_name,
        )

    def _decoded(self, decode: Callable[[bytes], T], content: bytes) -> T:
        try:
            return decode(content)
        except (msgspec.ValidationError, msgspec.DecodeError) as exc:
            raise self._unavailable(f"answered what does not parse ({exc})") from None

    def _call(self, method: Callable[..., Any], url: str, **kwargs: Any) -> Any:
        try:
            return method(url, authenticated=False, raise_exc=False, **kwargs)
        except ksa_exceptions.ClientException as exc:
            raise self._unavailable(type(exc).__name__) from None

    def _refusal(self, status: int, doing: str) -> HeraldError:
        if status == 401 or (status == 404 and doing == _READ_TOKEN):
            return NotAuthenticated(
                "Keystone does not accept the token this subscription was made with."
            )
        if status in (400, 403, 404):
            return NotAuthorized(f"Keystone does not let this token {doing} ({status}).")
        return self._unavailable(f"answered {status} when asked to {doing}")

    def _unavailable(self, trouble: str) -> HeraldError:
        log.warning("Keystone at %s: %s", self.identity_url, trouble)
        return ServiceUnavailable(trouble, public=UNAVAILABLE)

    async def _in_thread(self, call: Callable[..., T], *args: object) -> T:
        if self._pool is None:
            raise ServiceUnavailable("the trust step is not started", public=UNAVAILABLE)
        return await asyncio.get_running_loop().run_in_executor(self._pool, call, *args)


class TrustDelivery:
    """The webhook request, to the URL without `trust+`, carrying a token of the trust the
    subscription was made with: the receiver sees the subscriber's user and project."""

    def __init__(self, webhook: WebhookDelivery, trusts: Trusts) -> None:
        self._webhook = webhook
        self._trusts = trusts

    async def send(
        self, sub: Subscription, subscriber: Subscriber, message: NotifiedMessage, now: float
    ) -> Outcome:
        trust_id = sub.options.get(TRUST_ID)
        if not isinstance(trust_id, str):
            return Outcome(verdict="failed", reason="the subscription holds no trust")
        try:
            token = await self._trusts.token(trust_id)
        except TrustRefused as exc:
            return Outcome(verdict="failed", reason=str(exc))
        except TrustUnavailable as exc:
            return Outcome(verdict="retry", reason=str(exc))
        return await self._webhook.send(sub, subscriber, message, now, auth_token=token)


# Keystone's answers: only the fields Herald reads.


class _Identified(msgspec.Struct):
    id: str


class _Token(msgspec.Struct):
    user: _Identified
    project: _Identified | None = None
    roles: list[_Identified] = msgspec.field(default_factory=list)


class _TokenAnswer(msgspec.Struct):
    token: _Token


class _TrustAnswer(msgspec.Struct):
    trust: _Identified


_decode_token = msgspec.json.Decoder(_TokenAnswer).decode
_decode_trust = msgspec.json.Decoder(_TrustAnswer).decode
