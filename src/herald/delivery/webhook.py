"""Sending one webhook request, and saying how it went.

Redirects are not followed (a 3xx is the subscriber's refusal: it would send
the notice somewhere the subscription did not name), the response body is
read only up to a small cap (so that the connection can be kept for the next
delivery) and never looked at, and nothing logged holds the URL's path, query or credentials, a
header value, or the body.
"""

from __future__ import annotations

import asyncio
import email.utils
import logging
from typing import Any

import httpx

from herald.config import NotificationSettings
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
# How much of a response body is drained so the connection goes back to the pool; past
# this the connection is closed instead of reading on.
_DRAIN_LIMIT = 64 * 1024


class WebhookSender:
    """Posts webhook requests with one shared httpx client, within the operator's rules."""

    def __init__(
        self,
        settings: NotificationSettings,
        *,
        resolve: Resolver = system_resolver,
        client: httpx.AsyncClient | None = None,
    ) -> None:
        self.rule = HostRule(settings)
        self.resolve = resolve
        self.timeout = settings.webhook_timeout
        self.client = client or httpx.AsyncClient(
            timeout=settings.webhook_timeout,
            follow_redirects=False,
            # Proxies from the environment would make where a webhook goes depend on
            # more than the subscription and the operator's rule.
            trust_env=False,
            headers={"User-Agent": "herald-notifier"},
            # As many kept-alive connections as sends at once, so none is closed just to
            # be opened again by the next delivery.
            limits=httpx.Limits(
                max_connections=settings.concurrency,
                max_keepalive_connections=settings.concurrency,
            ),
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
    ) -> Outcome:
        """POST the request to the subscriber at `now` (a Unix time, used to sign); signed
        when the subscription has a secret, with `X-Auth-Token` for a trust subscriber."""
        where = _where(subscriber)
        try:
            target = await destination(subscriber, self.rule, self.resolve)
        except TargetRefused as exc:
            return self._outcome(where, Outcome(verdict="failed", reason=f"refused: {exc}"))
        except TargetUnresolved as exc:
            return self._outcome(where, Outcome(verdict="retry", reason=str(exc)))
        # Set last: what a credential decides is never a subscription's post_headers'.
        headers = dict(request.headers)
        if target.host_header is not None:
            headers["Host"] = target.host_header
        if auth_token is not None:
            headers["X-Auth-Token"] = auth_token
        if signing_secret is not None:
            headers.update(signing_headers(signing_secret, request.body, now))
        extensions: dict[str, Any] = {}
        if target.server_name is not None:
            extensions["sni_hostname"] = target.server_name
        try:
            # httpx's timeout bounds each read; this bounds the whole exchange, so a
            # receiver that drips its answer cannot hold a delivery.
            async with (
                asyncio.timeout(self.timeout),
                self.client.stream(
                    "POST", target.url, content=request.body, headers=headers, extensions=extensions
                ) as response,
            ):
                outcome = classify(
                    response.status_code, response.headers.get("retry-after"), now=now
                )
                await _drain(response)
        except (httpx.TimeoutException, TimeoutError):
            outcome = Outcome(verdict="retry", reason="timed out")
        except (httpx.InvalidURL, httpx.UnsupportedProtocol) as exc:
            outcome = Outcome(
                verdict="failed", reason=f"cannot be posted to ({type(exc).__name__})"
            )
        except httpx.TransportError as exc:
            outcome = Outcome(verdict="retry", reason=f"connection failed ({type(exc).__name__})")
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


async def _drain(response: httpx.Response) -> None:
    """Read what is left of a (usually empty) body, up to the cap, so httpcore keeps the
    connection; a bigger body closes it when the stream ends."""
    read = 0
    async for chunk in response.aiter_raw():
        read += len(chunk)
        if read > _DRAIN_LIMIT:
            return


def _where(subscriber: Subscriber) -> str:
    """The subscriber as a log may name it: scheme, host and port, nothing that may be secret."""
    return f"{subscriber.scheme}://{subscriber.host}:{subscriber.port}"
