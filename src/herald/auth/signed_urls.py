"""Pre-signed URLs: Zaqar's HMAC over paths, methods, project and expiry, and the step honouring it.

A pre-signed request carries `URL-Signature`, `URL-Expires`, `URL-Methods`,
`URL-Paths` and `X-Project-ID`. It is judged by those alone, before anything
else, and a request that fails any check gets the same 404 whatever failed.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime

import msgspec

from herald import errors
from herald.identity import Caller, ClientIdRule, IdentityStep, Presented, check_project

log = logging.getLogger("herald")

SIGNATURE_HEADER = "url-signature"
DATE_FORMAT = "%Y-%m-%dT%H:%M:%S"
SHAREABLE = ("messages", "subscriptions", "claims")
DEFAULT_LIFETIME = 86400.0

REFUSED = "The resource was not found, or the pre-signed URL does not grant this request."


class Grant(msgspec.Struct, frozen=True, kw_only=True):
    """What a signature allows: these methods on these paths, for one project, until `expires`.

    `paths` and `methods` are sorted and `expires` is UTC in `DATE_FORMAT`, as
    they are signed."""

    paths: list[str]
    methods: list[str]
    project: str
    expires: str


class SharedUrl(Grant, frozen=True, kw_only=True):
    """A grant and its signature: the answer of a share request, in Zaqar's key order."""

    signature: str


def grant(paths: list[str], methods: list[str], project: str, expires: datetime) -> Grant:
    """The grant in the form it is signed: sorted lists, expiry to the second."""
    return Grant(
        paths=sorted(paths),
        methods=sorted(methods),
        project=project,
        expires=expires.strftime(DATE_FORMAT),
    )


def signed_path(queue: str, kind: str) -> str:
    """The path a grant names for one kind of resource of a queue."""
    return f"/v2/queues/{queue}/{kind}"


def parse_expires(text: str) -> datetime:
    """An ISO 8601 date and time as naive UTC to the second; ValueError says what is wrong.

    Integers are refused, as Zaqar refuses them, so that a count of seconds is
    never read as a year."""
    try:
        int(text)
    except ValueError:
        pass
    else:
        raise ValueError(
            "`expires` must be a date and time such as 2016-01-01T00:00:00, not an integer."
        )
    try:
        moment = datetime.fromisoformat(text)
        if moment.tzinfo is not None:
            moment = moment.astimezone(UTC).replace(tzinfo=None)
    except (ValueError, OverflowError):
        raise ValueError(
            "`expires` must be an ISO 8601 date and time such as 2016-01-01T00:00:00."
        ) from None
    return moment.replace(microsecond=0)


def utc_seconds(moment: datetime) -> float:
    """The POSIX time of a naive UTC datetime."""
    return moment.replace(tzinfo=UTC).timestamp()


def signed_text(grant: Grant) -> bytes:
    # Zaqar joins the fields with the two characters backslash and `n`, not a
    # newline; a URL it signed must verify here and the other way round.
    fields = (",".join(grant.paths), ",".join(grant.methods), grant.project, grant.expires)
    return "\\n".join(fields).encode()


class Signer:
    """Signs grants and checks signatures with the `[signed_url] secret_key`."""

    def __init__(self, secret_key: str) -> None:
        self._key = secret_key.encode()

    @property
    def enabled(self) -> bool:
        """Whether a key is configured; without one nothing is signed and nothing verifies."""
        return bool(self._key)

    def sign(self, grant: Grant) -> SharedUrl:
        if not self.enabled:
            raise RuntimeError("no secret key to sign with")
        return SharedUrl(**msgspec.structs.asdict(grant), signature=self._digest(grant))

    def verifies(self, grant: Grant, signature: str) -> bool:
        """Whether the signature is the grant's, compared in constant time."""
        if not self.enabled:
            return False
        # latin-1 turns any header text back into its bytes; compare_digest refuses non-ASCII str.
        return hmac.compare_digest(self._digest(grant).encode(), signature.encode("latin-1"))

    def _digest(self, grant: Grant) -> str:
        return hmac.new(self._key, signed_text(grant), hashlib.sha256).hexdigest()


def covers(signed: str, path: str) -> bool:
    """Whether a signed path allows a request path: itself and the resources under it.

    Zaqar regex-searches the path; here it is plain text, since a queue name's
    `.` would otherwise let a URL for `a.b` open queue `axb`."""
    return path == signed or path.startswith(signed + "/")


class SignedUrls(IdentityStep):
    """Honours pre-signed URLs ahead of the step `auth` chose, which sees every other request.

    A request carrying `URL-Signature`, even an empty one, never reaches the inner
    step: it acts for the signed project on the signed methods and paths until
    the expiry, or it is refused. A signature is never a way around authentication."""

    def __init__(
        self,
        inner: IdentityStep,
        signer: Signer,
        client_ids: ClientIdRule,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.inner = inner
        self._signer = signer
        self._client_ids = client_ids
        self._clock = clock

    async def start(self) -> None:
        await self.inner.start()

    async def stop(self) -> None:
        await self.inner.stop()

    async def authenticate(self, presented: Presented) -> Presented:
        # A signed request is judged by its signature alone, once it is routed.
        if SIGNATURE_HEADER in presented.headers:
            return presented
        return await self.inner.authenticate(presented)

    def screen(self, presented: Presented) -> None:
        if SIGNATURE_HEADER in presented.headers:
            self._grant(presented)
        else:
            self.inner.screen(presented)

    async def __call__(self, presented: Presented) -> Caller:
        if SIGNATURE_HEADER not in presented.headers:
            return await self.inner(presented)
        signed = self._grant(presented)
        return Caller(
            project=check_project(signed.project),
            client_id=self._client_ids.check(presented.headers.get("client-id")),
            authenticated_by="signed_url",
            expires=utc_seconds(parse_expires(signed.expires)),
        )

    def _grant(self, presented: Presented) -> Grant:
        """The grant the request presents, if its signature holds and it allows this request."""
        headers = presented.headers
        signature = headers[SIGNATURE_HEADER]
        project = headers.get("x-project-id")
        expires = headers.get("url-expires")
        if not self._signer.enabled or not signature or project is None or expires is None:
            raise _refused("incomplete")
        paths = headers.get("url-paths", "").split(",")
        methods = headers.get("url-methods", "").split(",")
        # With no backslash in any field, the backslash-n separators of the signed
        # text are the only ones: no two sets of fields can share a signature.
        if any("\\" in field for field in (project, *paths, *methods)):
            raise _refused("ambiguous")
        try:
            moment = parse_expires(expires)
        except ValueError:
            raise _refused("malformed expiry") from None
        presented_grant = grant(paths, methods, project, moment)
        if not self._signer.verifies(presented_grant, signature):
            raise _refused("bad signature")
        if utc_seconds(moment) <= self._clock():
            raise _refused("expired")
        if presented.method not in methods:
            raise _refused("method not signed")
        if not any(covers(path, presented.path) for path in paths):
            raise _refused("path not signed")
        return presented_grant


def _refused(reason: str) -> errors.SignedUrlRefused:
    # The reason is for the operator; the client is told the same thing whatever it is.
    log.debug("pre-signed request refused: %s", reason)
    return errors.SignedUrlRefused(REFUSED)
