"""Sending one webhook request, and saying how it went.

Redirects are not followed (a 3xx is the subscriber's refusal: it would send
the notice somewhere the subscription did not name), the response body is
read only up to a small cap (so that the connection can be kept for the next
delivery) and never looked at, and nothing logged holds the URL's path, query or credentials, a
header value, or the body.
"""

from __future__ import annotations

import email.utils
import logging
import ssl

from herald.config import NotificationSettings
from herald.delivery import http1
from herald.delivery.outcome import Outcome
from herald.delivery.payload import WebhookRequest
from herald.delivery.signing import signing_headers
from herald.delivery.targets import (
    Resolver,
    TargetRefused,
    TargetUnresolved,
    destination,
    system_resolver,
)
from herald.service.subscribers import HostRule, Subscriber

log = logging.getLogger("herald.delivery")

# Statuses worth another attempt: the subscriber is overloaded, slow or failing for now.
_RETRYABLE = frozenset({408, 429})
_MAX_RETRY_AFTER = 86_400.0


class WebhookSender:
    """Posts webhook requests over one shared pool of kept-alive connections, within the
    operator's rules. Proxies from the environment are never used: where a webhook goes
    depends on the subscription and the operator's rule alone."""

    def __init__(
        self,
        settings: NotificationSettings,
        *,
        resolve: Resolver = system_resolver,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.rule = HostRule(settings)
        self.resolve = resolve
        self.timeout = settings.webhook_timeout
        # As many kept-alive connections as sends at once, so none is closed just to be
        # opened again by the next delivery.
        self.client = http1.Client(
            timeout=settings.webhook_timeout,
            ssl_context=ssl_context,
            max_idle=settings.concurrency,
        )

    async def aclose(self) -> None:
        await self.client.aclose()

    async def send(
        self,
        subscriber: Subscriber,
        request: WebhookRequest,
        *,
        now: float,
        signing_secret: str | None = None,
        auth_token: str | None = None,
        lane: str | None = None,
    ) -> Outcome:
        """POST the request to the subscriber at `now` (a Unix time, used to sign); signed
        when the subscription has a secret, with `X-Auth-Token` for a trust subscriber.
        Requests of one `lane` (a subscription) may be pipelined on one connection."""
        where = _where(subscriber)
        try:
            target = await destination(subscriber, self.rule, self.resolve)
        except TargetRefused as exc:
            return self._outcome(where, Outcome(verdict="failed", reason=f"refused: {exc}"))
        except TargetUnresolved as exc:
            return self._outcome(where, Outcome(verdict="retry", reason=str(exc)))
        # Set last: what a credential decides is never a subscription's post_headers'.
        headers = request.headers
        if auth_token is not None or signing_secret is not None:
            headers = dict(headers)
            if auth_token is not None:
                headers["X-Auth-Token"] = auth_token
            if signing_secret is not None:
                headers.update(signing_headers(signing_secret, request.body, now))
        try:
            # One deadline for the whole exchange, so a receiver that drips its answer
            # cannot hold a delivery.
            response = await self.client.post(
                target.url,
                request.body,
                headers,
                host_header=target.host_header,
                server_name=target.server_name,
                lane=lane,
            )
        except http1.Timeout:
            outcome = Outcome(verdict="retry", reason="timed out")
        except http1.InvalidURL as exc:
            outcome = Outcome(verdict="failed", reason=f"cannot be posted to ({exc})")
        except http1.ClientError as exc:
            outcome = Outcome(verdict="retry", reason=f"connection failed: {exc}")
        else:
            outcome = classify(response.status, response.retry_after, now=now)
        return self._outcome(where, outcome)

    def _outcome(self, where: str, outcome: Outcome) -> Outcome:
        log.debug("webhook to %s: %s (%s)", where, outcome.verdict, outcome.reason)
        return outcome


class RetryAfter(Outcome, frozen=True, kw_only=True):
    """A retryable outcome whose subscriber asked for a pause (`Retry-After`), in seconds."""

    retry_after: float


def classify(status: int, retry_after: str | None = None, *, now: float = 0.0) -> Outcome:
    """The verdict on a response status: 2xx delivered; 408, 429 and 5xx worth a retry;
    any other (3xx and the other 4xx) a refusal a retry would meet again. `now` reads a
    `Retry-After` given as a date."""
    reason = f"answered {status}"
    if 200 <= status < 300:
        return Outcome(verdict="delivered", reason=reason, status=status)
    if status in _RETRYABLE or status >= 500:
        pause = _pause(retry_after, now)
        if pause is not None:
            return RetryAfter(verdict="retry", reason=reason, status=status, retry_after=pause)
        return Outcome(verdict="retry", reason=reason, status=status)
    return Outcome(verdict="failed", reason=reason, status=status)


def _pause(header: str | None, now: float) -> float | None:
    """Seconds a `Retry-After` header asks for (delta-seconds or an HTTP date), if sensible."""
    if not header:
        return None
    text = header.strip()
    if text.isdigit():
        seconds = float(text)
    else:
        try:
            when = email.utils.parsedate_to_datetime(text)
        except (TypeError, ValueError):
            return None
        seconds = when.timestamp() - now
    return min(max(seconds, 0.0), _MAX_RETRY_AFTER)


def _where(subscriber: Subscriber) -> str:
    """The subscriber as a log may name it: scheme, host and port, nothing that may be secret."""
    return f"{subscriber.scheme}://{subscriber.host}:{subscriber.port}"
